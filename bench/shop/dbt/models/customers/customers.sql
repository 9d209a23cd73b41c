select
    customer_id,
    full_name,
    email,
    country,
    signed_up_on
from {{ ref('stg_customers') }}
qualify row_number() over (partition by customer_id order by exported_at desc) = 1
