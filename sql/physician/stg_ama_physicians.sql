-- AMA Masterfile records, cleaned: trimmed upper-case names, the AMA specialty codes
-- mapped to the groups the brands target, five-digit ZIP codes, digits-only NPIs.
select
    me_number,
    upper(trim(first_name)) as first_name,
    upper(trim(last_name)) as last_name,
    case upper(trim(primary_specialty))
        when 'ON' then 'ONC'
        when 'HO' then 'HEM'
        when 'CD' then 'CARD'
        when 'D' then 'DERM'
        when 'FM' then 'PCP'
        when 'IM' then 'PCP'
        when 'GP' then 'PCP'
        else 'OTHER'
    end as specialty,
    upper(trim(practice_state)) as state,
    left(practice_zip, 5) as zip5,
    license_status,
    nullif(regexp_replace(npi, '[^0-9]', ''), '') as npi,
    record_updated_at
from {{ source('ama_physicians') }}
where me_number is not null
