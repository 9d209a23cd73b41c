-- The catalogue; prices arrive in cents.
select
    sku,
    name as product_name,
    upper(category) as category,
    cast(price_cents / 100.0 as number(12, 2)) as price
from {{ source('shop_products') }}
