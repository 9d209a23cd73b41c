-- Each customer's orders and lifetime value (returns earn nothing), and a segment.
with per_customer as (
    select
        customer_id,
        min(ordered_on) as first_order,
        max(ordered_on) as last_order,
        count(*) as orders,
        sum(case when status in ('returned', 'return_pending') then 0 else paid_amount end) as lifetime_value
    from {{ port('orders.orders') }}
    group by customer_id
)

select
    c.customer_id,
    c.country,
    p.first_order,
    p.last_order,
    cast(coalesce(p.orders, 0) as integer) as orders,
    cast(coalesce(p.lifetime_value, 0) as number(14, 2)) as lifetime_value,
    case
        when p.orders is null then 'NONE'
        when p.orders = 1 then 'NEW'
        when p.lifetime_value >= 1000 then 'VIP'
        else 'REGULAR'
    end as segment
from {{ port('customers.customers') }} as c
left join per_customer as p on c.customer_id = p.customer_id
