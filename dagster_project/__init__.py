"""crm-mart: customer lifecycle intelligence for online shops, on Dagster, dbt and DuckDB (or
Apache Spark)."""

import warnings

# great-expectations imports pyspark when it is installed (the Spark engine), and pyspark warns
# on import that it does not fully support pandas 3; no crm-mart code hands pyspark a frame
warnings.filterwarnings(
    "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
)
