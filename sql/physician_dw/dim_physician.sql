-- Physician dimension, from the certified physician master.
select
    physician_id,
    npi,
    first_name || ' ' || last_name as full_name,
    specialty,
    state,
    zip5
from {{ port('physician.physician') }}
