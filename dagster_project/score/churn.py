"""Churn risk: an interpretable decision tree trained on the warehouse's own history.

intermediate.int_churn_features holds every buyer's features at three cutoff days: T - L
(train), T (out-of-time test) and D (score), L = churn_label_days and T the Monday on or
before D - L (the labelled cutoffs move weekly). The tree learns at T - L and is tested at
T against the recency-only baseline; the tree that scores D learns at T, the newest cutoff
with complete labels. Scoring runs in the warehouse
through the tree's own SQL CASE expression, so the published rules are exactly what scores
every customer.

The labelled cutoffs' rows only change when the cutoffs move (once a week) or the features are
rebuilt, so the scoring tree and the test of its predecessor are kept in
$CRM_DATA_DIR/models/churn/trained-<key>.pkl and used again while the key, a digest of what
they learnt from, is the same: the training rows (their cutoffs, count and
build times), the features, the churn_* settings, scikit-learn and this file.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np

from dagster_project.ingest.loader import lit, q
from dagster_project.score import LEAVES_TABLE, RISK_TABLE
from dagster_project.settings import Settings

if TYPE_CHECKING:  # imported where they are used (both are slow to import)
    import pandas as pd
    from sklearn.tree import DecisionTreeClassifier

FEATURES_TABLE = "intermediate.int_churn_features"
NO_SESSION_DAYS = 100_000  # days since the last session of a buyer who never had one

# feature name -> SQL expression on the features table; training and scoring read the same
BASE_FEATURES = {
    "recency_days": "recency_days",
    "purchase_days": "purchase_days",
    "purchase_days_365d": "purchase_days_365d",
    "net_revenue_365d": "net_revenue_365d",
    "tenure_days": "tenure_days",
    "purchase_days_trend_7d": "purchase_days_trend_7d",
    "sessions_7d": "sessions_7d",
    "sessions_trend_7d": "sessions_trend_7d",
    "days_since_last_session": f"coalesce(days_since_last_session, {NO_SESSION_DAYS})",
    "deal_order_share": "deal_order_share",
    "profile_completeness": "profile_completeness",
    "email_opt_in": "case when email_opt_in then 1 else 0 end",
    "sms_opt_in": "case when sms_opt_in then 1 else 0 end",
    "tier_rank": "tier_rank",
}


class NotEnoughHistory(RuntimeError):
    """The warehouse cannot train the tree yet (too short a history, or one label only)."""


def cutoffs(conn: duckdb.DuckDBPyConnection) -> tuple[date, date, date]:
    """(train, test, score) cutoff days."""
    query = f"select distinct cutoff_date from {FEATURES_TABLE} order by 1"
    days = [r[0] for r in conn.execute(query).fetchall()]
    if len(days) != 3:
        raise NotEnoughHistory(
            f"{FEATURES_TABLE} has {len(days)} cutoff day(s) with buyers, 3 are needed: the "
            "history must reach twice churn_label_days back from D with purchases in it."
        )
    return days[0], days[1], days[2]


def feature_sql(
    conn: duckdb.DuckDBPyConnection, settings: Settings, train_day: date
) -> dict[str, str]:
    """BASE_FEATURES, and a 0/1 feature for each of the most common favourite categories."""
    most = int(settings.vars["churn_max_categories"])
    categories = conn.execute(
        f"""
        select favourite_category from {FEATURES_TABLE}
        where cutoff_date = ? and favourite_category is not null
        group by 1 order by count(*) desc, 1 limit {most}
        """,
        [train_day],
    ).fetchall()
    features = dict(BASE_FEATURES)
    for (category,) in categories:
        features[f"favourite_category = {category}"] = (
            f"case when favourite_category = {lit(category)} then 1 else 0 end"
        )
    return features


def load(conn, features: dict[str, str], day: date, sample: int | None = None) -> pd.DataFrame:
    columns = ", ".join(f"cast({expr} as float) as {q(name)}" for name, expr in features.items())
    limit = f"using sample {int(sample)} rows (reservoir, 42)" if sample else ""
    return conn.execute(
        f"select customer_id, churned, {columns} from {FEATURES_TABLE} "
        f"where cutoff_date = ? {limit}",
        [day],
    ).df()


def bands_of(probabilities: np.ndarray, bands: list[dict]) -> np.ndarray:
    """Each probability's band: the highest whose min_probability it reaches, else the last."""
    highest_first = sorted(bands, key=lambda b: -b["min_probability"])
    return np.select(
        [np.asarray(probabilities) >= b["min_probability"] for b in highest_first],
        [b["band"] for b in highest_first],
        default=bands[-1]["band"],
    )


