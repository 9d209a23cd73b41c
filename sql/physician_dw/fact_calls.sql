-- Sales calls per physician, month, channel and detailed brand.
select
    p.physician_id,
    cast(date_trunc('month', c.call_date) as date) as call_month,
    c.channel,
    c.detailed_brand,
    count(*) as calls,
    cast(sum(c.duration_min) as integer) as minutes
from {{ source('crm_calls') }} as c
inner join {{ ref('dim_physician') }} as p on c.npi = p.npi
group by p.physician_id, cast(date_trunc('month', c.call_date) as date), c.channel, c.detailed_brand
