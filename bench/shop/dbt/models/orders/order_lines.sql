select
    i.id as line_id,
    i.order_id,
    i.sku,
    i.quantity,
    cast(i.quantity * p.price as decimal(14, 2)) as amount
from {{ source('shop', 'order_items') }} as i
inner join {{ ref('stg_orders') }} as o on i.order_id = o.order_id
inner join {{ ref('products') }} as p on i.sku = p.sku
