-- Plan dimension, from the certified payer master.
select
    plan_id,
    payer_name,
    channel,
    covered_lives
from {{ port('payer.payer_plan') }}
