"""The churn tree: features never look past their cutoff, it beats recency alone, and its
published SQL scores every buyer exactly as the model does."""

import dataclasses
import shutil
from datetime import date, timedelta

import numpy as np
import pytest

from dagster_project.resources import open_warehouse
from dagster_project.score.churn import (
    FEATURES_TABLE,
    band_of,
    bands_of,
    load,
    model_folder,
    score_churn_risk,
)
from dagster_project.settings import load_settings
from tests.dbt.helpers import empty_raw_tables, execute, query, run_dbt

pytestmark = pytest.mark.slow  # whole-pipeline builds: make test, not make test-fast

D = "2026-06-30"
# with churn_label_days 90: D - 90 is Wednesday 2026-04-01, so the labelled cutoffs are the
# Monday before it, 2026-03-30, and 90 days earlier, 2025-12-30
TRAIN_CUTOFF = "2025-12-30"
CUTOFFS_AT_D = ["2025-12-30", "2026-03-30", D]


def insert_order(conn, order_id, status, paid_at, updated_at, refund=0):
    conn.execute(
        "insert into raw.orders (order_id, customer_id, status, created_at, paid_at, currency, "
        "order_total, refund_total, updated_at, _source_file, _row_number, _loaded_at) "
        "values (?, 'k', ?, ?, ?, 'CNY', 100, ?, ?, 'hand', 1, ?)",
        [order_id, status, paid_at, paid_at, refund, updated_at, updated_at],
    )


def insert_profile(conn, email_opt_in, updated_at):
    conn.execute(
        "insert into raw.customers (customer_id, email, registered_at, email_opt_in, updated_at, "
        "_source_file, _row_number, _loaded_at) values ('k', 'k@example.com', '2025-09-01', ?, ?, 'hand', 1, ?)",
        [email_opt_in, updated_at, updated_at],
    )


def features_at_train_cutoff(settings, *flags, as_of=D):
    run_dbt(settings, "build", "--select", "+int_churn_features", "--indirect-selection", "cautious",
            "--exclude", "test_type:unit", *flags, as_of=as_of)  # fmt: skip
    return query(settings, f"select * from {FEATURES_TABLE} where cutoff_date = '{TRAIN_CUTOFF}'")


def cutoff_days(settings):
    days = query(settings, f"select distinct cutoff_date from {FEATURES_TABLE} order by 1")
    return [str(d) for (d,) in days]


def test_no_feature_reads_data_after_its_cutoff(tmp_path):
    settings = load_settings(tmp_path / "data")
    empty_raw_tables(settings)
    with open_warehouse(settings) as conn:
        insert_profile(conn, True, "2025-09-01 00:00:00")
        insert_order(conn, "o1", "paid", "2025-10-01 04:00:00", "2025-10-01 04:00:00")
        insert_order(conn, "o2", "paid", "2025-12-20 04:00:00", "2025-12-20 04:00:00")
        insert_order(conn, "o2b", "paid", "2025-12-20 06:00:00", "2025-12-20 06:00:00")
    (before,) = features_at_train_cutoff(settings)
    assert cutoff_days(settings) == CUTOFFS_AT_D
    with open_warehouse(settings) as conn:
        # after the cutoff: a new purchase, the December order refunded, an unsubscribe
        insert_order(conn, "o3", "paid", "2026-01-15 04:00:00", "2026-01-15 04:00:00")
        insert_order(
            conn, "o2", "refunded", "2025-12-20 04:00:00", "2026-02-01 04:00:00", refund=100
        )
        insert_profile(conn, False, "2026-02-01 00:00:00")
    # the next day's build (D - 90 is still in the week of 2026-03-30) scores the new day and
    # keeps the labelled cutoffs as computed: they are not recomputed every day
    (kept,) = features_at_train_cutoff(settings, as_of="2026-07-01")
    assert kept == before
    assert cutoff_days(settings) == [*CUTOFFS_AT_D[:2], "2026-07-01"]
    # computed again from scratch, only the label sees what happened after the cutoff
    (after,) = features_at_train_cutoff(settings, "--full-refresh")
    assert cutoff_days(settings) == CUTOFFS_AT_D
    columns = [r[0] for r in query(settings, "select column_name from information_schema.columns where table_name = 'int_churn_features' order by ordinal_position")]  # fmt: skip
    label = columns.index("churned")
    built = columns.index("_built_at")  # when each build wrote its rows
    unchanged = [i for i in range(len(columns)) if i not in (label, built)]
    assert [before[i] for i in unchanged] == [after[i] for i in unchanged]
    assert (before[label], after[label]) == (1, 0)  # only the label sees the January purchase
    by_name = dict(zip(columns, before, strict=True))
    # two orders on Dec 20 are one purchase day; revenue counts all three orders
    assert (by_name["recency_days"], by_name["purchase_days"], by_name["email_opt_in"]) == (
        10,
        2,
        True,
    )
    assert (by_name["purchase_days_365d"], by_name["net_revenue_365d"]) == (2, 300)
    assert by_name["purchase_days_trend_7d"] == -1  # none in the last 7 days, 1 the 7 before
    assert by_name["deal_order_share"] == 0


