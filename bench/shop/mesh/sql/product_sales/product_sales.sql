-- Units and revenue per product and month; returned orders do not count.
select
    l.sku,
    cast(date_trunc('month', o.ordered_on) as date) as sales_month,
    p.category,
    cast(count(distinct l.order_id) as integer) as orders,
    cast(sum(l.quantity) as integer) as units,
    cast(sum(l.amount) as number(14, 2)) as revenue
from {{ port('orders.order_lines') }} as l
inner join {{ port('orders.orders') }} as o on l.order_id = o.order_id
inner join {{ port('products.products') }} as p on l.sku = p.sku
where o.status not in ('returned', 'return_pending')
group by 1, 2, 3