def band_of(probability: float, bands: list[dict]) -> str:
    return str(bands_of(np.array([probability]), bands)[0])


@dataclass
class Leaf:
    leaf_id: int
    conditions: list[tuple[str, str, float]]  # (feature, "<=" or ">", threshold)
    probability: float
    buyers: int

    def tightest(self) -> list[tuple[str, str, float]]:
        """The path's conditions with one upper and one lower bound per feature at most."""
        bounds: dict[tuple[str, str], float] = {}
        for feature, op, threshold in self.conditions:
            keep = min if op == "<=" else max
            bounds[feature, op] = keep(bounds.get((feature, op), threshold), threshold)
        return [(f, op, t) for (f, op), t in bounds.items()]

    def rule(self) -> str:
        words = [f"{f} {op} {t:g}" for f, op, t in self.tightest()]
        return " and ".join(words) if words else "every buyer"


def leaves(tree: DecisionTreeClassifier, names: list[str]) -> list[Leaf]:
    t = tree.tree_
    churn_column = list(tree.classes_).index(1) if 1 in tree.classes_ else None
    found: list[Leaf] = []

    def walk(node: int, path: list[tuple[str, str, float]]) -> None:
        if t.children_left[node] == -1:
            value = t.value[node][0]
            probability = (
                float(value[churn_column] / value.sum()) if churn_column is not None else 0.0
            )
            found.append(Leaf(int(node), path, probability, int(t.n_node_samples[node])))
            return
        name, threshold = names[t.feature[node]], float(t.threshold[node])
        walk(t.children_left[node], [*path, (name, "<=", threshold)])
        walk(t.children_right[node], [*path, (name, ">", threshold)])

    walk(0, [])
    return found


def case_sql(tree_leaves: list[Leaf], features: dict[str, str], output: str = "leaf_id") -> str:
    """The tree as one SQL CASE expression on the features table (floats, as the tree sees them)."""
    whens = []
    for leaf in tree_leaves:
        tests = " and ".join(
            f"cast({features[f]} as float) {op} cast({t!r} as double)"
            for f, op, t in leaf.tightest()
        )
        value = leaf.leaf_id if output == "leaf_id" else f"cast({leaf.probability!r} as double)"
        whens.append(f"    when {tests or 'true'} then {value}")
    return "case\n" + "\n".join(whens) + "\nend"


def train(conn, settings: Settings, features: dict[str, str], day: date) -> DecisionTreeClassifier:
    from sklearn.tree import DecisionTreeClassifier

    frame = load(conn, features, day, sample=int(settings.vars["churn_train_sample"]))
    tree = DecisionTreeClassifier(
        max_depth=int(settings.vars["churn_tree_max_depth"]),
        min_samples_leaf=max(
            int(settings.vars["churn_tree_min_leaf_buyers"]),
            int(float(settings.vars["churn_tree_min_leaf_share"]) * len(frame)),
        ),
        random_state=0,
    )
    if frame["churned"].nunique() < 2:
        raise NotEnoughHistory(
            f"Every buyer at the cutoff {day} has the same churn label: nothing to learn from."
        )
    return tree.fit(frame[list(features)], frame["churned"].astype(int))


def evaluate(
    tree: DecisionTreeClassifier, frame: pd.DataFrame, features: dict, bands: list[dict]
) -> dict[str, Any]:
    """Out-of-time quality: AUC against recency alone, precision and recall of the high band,
    and a calibration table (mean predicted against actual churn per band)."""
    from sklearn.metrics import roc_auc_score

    y = frame["churned"].astype(int).to_numpy()
    p = tree.predict_proba(frame[list(features)])[:, list(tree.classes_).index(1)]
    band = bands_of(p, bands)
    calibration = []
    for b in bands:
        members = band == b["band"]
        calibration.append(
            {
                "band": b["band"],
                "buyers": int(members.sum()),
                "mean_predicted": round(float(p[members].mean()), 4) if members.any() else None,
                "actual_churn": round(float(y[members].mean()), 4) if members.any() else None,
            }
        )
    top = max(bands, key=lambda b: b["min_probability"])["band"]
    flagged = band == top
    return {
        "buyers": len(y),
        "churn_rate": round(float(y.mean()), 4),
        "roc_auc": round(float(roc_auc_score(y, p)), 4),
        "recency_only_roc_auc": round(float(roc_auc_score(y, frame["recency_days"])), 4),
        f"precision_at_{top}": round(float(y[flagged].mean()), 4) if flagged.any() else None,
        f"recall_at_{top}": round(float(flagged[y == 1].mean()), 4),
        "calibration": calibration,
    }


