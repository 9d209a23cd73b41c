-- The export's rows, cleaned; a customer exported twice appears twice.
select
    id as customer_id,
    trim(first_name) || ' ' || trim(last_name) as full_name,
    lower(trim(email)) as email,
    upper(country) as country,
    cast(signed_up_at as date) as signed_up_on,
    exported_at
from {{ source('shop_customers') }}
where id is not null
