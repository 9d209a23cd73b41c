-- One row per health plan.
select
    plan_id,
    payer_name,
    plan_name,
    upper(channel) as channel,
    state,
    covered_lives
from {{ source('plans') }}
qualify row_number() over (partition by plan_id order by loaded_at desc) = 1
