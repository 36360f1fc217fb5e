-- One row per identity decision a build made (docs/identity.md): 'merged' (the identifiers of
-- an earlier person now belong to an older one), 'split' (identifiers that left a person, or
-- a group over a cap cut into persons), 'refused' (an identifier that joins nobody: a blocked
-- or shared address, a shared device, a device over the cap). Each build appends what
-- changed in int_identity_map; a full build records the splits and refusals in force.
{{
    config(
        materialized=incremental_materialization(),
        incremental_strategy='append',
    )
}}
with identity_map as (
    select * from {{ ref('int_identity_map') }}
),

as_of as (
    select * from {{ ref('int_as_of_date') }}
),

-- the rows the newest build wrote: new identifiers and changed ones
written as (
    select * from identity_map
    where _built_at = {{ build_started_at() }}
),

moves as (
    select
        previous_person_id as from_person_id,
        person_id,
        count(*) as identifier_count,
        {{ sorted_list("identifier_kind || ':' || identifier") }} as identifiers,
        max(reason) as reason
    from written
    where previous_person_id is not null and person_id is not null and person_id != previous_person_id
    group by previous_person_id, person_id
),

-- the persons that still hold an identifier, and whether one of those identifiers was theirs
-- before this build
live_persons as (
    select
        person_id,
        max(case when _built_at < {{ build_started_at() }} then 1 else 0 end) = 1 as held_before
    from identity_map
    where person_id is not null
    group by person_id
),

decisions as (
    select
        -- gone into a person that was there before: a merge; else the person came apart
        case
            when live_persons.person_id is null and target.held_before then 'merged'
            else 'split'
        end as audit_event,
        moves.person_id,
        moves.from_person_id,
        moves.identifier_count,
        moves.identifiers,
        case
            when live_persons.person_id is null and target.held_before
                then 'linked to an older person'
            else coalesce(moves.reason, 'a link between them is withheld')
        end as reason
    from moves
    left join live_persons on moves.from_person_id = live_persons.person_id
    left join live_persons as target on moves.person_id = target.person_id

    union all

    -- a group over a cap, cut into persons as it first appears
    select
        'split' as audit_event,
        person_id,
        cast(null as {{ dbt.type_string() }}) as from_person_id,
        count(*) as identifier_count,
        {{ sorted_list("identifier_kind || ':' || identifier") }} as identifiers,
        max(reason) as reason
    from written
    where
        person_id is not null and reason is not null and previous_person_id is null
        and person_id in (
            select live_persons.person_id from live_persons
            where not live_persons.held_before
        )
    group by person_id

    union all

    select
        'refused' as audit_event,
        cast(null as {{ dbt.type_string() }}) as person_id,
        previous_person_id as from_person_id,
        1 as identifier_count,
        identifier_kind || ':' || identifier as identifiers,
        reason
    from written
    where person_id is null
),

final as (
    select
        as_of.as_of_date as audit_date,
        decisions.*,
        {{ build_started_at() }} as _built_at
    from decisions
    cross join as_of
)

select * from final
