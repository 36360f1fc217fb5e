"""The raw assets through Dagster: what a run loads, metadata, their checks, failures."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from dagster_project.definitions import defs
from dagster_project.ingest.assets import raw_assets
from dagster_project.quality.checks import freshness_checks, raw_checks
from dagster_project.resources import Warehouse
from dagster_project.settings import load_settings

HEADER = (
    "order_id,customer_id,status,created_at,paid_at,currency,order_total,discount_total,"
    "shipping_total,refund_total,channel,promotion_type,updated_at\n"
)
ROW = "o{n},c1,paid,2025-03-0{d}T10:00:00Z,,CNY,10,0,0,0,web,none,2025-03-0{d}T10:00:00Z\n"


def run(settings, through=None):
    orders = [a for a in raw_assets if a.key == dg.AssetKey(["raw", "orders"])]
    checks = [
        c
        for c in raw_checks
        if dg.AssetKey(["raw", "orders"]) in {k.asset_key for k in c.check_keys}
    ]
    return dg.materialize(
        [*orders, *checks],
        resources={"warehouse": Warehouse(data_dir=str(settings.data_dir))},
        run_config={
            "ops": {"raw__orders": {"config": {"through": through}}},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
        raise_on_error=False,
    )


def test_definitions_load_with_one_raw_asset_and_check_per_entity():
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw/customers", "raw/orders", "raw/order_items", "raw/sessions", "raw/events",
            "raw/marketing_spend", "raw/returns", "raw/exchange_rates"} <= keys  # fmt: skip
    # per entity: contract (ERROR), plausibility (WARN), landing files recognised (WARN)
    assert len(raw_checks) == 8 * 3


def test_every_new_day_loads_in_one_run_with_row_counts(settings, land):
    land("orders", "2025-03-01", "a.csv", HEADER + ROW.format(n=1, d=1) + ROW.format(n=2, d=1))
    land("orders", "2025-03-02", "a.csv", HEADER + ROW.format(n=3, d=2).replace("paid", "?"))
    land("orders", "2025-03-03", "a.csv", HEADER + ROW.format(n=4, d=3))  # after `through`
    result = run(settings, through="2025-03-02")
    assert result.success
    (materialization,) = result.asset_materializations_for_node("raw__orders")
    assert materialization.partition is None  # one materialization, whatever the days
    meta = materialization.metadata
    assert meta["days_loaded"].value == "days 2025-03-01 to 2025-03-02"
    assert meta["rows_loaded"].value == 2 and meta["rows_quarantined"].value == 1
    assert meta["dagster/row_count"].value == 2
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert set(checks) == {
        "contract_expectations",
        "plausibility_expectations",
        "landing_files_recognised",
    }
    assert checks["landing_files_recognised"].passed
    contract = checks["contract_expectations"]
    assert contract.passed
    assert contract.description == "2 new row(s) and every file of the ledger pass"


def test_an_unreadable_file_fails_the_partition_naming_the_file(settings, land):
    land("orders", "2025-03-01", "good.csv", HEADER + ROW.format(n=1, d=1))
    land("orders", "2025-03-01", "bad.csv", "order_id;status\n1;paid\n")
    result = run(settings)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.user_failure_data.description
    assert "landing/orders/dt=2025-03-01/bad.csv: wrong delimiter" in message


def test_files_in_a_misnamed_folder_are_loaded_by_nobody_and_warned_about(settings, land):
    land("orders", "2025-03-01", "good.csv", HEADER + ROW.format(n=1, d=1))
    stray = settings.landing_dir / "Orders" / "dt=2025-03-01" / "a.csv"
    stray.parent.mkdir(parents=True)
    stray.write_text(HEADER + ROW.format(n=2, d=1))
    result = run(settings)
    assert result.success  # a warning, not a failure: the good file is loaded
    (check,) = [
        c
        for c in result.get_asset_check_evaluations()
        if c.check_name == "landing_files_recognised"
    ]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description == (
        "1 landing file(s) not loaded:\nlanding/Orders/dt=2025-03-01/a.csv: 'Orders' is not an "
        "entity folder: did you mean 'orders'? Move the files to landing/orders/dt=YYYY-MM-DD/"
    )


def test_the_bookkeeping_of_a_run_does_not_grow_with_the_days_it_loads(tmp_path):
    """Dagster records the same events for 60 days of files as for 5: no per-day
    materializations, plans or partitions (a year's first load once spent minutes on them)."""
    counts = {}
    for days in (5, 60):
        settings = load_settings(tmp_path / f"shop{days}")
        for n in range(days):
            day = date(2025, 3, 1) + timedelta(days=n)
            row = ROW.replace("2025-03-0{d}", day.isoformat()).format(n=n)
            folder = settings.landing_dir / "orders" / f"dt={day}"
            folder.mkdir(parents=True)
            (folder / "a.csv").write_text(HEADER + row)
        result = run(settings)
        assert result.success
        (materialization,) = result.asset_materializations_for_node("raw__orders")
        assert materialization.metadata["rows_loaded"].value == days
        counts[days] = len(result.all_events)
    assert counts[60] == counts[5]


def test_the_freshness_check_reads_the_newest_landing_day_loaded(settings, land):
    """Dagster's freshness check on raw/orders: its data time is the end (store time) of the
    newest landing day loaded, at most freshness_max_days (2) before now."""
    tz = ZoneInfo(settings.store_timezone)
    today = datetime.now(tz).date()
    orders = dg.AssetKey(["raw", "orders"])

    def load_day(day: date) -> tuple[float, bool]:
        land("orders", day.isoformat(), "a.csv", HEADER + ROW.format(n=day.day, d=1))
        result = dg.materialize(
            [*raw_assets, *freshness_checks],
            selection=dg.AssetSelection.assets(orders),
            resources={"warehouse": Warehouse(data_dir=str(settings.data_dir))},
            instance=instance,
        )
        (materialization,) = result.asset_materializations_for_node("raw__orders")
        (check,) = result.get_asset_check_evaluations()
        assert (check.asset_key, check.check_name) == (orders, "freshness_check")
        assert check.severity == dg.AssetCheckSeverity.WARN
        return materialization.metadata["dagster/last_updated_timestamp"].value, check.passed

    with dg.instance_for_test() as instance:
        # files of three days ago: their day ended two days ago at midnight, store time
        data_time, fresh = load_day(today - timedelta(days=3))
        assert data_time == datetime.combine(today - timedelta(days=2), time.min, tz).timestamp()
        assert not fresh
        data_time, fresh = load_day(today - timedelta(days=1))  # yesterday's files arrive
        assert data_time == datetime.combine(today, time.min, tz).timestamp()
        assert fresh
