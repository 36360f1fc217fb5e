-- The seed lifecycle_stages and macros/stages.sql name the same stages, in the same order,
-- the buyer stages first: a row here is a stage missing on one side or out of place.
with named as (
    {%- set buyers = buyer_stage_bands() | length %}
    {%- for name in stage_names() %}
    {{ 'union all' if not loop.first }}
    select
        '{{ name }}' as lifecycle_stage,
        {{ loop.index }} as stage_order,
        {{ 'true' if loop.index <= buyers else 'false' }} as is_buyer_stage
    {%- endfor %}
),

seed as (
    select * from {{ ref('lifecycle_stages') }}
)

select
    named.lifecycle_stage as named_stage,
    seed.lifecycle_stage as seed_stage
from named
full outer join seed on named.lifecycle_stage = seed.lifecycle_stage
where
    named.lifecycle_stage is null
    or seed.lifecycle_stage is null
    or named.stage_order != seed.stage_order
    or named.is_buyer_stage != seed.is_buyer_stage
