{% set methods = ['credit_card', 'coupon', 'bank_transfer', 'gift_card'] %}

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
        {% for method in methods -%}
        sum(case when method = '{{ method }}' then amount else 0 end) as {{ method }}_amount,
        {% endfor -%}
        sum(amount) as paid_amount
    from {{ ref('payments') }}
    group by order_id
)

select
    o.order_id,
    o.customer_id,
    o.ordered_on,
    o.status,
    cast(coalesce(l.items, 0) as integer) as items,
    cast(coalesce(l.amount, 0) as decimal(14, 2)) as amount,
    {% for method in methods -%}
    cast(coalesce(p.{{ method }}_amount, 0) as decimal(14, 2)) as {{ method }}_amount,
    {% endfor -%}
    cast(coalesce(p.paid_amount, 0) as decimal(14, 2)) as paid_amount
from {{ ref('stg_orders') }} as o
left join lines as l on o.order_id = l.order_id
left join paid as p on o.order_id = p.order_id
