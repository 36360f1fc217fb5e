{#- Totals at report dates from dated changes, in one pass that grows with the changes plus
    the report rows (never report dates x change dates).
    changes: a relation with the partition columns, the date column and the measures, each
      row adding its measures from its date on (a run of dates adds at its first date and
      subtracts the date after its last);
    report_points: a relation with the partition columns and the date column, one row for each
      total wanted.
    Returns one row per report point with the running sum of every measure over the changes
    of its partition up to and including its date (0 when there are none). -#}
{% macro running_totals(changes, report_points, partition_by, date_column, measures) -%}
    select
        {% for column in partition_by %}{{ column }},{% endfor %}
        {{ date_column }},
        {% for measure in measures %}
            {{ measure }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from (
        select
            {% for column in partition_by %}{{ column }},{% endfor %}
            {{ date_column }},
            is_report_point,
            {% for measure in measures %}
                sum({{ measure }}) over (
                    partition by {{ partition_by | join(', ') }}
                    order by {{ date_column }}, is_report_point
                    rows unbounded preceding
                ) as {{ measure }}{% if not loop.last %},{% endif %}
            {% endfor %}
        from (
            select
                {% for column in partition_by %}{{ column }},{% endfor %}
                {{ date_column }},
                0 as is_report_point,
                {% for measure in measures %}
                    {{ measure }}{% if not loop.last %},{% endif %}
                {% endfor %}
            from {{ changes }}

            union all

            select
                {% for column in partition_by %}{{ column }},{% endfor %}
                {{ date_column }},
                1 as is_report_point,
                {% for measure in measures %}
                    0 as {{ measure }}{% if not loop.last %},{% endif %}
                {% endfor %}
            from {{ report_points }}
        ) as change_and_report_rows
    ) as running
    where is_report_point = 1
{%- endmacro %}
