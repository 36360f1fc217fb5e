"""The dbt project end to end: its unit and schema tests, incremental stage history, and an
independent day-by-day recomputation of the lifecycle stages."""

import shutil
from collections import defaultdict
from datetime import date, timedelta

import pytest

from dagster_project.sample_shop.generator import ShopConfig
from dagster_project.settings import DBT_PROJECT_DIR, default_values, load_settings
from tests.dbt.helpers import empty_raw_tables, execute, load_shop, query, run_dbt

SHOP = ShopConfig(customers=1500, days=240, seed=11)


def test_unit_and_schema_tests_pass_on_a_fresh_warehouse(tmp_path):
    settings = load_settings(tmp_path / "data")
    empty_raw_tables(settings)
    # no data yet, so no "last day with data": D is given
    # unit tests run once the models exist (the incremental one reads its own table's columns)
    output = run_dbt(settings, "build", "--exclude", "test_type:unit", as_of="2026-01-31")
    assert "ERROR=0" in output
    unit = run_dbt(settings, "test", "--select", "test_type:unit", as_of="2026-01-31")
    declared = run_dbt(settings, "ls", "--resource-type", "unit_test", "--quiet").split()
    assert len(declared) >= 20
    passed = [line for line in unit.splitlines() if " PASS " in line and "::" in line]
    assert len(passed) == len(declared) and "ERROR=0" in unit  # every unit test ran and passed
    # a new D (in the environment, as Dagster passes it) re-parses only the model that reads it
    output = run_dbt(settings, "--debug", "run", "--select", "int_as_of_date", as_of="2026-02-02")
    assert "Partial parsing enabled: 0 files deleted, 0 files added, 1 files changed" in output
    assert (
        "Partial parsing: updated file: crm_mart://models/intermediate/int_as_of_date.sql" in output
    )
    as_of = "select as_of_date from intermediate.int_as_of_date"
    assert query(settings, as_of) == [(date(2026, 2, 2),)]
    # by hand, the var as_of_date gives D, ahead of the environment
    run_dbt(settings, "run", "--select", "int_as_of_date", as_of="2026-02-02",
            extra_vars={"as_of_date": "2026-02-03"})  # fmt: skip
    assert query(settings, as_of) == [(date(2026, 2, 3),)]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A small shop loaded into a warehouse, built up to the day before its last day."""
    settings = load_settings(tmp_path_factory.mktemp("shop") / "data")
    load_shop(settings, SHOP)
    before = SHOP.end - timedelta(days=1)
    run_dbt(settings, "build", "--exclude", "test_type:unit", as_of=before.isoformat())
    return settings


def spells(settings):
    return set(
        query(
            settings,
            "select customer_id, lifecycle_stage, valid_from, valid_to "
            "from marts.customer_stage_history",
        )
    )


@pytest.mark.slow
def test_a_second_daily_run_adds_one_day_and_leaves_the_past_alone(shop):
    before = spells(shop)
    last = SHOP.end - timedelta(days=1)
    assert max(s[3] for s in before) == last
    run_dbt(shop, "build", "--exclude", "test_type:unit", as_of=SHOP.end.isoformat())
    after = spells(shop)
    assert max(s[3] for s in after) == SHOP.end
    # the past is not rebuilt: every spell is as it was, except open spells that go on
    # (same start, one day longer); the only new spells start on the new day
    for spell in before - after:
        assert spell[3] == last and (*spell[:3], SHOP.end) in after
    for spell in after - before:
        assert spell[3] == SHOP.end
        assert spell[2] == SHOP.end or (*spell[:3], last) in before
    # rerunning the same day changes nothing
    run_dbt(shop, "build", "--select", "customer_stage_history", "--exclude", "test_type:unit",
            as_of=SHOP.end.isoformat())  # fmt: skip
    assert spells(shop) == after
    # and the increments equal a rebuild from scratch
    run_dbt(shop, "build", "--select", "customer_stage_history", "--full-refresh",
            "--exclude", "test_type:unit", as_of=SHOP.end.isoformat())  # fmt: skip
    assert spells(shop) == after


@pytest.mark.slow
def test_an_incremental_tables_tests_check_the_rows_of_its_latest_build(shop, tmp_path):
    copy = load_settings(tmp_path / "data")
    copy.warehouse_path.parent.mkdir(parents=True)
    shutil.copy(shop.warehouse_path, copy.warehouse_path)
    (stored, builds) = query(
        copy, "select count(*), count(distinct _built_at) from staging.stg_shop__events"
    )[0]
    assert builds == 1  # the first build wrote every row
    # a new event, and an event delivered again: this build writes these two rows
    (again,) = query(copy, "select max(event_id) from raw.events")[0]
    execute(
        copy,
        "insert into raw.events select * replace ('e-new' as event_id, now()::timestamp as _loaded_at) "
        "from raw.events where event_id = (select min(event_id) from raw.events)",
        "insert into raw.events select * replace (now()::timestamp as _loaded_at) "
        f"from raw.events where event_id = '{again}'",
    )
    build = ["build", "--select", "stg_shop__events", "--exclude", "test_type:unit"]
    assert "PASS=4" in run_dbt(copy, *build)  # the start hook, the model, unique, not_null
    latest = "(select max(_built_at) from staging.stg_shop__events)"
    written = query(
        copy, f"select event_id from staging.stg_shop__events where _built_at = {latest}"
    )
    assert sorted(written) == sorted([("e-new",), (again,)])
    assert query(copy, "select count(*) from staging.stg_shop__events")[0][0] == stored + 1
    # a key repeated among the latest build's rows fails the test
    duplicate = (
        "insert into staging.stg_shop__events select * from staging.stg_shop__events "
        f"where event_id = 'e-new' and _built_at = {latest}"
    )
    execute(copy, duplicate)
    output = run_dbt(
        copy, "test", "--select", "stg_shop__events", "--exclude", "test_type:unit", check=False
    )
    assert "FAIL 1 unique_stg_shop__events_event_id" in output and "PASS=2" in output
    # a key repeated among an older build's rows is not read: that build was tested
    execute(
        copy,
        "delete from staging.stg_shop__events where event_id = 'e-new'",
        "insert into staging.stg_shop__events select * from staging.stg_shop__events "
        f"where event_id = (select min(event_id) from staging.stg_shop__events) and _built_at < {latest}",
    )
    assert "PASS=3" in run_dbt(
        copy, "test", "--select", "stg_shop__events", "--exclude", "test_type:unit"
    )


def favourites(settings):
    return set(
        query(
            settings,
            "select customer_id, favourite_category "
            "from intermediate.int_customer_favourite_category",
        )
    )


@pytest.mark.slow
def test_favourite_categories_built_incrementally_equal_a_rebuild(shop):
    # (int_as_of_date holds D)
    build = ["build", "--select", "int_as_of_date", "int_customer_favourite_category",
             "--exclude", "test_type:unit"]  # fmt: skip
    # the shop was built for the day before its last: this build takes in the last day only
    run_dbt(shop, *build, as_of=SHOP.end.isoformat())
    daily = favourites(shop)
    run_dbt(shop, *build, "--full-refresh", as_of=SHOP.end.isoformat())
    assert favourites(shop) == daily
    # a D moved back 60 days recomputes everyone: the same as a rebuild for that day
    back = (SHOP.end - timedelta(days=60)).isoformat()
    run_dbt(shop, *build, as_of=back)
    moved_back = favourites(shop)
    run_dbt(shop, *build, "--full-refresh", as_of=back)
    assert favourites(shop) == moved_back
    # the 60 days took in new customers and changed some favourites
    assert len(daily - moved_back) > 50 and len(moved_back) < len(daily)
    run_dbt(shop, *build, as_of=SHOP.end.isoformat())
    assert favourites(shop) == daily
    # the customer facts show them
    (shown,) = query(
        shop,
        "select count(*) from marts.customer_facts as facts "
        "inner join intermediate.int_customer_favourite_category as favourite "
        "using (customer_id, favourite_category)",
    )[0]
    assert shown == len(daily)


def stage_on(day, purchases, activity, known_from):
    """metrics.md's stage rules, applied literally to one customer on one day."""
    v = default_values()
    bought = [p for p in purchases if p <= day]
    if bought:
        r = (day - max(bought)).days
        for stage, limit in (
            ("after_sale", v["stage_after_sale_max_days"]),
            ("active", v["stage_active_max_days"]),
            ("silent", v["stage_silent_max_days"]),
            ("sleeping", v["stage_sleeping_max_days"]),
        ):
            if r <= limit:
                return stage
        return "churned"
    window = v["prospect_window_days"]
    levels = [lvl for a, lvl in activity if day - timedelta(days=window - 1) <= a <= day]
    best = max(levels, default=0)
    return {4: "prospect_unpaid", 3: "prospect_cart", 2: "prospect_engaged",
            1: "prospect_browsing", 0: "registered_dormant"}[best]  # fmt: skip


