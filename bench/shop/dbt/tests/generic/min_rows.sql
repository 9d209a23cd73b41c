{% test min_rows(model, min) %}
select count(*) as row_count
from {{ model }}
having count(*) < {{ min }}
{% endtest %}
