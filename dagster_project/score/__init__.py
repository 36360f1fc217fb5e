"""Predictive scores. Their tables are in the schema `scores` of the marts' file, published
with the marts for BI tools, beside dbt's schema `marts` and never inside it."""

SCHEMA = "scores"
VALUE_TABLE = f"{SCHEMA}.customer_value"
RISK_TABLE = f"{SCHEMA}.customer_churn_risk"
LEAVES_TABLE = f"{SCHEMA}.churn_tree_leaves"
FITS_TABLE = f"{SCHEMA}.model_fits"  # each CLV model: fitted or why not, its parameters
# where the scores were written before they had a schema of their own (removed on upgrade)
FORMER_TABLES = ("customer_value", "customer_churn_risk", "churn_tree_leaves")
