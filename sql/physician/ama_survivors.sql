-- Survivorship: one record per ME number. The most recent record wins for every
-- attribute except the NPI, which comes from the most recent record that has one.
select
    me_number,
    first_name,
    last_name,
    specialty,
    state,
    zip5,
    license_status,
    first_value(npi) ignore nulls over (
        partition by me_number
        order by record_updated_at desc
        rows between unbounded preceding and unbounded following
    ) as npi,
    count(*) over (partition by me_number) as source_records,
    record_updated_at as last_updated_at
from {{ ref('stg_ama_physicians') }}
qualify row_number() over (partition by me_number order by record_updated_at desc) = 1
