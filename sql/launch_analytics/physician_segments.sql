-- Segmentation: market decile within the therapeutic area, brand share and payer
-- access decide where the field force invests.
with ranked as (
    select
        m.physician_id,
        m.specialty,
        m.therapeutic_area,
        m.market_trx,
        m.brand_trx,
        cast(iff(m.market_trx = 0, 0, m.brand_trx / m.market_trx) as float) as brand_share,
        ntile(10) over (
            partition by m.therapeutic_area order by m.market_trx, m.physician_id
        ) as market_decile,
        coalesce(a.access_tier, 'UNKNOWN') as access_tier,
        m.calls
    from {{ ref('physician_metrics') }} as m
    left join {{ port('payer_dw.physician_access') }} as a on m.physician_id = a.physician_id
)

select
    physician_id,
    specialty,
    therapeutic_area,
    market_trx,
    brand_trx,
    brand_share,
    cast(market_decile as integer) as market_decile,
    access_tier,
    calls,
    case
        when market_decile >= 7 and brand_share < 0.25 and access_tier <> 'RESTRICTED' then 'GROW'
        when market_decile >= 5 and brand_share >= 0.25 then 'DEFEND'
        when market_decile >= 4 and access_tier <> 'RESTRICTED' then 'DEVELOP'
        else 'MONITOR'
    end as segment
from ranked
