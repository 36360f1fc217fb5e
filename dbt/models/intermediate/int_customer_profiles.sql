-- One row per person with a shop account (docs/identity.md): the profile of their most
-- recently updated account, their first registration, and per channel the best contact:
-- of the addresses whose newest profile consents, the most recently updated one. An
-- address withdrawn on one account is not contacted through another. customer_id is the
-- person; shop_customer_id their most recently updated account, push_customer_id the
-- newest account with push consent (push goes to an account).
with customers as (
    select * from {{ ref('stg_shop__customers') }}
),

identity_map as (
    select * from {{ ref('int_identity_map') }}
),

accounts as (
    select
        customers.*,
        persons.person_id,
        row_number() over (
            partition by persons.person_id
            order by customers.updated_at desc, customers.customer_id desc
        ) as recency_rank,
        row_number() over (
            partition by persons.person_id
            order by customers.registered_at, customers.customer_id
        ) as registration_rank
    from customers
    inner join identity_map as persons
        on persons.identifier_kind = 'customer_id' and customers.customer_id = persons.identifier
),

{%- set contacts = {
    'email': {'address': 'email_key', 'consent': 'email_opt_in', 'columns': ['email', 'email_key']},
    'phone': {'address': 'phone_e164', 'consent': 'sms_opt_in', 'columns': ['phone_raw', 'phone_e164']},
} %}
{%- for channel, contact in contacts.items() %}

    -- per {{ channel }} address, the consent of the newest profile that carries it
    {{ channel }}_consent as (
        select
            person_id,
            {{ contact.columns | join(', ') }},
            {{ contact.consent }} as has_consent,
            updated_at,
            customer_id,
            row_number() over (
                partition by person_id, {{ contact.address }} order by updated_at desc, customer_id desc
            ) as address_rank
        from accounts
        where {{ contact.address }} is not null
    ),

    best_{{ channel }} as (
        select
            person_id,
            {{ contact.columns | join(', ') }},
            row_number() over (partition by person_id order by updated_at desc, customer_id desc) as contact_rank
        from {{ channel }}_consent
        where address_rank = 1 and has_consent
    ),
{%- endfor %}

best_push as (
    select
        person_id,
        customer_id,
        row_number() over (partition by person_id order by updated_at desc, customer_id desc) as contact_rank
    from accounts
    where push_opt_in
),

firsts as (
    select
        person_id,
        count(*) as shop_customer_ids,
        min(registered_at) as registered_at,
        min(registered_date) as registered_date,
        max(case when registration_rank = 1 then acquisition_channel end) as acquisition_channel
    from accounts
    group by person_id
),

final as (
    select
        newest.person_id as customer_id,
        newest.customer_id as shop_customer_id,
        firsts.shop_customer_ids,
        coalesce(best_email.email, newest.email) as email,
        coalesce(best_email.email_key, newest.email_key) as email_key,
        coalesce(best_email.email_key is not null or newest.has_valid_email, false) as has_valid_email,
        coalesce(best_phone.phone_raw, newest.phone_raw) as phone_raw,
        coalesce(best_phone.phone_e164, newest.phone_e164) as phone_e164,
        newest.gender,
        newest.birth_date,
        newest.country,
        newest.province,
        newest.city,
        newest.city_tier,
        firsts.registered_at,
        firsts.registered_date,
        firsts.acquisition_channel,
        coalesce(best_email.person_id is not null or newest.email_opt_in, false) as email_opt_in,
        coalesce(best_phone.person_id is not null or newest.sms_opt_in, false) as sms_opt_in,
        best_push.person_id is not null as push_opt_in,
        best_push.customer_id as push_customer_id,
        newest.updated_at
    from accounts as newest
    inner join firsts on newest.person_id = firsts.person_id
    left join best_email on newest.person_id = best_email.person_id and best_email.contact_rank = 1
    left join best_phone on newest.person_id = best_phone.person_id and best_phone.contact_rank = 1
    left join best_push on newest.person_id = best_push.person_id and best_push.contact_rank = 1
    where newest.recency_rank = 1
)

select * from final
