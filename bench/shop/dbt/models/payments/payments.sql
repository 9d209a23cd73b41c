select
    id as payment_id,
    order_id,
    payment_method as method,
    cast(amount_cents / 100.0 as decimal(12, 2)) as amount
from {{ source('shop', 'payments') }}
where status = 'success'
