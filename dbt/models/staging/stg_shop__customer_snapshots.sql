-- Every delivered profile snapshot of every customer, as the raw table holds it: for models
-- that need a profile as it stood on an earlier day.
select * from {{ source('raw', 'customers') }}