@pytest.mark.slow
def test_stages_match_a_day_by_day_recomputation_from_the_definitions(shop):
    purchases, activity = defaultdict(list), defaultdict(list)
    for customer, d in query(
        shop, "select customer_id, purchase_date from intermediate.int_purchase_days"
    ):
        purchases[customer].append(d)
    for customer, d, lvl in query(
        shop,
        "select customer_id, activity_date, activity_level from intermediate.int_customer_activity_days",
    ):
        activity[customer].append((d, lvl))
    known = dict(
        query(shop, "select customer_id, known_from_date from intermediate.int_known_customers")
    )
    history = defaultdict(list)
    for customer, stage, start, end in spells(shop):
        history[customer].append((start, end, stage))
    checked = 0
    for offset in range(0, SHOP.days, 9):  # every 9th day of the shop's history
        d = SHOP.start + timedelta(days=offset)
        for customer, first in known.items():
            if first > d:
                continue
            covering = [s for (a, b, s) in history[customer] if a <= d <= b]
            expected = stage_on(d, purchases[customer], activity[customer], first)
            assert covering == [expected], (customer, d)
            checked += 1
    assert checked > 15_000  # customer-days compared
    # every known customer has exactly one stage on D in the lifecycle mart
    (n_known, n_lifecycle, n_distinct) = query(
        shop,
        "select (select count(*) from intermediate.int_known_customers), count(*), "
        "count(distinct customer_id) from marts.customer_lifecycle",
    )[0]
    assert n_known == n_lifecycle == n_distinct


