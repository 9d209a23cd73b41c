-- Six months of prescribing per physician in the physician's own therapeutic area:
-- market volume, the company brand's volume, and sales calls received.
with physicians as (
    select
        physician_id,
        full_name,
        specialty,
        case
            when specialty in ('ONC', 'HEM') then 'ONCOLOGY'
            when specialty = 'CARD' then 'CARDIOLOGY'
            else 'DERMATOLOGY'
        end as therapeutic_area
    from {{ port('physician_dw.dim_physician') }}
),

period as (
    select dateadd(month, -5, max(fill_month)) as since
    from {{ port('physician_dw.fact_prescriptions') }}
),

prescriptions as (
    select
        f.physician_id,
        d.therapeutic_area,
        d.is_company_brand,
        f.trx
    from {{ port('physician_dw.fact_prescriptions') }} as f
    inner join {{ port('physician_dw.dim_product') }} as d on f.ndc = d.ndc
    where f.fill_month >= (select p.since from period as p)
),

calls as (
    select
        physician_id,
        sum(calls) as calls
    from {{ port('physician_dw.fact_calls') }}
    where call_month >= (select p.since from period as p)
    group by physician_id
)

select
    ph.physician_id,
    ph.full_name,
    ph.specialty,
    ph.therapeutic_area,
    cast(coalesce(sum(rx.trx), 0) as integer) as market_trx,
    cast(coalesce(sum(iff(rx.is_company_brand, rx.trx, 0)), 0) as integer) as brand_trx,
    cast(coalesce(max(c.calls), 0) as integer) as calls
from physicians as ph
left join prescriptions as rx
    on ph.physician_id = rx.physician_id and ph.therapeutic_area = rx.therapeutic_area
left join calls as c on ph.physician_id = c.physician_id
group by ph.physician_id, ph.full_name, ph.specialty, ph.therapeutic_area
