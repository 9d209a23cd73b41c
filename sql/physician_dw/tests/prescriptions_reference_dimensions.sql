-- Every prescription row points at a physician and a product of the dimensions.
select
    f.physician_id,
    f.ndc
from {{ ref('fact_prescriptions') }} as f
left join {{ ref('dim_physician') }} as p on f.physician_id = p.physician_id
left join {{ ref('dim_product') }} as d on f.ndc = d.ndc
where p.physician_id is null or d.ndc is null
