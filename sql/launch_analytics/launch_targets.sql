-- The Veltrexa launch target list: oncology physicians to grow or develop, ranked by
-- segment, then market volume.
select
    s.physician_id,
    m.full_name,
    s.segment,
    cast(row_number() over (
        order by iff(s.segment = 'GROW', 0, 1) asc, s.market_trx desc, s.physician_id asc
    ) as integer) as priority,
    s.market_decile,
    s.access_tier
from {{ ref('physician_segments') }} as s
inner join {{ ref('physician_metrics') }} as m on s.physician_id = m.physician_id
where
    s.therapeutic_area = 'ONCOLOGY'
    and s.segment in ('GROW', 'DEVELOP')
