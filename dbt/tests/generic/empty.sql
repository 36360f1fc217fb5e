{#- Fails for every row of the model: for models that list problems (give it severity warn
    to show them without stopping the build). -#}
{% test empty(model) %}
select * from {{ model }}
{% endtest %}
