-- Claims per plan, product and month, with the rejection rate.
select
    plan_id,
    ndc,
    fill_month,
    count(*) as claims,
    count_if(claim_status = 'PAID') as paid_claims,
    count_if(claim_status = 'REJECTED') as rejected_claims,
    cast(count_if(claim_status = 'REJECTED') / count(*) as float) as rejection_rate,
    cast(sum(iff(claim_status = 'PAID', paid_amount, 0)) as number(18, 2)) as paid_amount
from {{ ref('stg_claims') }}
group by plan_id, ndc, fill_month
