-- Every delivered version of every order, as the raw table holds it (UTC timestamps,
-- delivered currency): for models that need an order as it stood on an earlier day.
select * from {{ source('raw', 'orders') }}
