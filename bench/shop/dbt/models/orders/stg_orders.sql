select
    o.id as order_id,
    o.user_id as customer_id,
    cast(o.ordered_at as date) as ordered_on,
    lower(o.status) as status
from {{ source('shop', 'orders') }} as o
inner join {{ ref('customers') }} as c on o.user_id = c.customer_id
