-- Product dimension, from the certified product master.
select
    ndc,
    product_name,
    brand_name,
    therapeutic_area,
    is_company_brand,
    lifecycle_stage
from {{ port('product.product') }}
