-- Brand-relevant physicians: active license, target specialty, and an active NPI.
-- The NPI on the AMA record is used when the registry has it; otherwise a physician is
-- matched on first name, last name and state when that combination is unique in the
-- registry and the NPI is not already another physician's.
with candidates as (
    select *
    from {{ ref('ama_survivors') }}
    where
        license_status = 'ACTIVE'
        and specialty in ('ONC', 'HEM', 'CARD', 'DERM')
),

direct_matches as (
    select
        c.me_number,
        n.npi
    from candidates as c
    inner join {{ ref('stg_npi_registry') }} as n on c.npi = n.npi
),

unique_names as (
    select
        first_name,
        last_name,
        state,
        min(npi) as npi
    from {{ ref('stg_npi_registry') }}
    group by first_name, last_name, state
    having count(*) = 1
),

name_matches as (
    select
        c.me_number,
        u.npi
    from candidates as c
    inner join unique_names as u
        on
            c.first_name = u.first_name
            and c.last_name = u.last_name
            and c.state = u.state
    where
        c.npi is null
        and u.npi not in (select d.npi from direct_matches as d)
    qualify count(*) over (partition by u.npi) = 1
)

select
    'PHY' || c.me_number as physician_id,
    coalesce(d.npi, m.npi) as npi,
    c.me_number,
    c.first_name,
    c.last_name,
    c.specialty,
    c.state,
    c.zip5,
    case when d.npi is not null then 'AMA_NPI' else 'NAME_STATE' end as npi_match,
    c.source_records,
    c.last_updated_at
from candidates as c
left join direct_matches as d on c.me_number = d.me_number
left join name_matches as m on c.me_number = m.me_number
where coalesce(d.npi, m.npi) is not null
