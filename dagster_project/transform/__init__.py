"""The dbt project as Dagster assets: every model an asset, every dbt test an asset check."""
