-- The lines of those orders, priced from the catalogue.
select
    i.id as line_id,
    i.order_id,
    i.sku,
    i.quantity,
    cast(i.quantity * p.price as number(14, 2)) as amount
from {{ source('shop_order_items') }} as i
inner join {{ ref('stg_orders') }} as o on i.order_id = o.order_id
inner join {{ port('products.products') }} as p on i.sku = p.sku
