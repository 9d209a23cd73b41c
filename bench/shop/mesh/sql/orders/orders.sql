-- Each order with its item count, its value and what was paid by each method.
with lines as (
    select
        order_id,
        count(*) as items,
        sum(amount) as amount
    from {{ ref('order_lines') }}
    group by order_id
),

paid as (
    select
        order_id,
        sum(case when method = 'credit_card' then amount else 0 end) as credit_card_amount,
        sum(case when method = 'coupon' then amount else 0 end) as coupon_amount,
        sum(case when method = 'bank_transfer' then amount else 0 end) as bank_transfer_amount,
        sum(case when method = 'gift_card' then amount else 0 end) as gift_card_amount,
        sum(amount) as paid_amount
    from {{ port('payments.payments') }}
    group by order_id
)

select
    o.order_id,
    o.customer_id,
    o.ordered_on,
    o.status,
    cast(coalesce(l.items, 0) as integer) as items,
    cast(coalesce(l.amount, 0) as number(14, 2)) as amount,
    cast(coalesce(p.credit_card_amount, 0) as number(14, 2)) as credit_card_amount,
    cast(coalesce(p.coupon_amount, 0) as number(14, 2)) as coupon_amount,
    cast(coalesce(p.bank_transfer_amount, 0) as number(14, 2)) as bank_transfer_amount,
    cast(coalesce(p.gift_card_amount, 0) as number(14, 2)) as gift_card_amount,
    cast(coalesce(p.paid_amount, 0) as number(14, 2)) as paid_amount
from {{ ref('stg_orders') }} as o
left join lines as l on o.order_id = l.order_id
left join paid as p on o.order_id = p.order_id
