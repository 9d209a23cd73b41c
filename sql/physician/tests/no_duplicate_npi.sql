-- An NPI identifies one physician: two golden records sharing one means a bad match.
select
    npi,
    count(*) as records
from {{ ref('physician') }}
group by npi
having count(*) > 1
