-- Formulary position of a product on a plan, summarized as an access status.
select
    plan_id,
    ndc,
    tier,
    prior_auth,
    step_therapy,
    effective_date,
    case
        when tier = 5 then 'NOT_COVERED'
        when prior_auth or step_therapy then 'RESTRICTED'
        when tier <= 2 then 'PREFERRED'
        else 'COVERED'
    end as access_status
from {{ source('formulary') }}
qualify row_number() over (partition by plan_id, ndc order by effective_date desc) = 1
