-- All claims (paid, rejected, reversed) on known plans and products, by fill month.
select
    c.claim_id,
    c.prescriber_npi,
    c.ndc,
    c.plan_id,
    cast(date_trunc('month', c.fill_date) as date) as fill_month,
    c.claim_status,
    c.paid_amount
from {{ source('rx_claims') }} as c
inner join {{ ref('dim_payer_plan') }} as p on c.plan_id = p.plan_id
inner join {{ port('product.product') }} as d on c.ndc = d.ndc
