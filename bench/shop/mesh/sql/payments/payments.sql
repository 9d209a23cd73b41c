-- Settled payments only; amounts arrive in cents.
select
    id as payment_id,
    order_id,
    payment_method as method,
    cast(amount_cents / 100.0 as number(12, 2)) as amount
from {{ source('shop_payments') }}
where status = 'success'
