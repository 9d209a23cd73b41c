-- One row per NDC package (the latest catalog load wins), with its lifecycle stage.
select
    ndc,
    product_name,
    brand_name,
    upper(generic_name) as generic_name,
    manufacturer,
    therapeutic_area,
    strength,
    package_size,
    launch_date,
    is_company_brand,
    cast(wac_price as number(12, 2)) as wac_price,
    case
        when launch_date >= dateadd(month, -18, current_date()) then 'LAUNCH'
        when launch_date >= dateadd(year, -6, current_date()) then 'GROWTH'
        else 'MATURE'
    end as lifecycle_stage
from {{ source('ndc_catalog') }}
qualify row_number() over (partition by ndc order by loaded_at desc) = 1
