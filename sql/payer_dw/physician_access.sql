-- Each physician's access to Meridian's brands: the share of the physician's claims
-- filled on plans where the company brand of the same therapeutic area is covered.
with physician_claims as (
    select
        p.physician_id,
        c.plan_id,
        d.therapeutic_area
    from {{ ref('stg_claims') }} as c
    inner join {{ port('physician.physician') }} as p on c.prescriber_npi = p.npi
    inner join {{ port('product.product') }} as d on c.ndc = d.ndc
),

company_access as (
    select
        f.plan_id,
        d.therapeutic_area,
        min(case f.access_status
            when 'PREFERRED' then 1
            when 'COVERED' then 2
            when 'RESTRICTED' then 3
            else 4
        end) as best_access
    from {{ port('payer.formulary') }} as f
    inner join {{ port('product.product') }} as d on f.ndc = d.ndc
    where d.is_company_brand
    group by f.plan_id, d.therapeutic_area
),

shares as (
    select
        c.physician_id,
        count(*) as claims,
        count(distinct c.plan_id) as plans,
        cast(avg(iff(a.best_access <= 2, 1, 0)) as float) as covered_share,
        cast(avg(iff(a.best_access = 3, 1, 0)) as float) as restricted_share
    from physician_claims as c
    left join company_access as a
        on c.plan_id = a.plan_id and c.therapeutic_area = a.therapeutic_area
    group by c.physician_id
)

select
    physician_id,
    claims,
    plans,
    covered_share,
    restricted_share,
    case
        when covered_share >= 0.6 then 'OPEN'
        when covered_share >= 0.3 then 'MIXED'
        else 'RESTRICTED'
    end as access_tier
from shares