def test_the_features_of_d_equal_those_of_a_labelled_cutoff_of_the_same_day(
    shop_warehouse, tmp_path
):
    """D's purchases and bought favourites come from the purchase days and favourite categories
    of D, a labelled cutoff's from each order's versions known then: the same features."""
    copy = load_settings(tmp_path / "data")
    copy.data_dir.mkdir(parents=True)
    shutil.copy(shop_warehouse.warehouse_path, copy.warehouse_path)
    (last_day,) = query(copy, "select max(paid_at) from raw.orders")[0]
    x = last_day.date() - timedelta(days=30)
    x -= timedelta(days=x.weekday())  # a Monday, so that it can be a labelled cutoff
    # the shop as it had landed by the end of x: every landing file is one store day
    execute(copy, *(
        f"delete from raw.{table} where regexp_extract(_source_file, 'dt=([0-9-]+)', 1) > '{x}'"
        for table in ("customers", "orders", "order_items", "sessions", "events")
    ))  # fmt: skip
    # 25 buyers (persons) with visits whose order lines never arrived, their guest checkouts'
    # too: their favourite category is the most viewed, which is not a churn feature (a
    # buyer's favourite is the most units bought)
    visitors = "select customer_id from intermediate.int_events_by_person where customer_id is not null group by 1 order by 1 limit 25"
    lineless = {c for (c,) in query(copy, visitors)}
    execute(copy, f"delete from raw.order_items where order_id in (select order_id from intermediate.int_orders_by_person where customer_id in ({visitors}))")  # fmt: skip
    features = "* exclude (churned, _built_at)"

    def build_and_read(d: date) -> list[tuple]:
        run_dbt(copy, "build", "--select", "+int_churn_features", "--full-refresh",
                "--exclude", "test_type:unit", as_of=d.isoformat())  # fmt: skip
        return query(copy, f"select {features} from {FEATURES_TABLE} where cutoff_date = '{x}' order by customer_id")  # fmt: skip

    scored = build_and_read(x)  # x is D
    (viewed,) = query(copy, "select count(distinct customer_id) from intermediate.int_customer_favourite_category inner join intermediate.int_purchase_days using (customer_id) where not favourite_is_bought")[0]  # fmt: skip
    label_days = shop_warehouse.vars["churn_label_days"]
    labelled = build_and_read(x + timedelta(days=label_days))  # x is the test cutoff
    (is_labelled,) = query(copy, f"select count(churned) > 0 from {FEATURES_TABLE} where cutoff_date = '{x}'")[0]  # fmt: skip
    assert is_labelled
    assert len(scored) > 1000
    assert scored == labelled
    # the favourite category is the last feature: exactly the buyers without order lines
    # have none, though some of them have a favourite viewed category
    assert viewed > 0
    buyers = {row[1] for row in scored}
    assert {row[1] for row in scored if row[-1] is None} == lineless & buyers
    assert len(lineless & buyers) > 10


