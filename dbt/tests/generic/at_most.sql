{#- Fails for every row where the column is larger than another column (a numerator above
    its denominator). -#}
{% test at_most(model, column_name, other_column) %}
select {{ column_name }}, {{ other_column }}
from {{ model }}
where {{ column_name }} > {{ other_column }}
{% endtest %}
