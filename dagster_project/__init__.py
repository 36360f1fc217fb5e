"""crm-mart: customer lifecycle intelligence for online shops, on Dagster, dbt and DuckDB."""