@pytest.fixture(scope="module")
def churn(shop_warehouse):
    with open_warehouse(shop_warehouse) as conn:
        report = score_churn_risk(conn, shop_warehouse)
        scoring = load(conn, report["features"], report["cutoffs"]["score"])
        sql = conn.execute(
            f"select customer_id, {report['probability_sql']} as p from {FEATURES_TABLE} "
            "where cutoff_date = ? order by customer_id",
            [report["cutoffs"]["score"]],
        ).fetchall()
        mart = conn.execute(
            "select customer_id, churn_probability, risk_band, rule from scores.customer_churn_risk "
            "order by customer_id"
        ).fetchall()
    return report, scoring.sort_values("customer_id"), sql, mart


def test_the_tree_beats_recency_alone_out_of_time(churn):
    holdout = churn[0]["holdout"]
    assert holdout["roc_auc"] > holdout["recency_only_roc_auc"] > 0.5
    assert sum(row["buyers"] for row in holdout["calibration"]) == holdout["buyers"]


def test_the_published_sql_gives_every_buyer_the_models_probability_and_band(churn, shop_warehouse):
    report, scoring, sql, mart = churn
    tree = report["tree"]
    model = tree.predict_proba(scoring[list(report["features"])])[:, list(tree.classes_).index(1)]
    assert [c for c, _ in sql] == list(scoring["customer_id"]) == [c for c, *_ in mart]
    assert np.array_equal(np.array([p for _, p in sql]), model)
    bands = shop_warehouse.vars["churn_risk_bands"]
    assert [b for _, _, b, _ in mart] == [band_of(p, bands) for p in model]
    assert all(rule and " and " in rule for *_, rule in mart)
    assert len(mart) == report["scored"] > 1000


def test_the_trees_are_used_again_until_what_they_learn_from_changes(churn, shop_warehouse):
    first = churn[0]
    assert first["reused"] is False  # the fixture's run trained them
    test_cutoff = first["cutoffs"]["test"]
    deeper = dataclasses.replace(
        shop_warehouse, vars={**shop_warehouse.vars, "churn_tree_max_depth": 2}
    )
    with open_warehouse(shop_warehouse) as conn:
        again = score_churn_risk(conn, shop_warehouse)
        # another setting: trained again, and the two-level tree has at most 4 leaves
        shallow = score_churn_risk(conn, deeper)
        # the test cutoff's rows written by a later build, as a new week or a full refresh does
        conn.execute(
            f"update {FEATURES_TABLE} set _built_at = _built_at + interval 1 hour "
            "where cutoff_date = ?",
            [test_cutoff],
        )
        rebuilt = score_churn_risk(conn, shop_warehouse)
        leaves = conn.execute("select count(*) from scores.churn_tree_leaves").fetchone()[0]
    assert again["reused"] is True
    assert (again["rules"], again["holdout"]) == (first["rules"], first["holdout"])
    assert shallow["reused"] is False
    assert len(shallow["rules"].splitlines()) <= 4 < len(first["rules"].splitlines())
    # trained again on the same rows: the same tree, as training is deterministic
    assert rebuilt["reused"] is False and rebuilt["rules"] == first["rules"]
    assert leaves == len(first["rules"].splitlines())
    assert len(list(model_folder(shop_warehouse).glob("trained-*.pkl"))) == 1


def test_a_probability_gets_the_highest_band_it_reaches_and_below_every_band_the_last():
    bands = [
        {"band": "high", "min_probability": 0.8},
        {"band": "medium", "min_probability": 0.5},
        {"band": "low", "min_probability": 0.0},
    ]
    probabilities = np.array([0.95, 0.8, 0.79, 0.5, 0.2, 0.0])
    assert list(bands_of(probabilities, bands)) == [
        "high",
        "high",
        "medium",
        "medium",
        "low",
        "low",
    ]
    # a floor above 0: the lowest probabilities get the last band
    floor = [{"band": "a", "min_probability": 0.6}, {"band": "b", "min_probability": 0.3}]
    assert list(bands_of(np.array([0.7, 0.4, 0.1]), floor)) == ["a", "b", "b"]
    assert band_of(0.65, floor) == "a"
