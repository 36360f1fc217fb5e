{#- Amounts in the reporting currency (docs/metrics.md, "Money"). Every amount converts at
    the rate of its own day: one unit of the row's currency is worth `rate` units of the
    reporting currency (stg_shop__exchange_rates). The reporting currency converts at 1; a
    row with no rate for its day has a null rate and is held back, never counted at a guess. -#}

{% macro fx_rate(currency, rate) -%}
    case when {{ currency }} = '{{ var("reporting_currency") }}' then 1 else {{ rate }} end
{%- endmacro %}

{#- An amount times its rate, kept to 4 decimals like every amount of the contract. -#}
{% macro to_reporting(amount, rate) -%}
    cast(round({{ amount }} * {{ rate }}, 4) as decimal(18, 4))
{%- endmacro %}

{#- For an incremental model over `relation`: the keys of rows whose currency and day got a
    rate loaded after the newest load `this` has taken (a late rate converts them then). -#}
{% macro touched_by_rates(relation, key_columns, day_expr, this) -%}
    ({{ key_columns | join(', ') }}) in (
        select {{ key_columns | join(', ') }} from {{ relation }}
        where (currency, {{ day_expr }}) in (
            select currency, date from {{ source('raw', 'exchange_rates') }}
            where _loaded_at > (select max(_loaded_at) from {{ this }})
        )
    )
{%- endmacro %}

{#- Every column of `relation` plus fx_rate, the rate of its currency on `day_expr` (an
    expression on the relation's columns, which it reads as fx_source.<column>). -#}
{% macro with_fx_rate(relation, day_expr) -%}
    select
        fx_source.*,
        {{ fx_rate('fx_source.currency', 'fx_rates.rate') }} as fx_rate
    from {{ relation }} as fx_source
    left join {{ ref('stg_shop__exchange_rates') }} as fx_rates
        on fx_source.currency = fx_rates.currency and {{ day_expr }} = fx_rates.rate_date
{%- endmacro %}