@pytest.mark.slow
def test_reactivations_are_counted_in_the_transition_mart(shop):
    (mart,) = query(
        shop,
        "select coalesce(sum(customers), 0) from marts.customer_stage_transitions "
        "where is_reactivation",
    )[0]
    (direct,) = query(
        shop,
        """
        select count(*) from (
            select lifecycle_stage,
                lag(lifecycle_stage) over (partition by customer_id order by valid_from) as prev
            from marts.customer_stage_history
        ) where prev = 'churned' and lifecycle_stage = 'after_sale'
        """,
    )[0]
    assert mart == direct


def test_a_renamed_column_of_a_model_python_reads_fails_the_build(tmp_path):
    """customer_facts, customer_rfm, customer_lifecycle and int_churn_features have enforced
    contracts: the build stops at the model, not later in a score or an export."""
    settings = load_settings(tmp_path / "data")
    empty_raw_tables(settings)
    project = tmp_path / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    skip_tests = ["--exclude", "resource_type:test", "resource_type:unit_test"]
    built = run_dbt(
        settings, "build", "--empty", "--select", "+customer_rfm", *skip_tests, project=project
    )
    assert "Completed successfully" in built
    model = project / "models" / "marts" / "customers" / "customer_rfm.sql"
    model.write_text(
        model.read_text().replace("groups.rfm_group,", "groups.rfm_group as rfm_segment,")
    )
    out = run_dbt(settings, "run", "--select", "customer_rfm", check=False, project=project)
    assert "This model has an enforced contract that failed" in out
    assert "rfm_group" in out and "rfm_segment" in out
