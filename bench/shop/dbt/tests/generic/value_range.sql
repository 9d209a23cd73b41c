{% test value_range(model, column_name, min=none, max=none) %}
select {{ column_name }}
from {{ model }}
where {% if min is not none %}{{ column_name }} < {{ min }}{% else %}false{% endif %}
   or {% if max is not none %}{{ column_name }} > {{ max }}{% else %}false{% endif %}
{% endtest %}
