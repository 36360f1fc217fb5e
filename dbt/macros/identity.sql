{#- Identifiers: how emails and phones are normalised, once, for the identity graph and for
    the customer-match hashes alike (docs/identity.md). -#}

{#- The matching key of an email: trimmed and lower-cased; at gmail.com and googlemail.com
    (one mailbox) dots in the local part and a plus-tag dropped, at the other providers
    above a plus-tag dropped; null when it is not a plausible address. -#}
{% macro normalize_email(email) -%}
    {#- providers that deliver a+tag@ to a@: a plus-tag is dropped there and kept elsewhere -#}
    {%- set plus_tag_domains = [
        'gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'msn.com',
        'icloud.com', 'me.com', 'mac.com', 'fastmail.com', 'protonmail.com', 'proton.me',
    ] -%}
    {%- set e = 'lower(trim(' ~ email ~ '))' -%}
    {#- instr and substr, not split_part: DuckDB 2.0 fails to bind split_part after a
        pattern match on a column that is null throughout (an empty table) -#}
    {%- set local = 'substr(' ~ e ~ ', 1, instr(' ~ e ~ ", '@') - 1)" -%}
    {%- set domain = 'substr(' ~ e ~ ', instr(' ~ e ~ ", '@') + 1)" -%}
    {%- set untagged = 'case when instr(' ~ local ~ ", '+') > 1 then substr(" ~ local ~ ', 1, instr('
        ~ local ~ ", '+') - 1) else " ~ local ~ ' end' -%}
    case
        when not {{ is_valid_email(e) }} then null
        when {{ domain }} in ('gmail.com', 'googlemail.com')
            then replace({{ untagged }}, '.', '') || '@gmail.com'
        when {{ domain }} in ('{{ plus_tag_domains | join("', '") }}')
            then {{ untagged }} || '@' || {{ domain }}
        else {{ e }}
    end
{%- endmacro %}

{#- Whether a normalised email is a shared or role address (var identity_blocked_emails):
    'info@' is a local part at any domain, '@shop.com' a domain, else one address. -#}
{% macro is_blocked_email(email_key) -%}
    {%- set rules = var('identity_blocked_emails') -%}
    {%- if not rules %}false{% else -%}
    (
        {%- for rule in rules %}
        {% if not loop.first %}or {% endif -%}
        {%- set rule = rule | lower -%}
        {%- if rule.endswith('@') -%}
            {{ email_key }} like '{{ rule }}%'
        {%- elif rule.startswith('@') -%}
            {{ email_key }} like '%{{ rule }}'
        {%- else -%}
            {{ email_key }} = '{{ rule }}'
        {%- endif -%}
        {%- endfor %}
    )
    {%- endif %}
{%- endmacro %}

{#- E.164 for a phone number: numbers written with a leading + keep their own country code;
    others take the calling code of their row's country, else of var phone_default_country
    (codes for the countries a shop is likely to see; extend the map as needed); null when
    neither is known. -#}
{% macro normalize_phone(phone, country=none) -%}
    {%- set calling_codes = {'CN': '86', 'HK': '852', 'TW': '886', 'SG': '65', 'US': '1', 'GB': '44', 'JP': '81', 'KR': '82'} -%}
    {%- set country_of_row = "upper(coalesce(" ~ country ~ ", '" ~ var('phone_default_country') ~ "'))"
        if country else "'" ~ var('phone_default_country') ~ "'" -%}
    case
        when {{ phone }} is null or {{ digits_only(phone) }} = '' then null
        when trim({{ phone }}) like '+%'
            then '+' || {{ digits_only(phone) }}
        {%- for country_code, calling_code in calling_codes.items() %}
        when {{ country_of_row }} = '{{ country_code }}'
            then '+{{ calling_code }}' || trim(leading '0' from {{ digits_only(phone) }})
        {%- endfor %}
    end
{%- endmacro %}
