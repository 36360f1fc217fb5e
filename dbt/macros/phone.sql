{#- E.164 for a phone number when its country is known (calling codes for the countries a
    shop is likely to see; extend the map as needed), else null. Numbers already written
    with a leading + keep their own country code. -#}
{% macro normalize_phone(phone, country) -%}
    {%- set calling_codes = {'CN': '86', 'HK': '852', 'TW': '886', 'SG': '65', 'US': '1', 'GB': '44', 'JP': '81', 'KR': '82'} -%}
    case
        when {{ phone }} is null then null
        when trim({{ phone }}) like '+%'
            then '+' || {{ digits_only(phone) }}
        {%- for country_code, calling_code in calling_codes.items() %}
        when upper({{ country }}) = '{{ country_code }}'
            then '+{{ calling_code }}' || trim(leading '0' from {{ digits_only(phone) }})
        {%- endfor %}
    end
{%- endmacro %}
