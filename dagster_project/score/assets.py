"""Predictive scores as Dagster assets, each with its table in the schema `scores`: customer
value (BG/NBD + Gamma-Gamma), churn risk, and the churn tree's leaves (its rules)."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from dagster_project.resources import Warehouse, retry_only_transient
from dagster_project.score import LEAVES_TABLE, RISK_TABLE, SCHEMA
from dagster_project.score.churn import NotEnoughHistory, model_folder, score_churn_risk
from dagster_project.score.clv import score_customer_value
from dagster_project.transform.assets import model_key

VALUE_KEY = dg.AssetKey([SCHEMA, "customer_value"])


@dg.asset(
    key=VALUE_KEY,
    group_name="scores",
    kinds={"duckdb", "scipy"},
    deps=[model_key("customer_facts")],
    description=(
        "Per known customer: probability alive and expected purchases in 30/90/365 days "
        "(BG/NBD), expected spend per purchase (Gamma-Gamma) and predicted CLV over "
        "clv_horizon_days; zeros for customers who never bought."
    ),
)
@retry_only_transient
def customer_value(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
    with warehouse.connect() as conn:
        fitted = score_customer_value(conn, warehouse.get_settings())
    context.log.info(f"CLV models fitted on {fitted['fitted_on']:,} buyers: {fitted}")
    for note in fitted["fallbacks"]:
        context.log.warning(f"Fallback: {note}")
    return dg.MaterializeResult(
        metadata={
            "bg_nbd (days)": dg.MetadataValue.json(fitted["bg_nbd"] or "not fitted"),
            "gamma_gamma": dg.MetadataValue.json(fitted["gamma_gamma"] or "not fitted"),
            "fallbacks": dg.MetadataValue.md(
                "\n".join(f"- {note}" for note in fitted["fallbacks"]) or "none"
            ),
            "buyers": fitted["buyers"],
            "fitted_on": fitted["fitted_on"],
            "horizon_days": fitted["horizon_days"],
        }
    )


RISK_KEY = dg.AssetKey([SCHEMA, "customer_churn_risk"])
LEAVES_KEY = dg.AssetKey([SCHEMA, "churn_tree_leaves"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            LEAVES_KEY,
            group_name="scores",
            kinds={"duckdb", "sklearn"},
            deps=[model_key("int_churn_features")],
            description=(
                "The churn tree's leaves: per leaf its rule, churn probability, risk band and "
                "training buyers. The rules, their SQL CASE expression and the out-of-time "
                "quality are this asset's metadata and files under models/churn/."
            ),
        ),
        dg.AssetSpec(
            RISK_KEY,
            group_name="scores",
            kinds={"duckdb"},
            deps=[LEAVES_KEY, model_key("int_churn_features")],
            description=(
                "Per buyer as of D: churn probability (no purchase in the next "
                "churn_label_days), risk band and the rule (leaf) of the churn tree that gave it."
            ),
        ),
    ],
)
@retry_only_transient
def churn_scores(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator[Any]:
    settings = warehouse.get_settings()
    with warehouse.connect() as conn:
        try:
            report = score_churn_risk(conn, settings)
        except NotEnoughHistory as reason:
            # no stale scores: a campaign filtering on churn_risk stops and says why
            conn.execute(f"drop table if exists {RISK_TABLE}")
            conn.execute(f"drop table if exists {LEAVES_TABLE}")
            context.log.warning(f"No churn model this run: {reason}")
            yield dg.MaterializeResult(asset_key=LEAVES_KEY, metadata={"skipped": str(reason)})
            yield dg.MaterializeResult(asset_key=RISK_KEY, metadata={"skipped": str(reason)})
            return
    folder = model_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.txt").write_text(report["rules"] + "\n", encoding="utf-8")
    (folder / "churn_probability.sql").write_text(
        report["probability_sql"] + "\n", encoding="utf-8"
    )
    holdout = report["holdout"]
    trained = "reused (its training rows are unchanged)" if report["reused"] else "trained"
    context.log.info(
        f"Churn tree {trained}: out-of-time ROC AUC {holdout['roc_auc']} (recency alone "
        f"{holdout['recency_only_roc_auc']}); {report['scored']:,} buyers scored."
    )
    yield dg.MaterializeResult(
        asset_key=LEAVES_KEY,
        metadata={
            "cutoffs": dg.MetadataValue.json(report["cutoffs"]),
            "holdout_quality": dg.MetadataValue.json(holdout),
            "roc_auc": holdout["roc_auc"],
            "recency_only_roc_auc": holdout["recency_only_roc_auc"],
            "rules": dg.MetadataValue.md(f"```\n{report['rules']}\n```"),
            "probability_sql": dg.MetadataValue.md(f"```sql\n{report['probability_sql']}\n```"),
            "rules_file": dg.MetadataValue.path(str(folder / "rules.txt")),
            "leaves": len(report["rules"].splitlines()),
            "tree_reused": report["reused"],
        },
    )
    yield dg.MaterializeResult(asset_key=RISK_KEY, metadata={"scored_buyers": report["scored"]})


score_assets = [customer_value, churn_scores]
