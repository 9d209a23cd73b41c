-- Active individual providers of the NPPES registry (organizations and
-- deactivated NPIs cannot be a physician's NPI).
select
    npi,
    upper(provider_first_name) as first_name,
    upper(provider_last_name) as last_name,
    practice_state as state
from {{ source('npi_registry') }}
where
    entity_type = 1
    and deactivation_date is null
