{#- What an order version is: used by stg_shop__orders (the current state) and by
    int_churn_features (the state at a cutoff), so both read the same rules. -#}

{#- A purchase (docs/metrics.md): paid, not cancelled, with a positive net amount. -#}
{% macro is_purchase() -%}
    (
        paid_at is not null
        and status != 'cancelled'
        and order_total - coalesce(refund_total, 0) > 0
    )
{%- endmacro %}

{#- Bought on a deal (var deal_promotion_types). -#}
{% macro is_deal() -%}
    coalesce(promotion_type, 'none') in ({{ sql_list(var('deal_promotion_types')) }})
{%- endmacro %}