def model_folder(settings: Settings) -> Path:
    return settings.data_dir / "models" / "churn"


def training_key(
    conn: duckdb.DuckDBPyConnection, settings: Settings, features: dict[str, str], days: list[date]
) -> str:
    """A digest of everything the trees learn from; training is deterministic, so an unchanged
    key means the same trees. Any rebuild of a labelled cutoff's rows changes their _built_at."""
    import sklearn

    rows = conn.execute(
        f"select cutoff_date, count(*), min(_built_at), max(_built_at) from {FEATURES_TABLE} "
        "where cutoff_date in (?, ?) group by 1 order by 1",
        days,
    ).fetchall()
    churn_settings = {k: v for k, v in settings.vars.items() if k.startswith("churn_")}
    return hashlib.sha256(
        json.dumps(
            [rows, features, churn_settings, sklearn.__version__],
            default=str,
            sort_keys=True,
        ).encode()
        + Path(__file__).read_bytes()
    ).hexdigest()


def trained_trees(
    conn: duckdb.DuckDBPyConnection, settings: Settings, features: dict[str, str], days: list[date]
) -> tuple[DecisionTreeClassifier, dict[str, Any], bool]:
    """(the tree that scores D, its predecessor's out-of-time quality, whether it was reused).
    The tree learns at the train cutoff and is tested at the test cutoff; the scoring tree
    learns at the test cutoff."""
    train_day, test_day = days
    folder = model_folder(settings)
    kept = folder / f"trained-{training_key(conn, settings, features, days)}.pkl"
    if kept.exists():
        with kept.open("rb") as f:
            stored = pickle.load(f)  # written below by this pipeline, in its own data dir
        return stored["tree"], stored["holdout"], True
    bands = list(settings.vars["churn_risk_bands"])
    quality = evaluate(
        train(conn, settings, features, train_day), load(conn, features, test_day), features, bands
    )
    tree = train(conn, settings, features, test_day)
    folder.mkdir(parents=True, exist_ok=True)
    for older in folder.glob("trained-*.pkl"):
        older.unlink()
    writing = kept.with_suffix(".tmp")
    with writing.open("wb") as f:
        pickle.dump({"tree": tree, "holdout": quality}, f)
    writing.replace(kept)  # atomic: a crash never leaves half a file under the key
    return tree, quality, False


def score_churn_risk(conn: duckdb.DuckDBPyConnection, settings: Settings) -> dict[str, Any]:
    """Train, test out of time, refit on the newest labels (or reuse the trees while their
    training rows are unchanged), score D in SQL; returns the report."""
    train_day, test_day, score_day = cutoffs(conn)
    bands = list(settings.vars["churn_risk_bands"])
    features = feature_sql(conn, settings, train_day)
    tree, quality, reused = trained_trees(conn, settings, features, [train_day, test_day])
    tree_leaves = leaves(tree, list(features))
    leaf_rows = [
        (leaf.leaf_id, leaf.rule(), leaf.probability, band_of(leaf.probability, bands), leaf.buyers)
        for leaf in tree_leaves
    ]
    conn.execute(
        f"create or replace table {LEAVES_TABLE} (leaf_id integer, rule varchar, "
        "churn_probability double, risk_band varchar, training_buyers integer)"
    )
    conn.executemany(f"insert into {LEAVES_TABLE} values (?, ?, ?, ?, ?)", leaf_rows)
    leaf_case = case_sql(tree_leaves, features)
    conn.execute(
        f"""
        create or replace table {RISK_TABLE} as
        with scored as (
            select customer_id, cutoff_date as as_of_date, {leaf_case} as leaf_id
            from {FEATURES_TABLE} where cutoff_date = ?
        )
        select scored.customer_id, scored.as_of_date, leaves.churn_probability, leaves.risk_band,
            leaves.rule, scored.leaf_id
        from scored inner join {LEAVES_TABLE} as leaves on scored.leaf_id = leaves.leaf_id
        """,
        [score_day],
    )
    rules_text = "\n".join(
        f"IF {rule} THEN churn probability {p:.2f} ({band}; {n:,} training buyers)"
        for _, rule, p, band, n in leaf_rows
    )
    return {
        "cutoffs": {"train": str(train_day), "test": str(test_day), "score": str(score_day)},
        "holdout": quality,
        "reused": reused,
        "rules": rules_text,
        "probability_sql": case_sql(tree_leaves, features, output="probability"),
        "scored": conn.execute(f"select count(*) from {RISK_TABLE}").fetchall()[0][0],
        "tree": tree,
        "features": features,
    }
