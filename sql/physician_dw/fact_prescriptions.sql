-- Prescriptions per physician, product and month. Incremental: a run re-aggregates the
-- last three months and merges them on (physician_id, ndc, fill_month); earlier months
-- are kept from the previously published table.
select
    physician_id,
    ndc,
    fill_month,
    count(*) as trx,
    cast(sum(quantity) as integer) as units,
    cast(sum(paid_amount) as number(18, 2)) as paid_amount
from {{ ref('stg_rx_claims') }}
{% if is_incremental() %}
    where fill_month >= (select dateadd(month, -2, max(t.fill_month)) from {{ this }} as t)
{% endif %}
group by physician_id, ndc, fill_month
