-- Paid pharmacy claims written by physicians of the master, with their fill month.
select
    c.claim_id,
    p.physician_id,
    c.ndc,
    cast(date_trunc('month', c.fill_date) as date) as fill_month,
    c.quantity,
    c.paid_amount
from {{ source('rx_claims') }} as c
inner join {{ ref('dim_physician') }} as p on c.prescriber_npi = p.npi
inner join {{ ref('dim_product') }} as d on c.ndc = d.ndc
where c.claim_status = 'PAID'
