"""The crm-mart command line on hand-made shops: init, run, status, demo, settings, clean."""

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dagster_project.cli import main
from dagster_project.settings import SHOP_CONFIG

CRM_MART = str(Path(sys.executable).parent / "crm-mart")
# a tiny shop written by hand: C1 pays at 23:30 UTC on 2 November, which is still 2 November
# in London (GMT) but already 07:30 on 3 November in Shanghai (UTC+8); o3 breaks the contract
LANDING = {
    "customers/dt=2024-11-02/customers.csv": (
        "customer_id,registered_at,updated_at,email_opt_in\n"
        "C1,2024-11-01T09:00:00Z,2024-11-01T09:00:00Z,true\n"
        "C2,2024-11-01T10:00:00Z,2024-11-01T10:00:00Z,false\n"
    ),
    "orders/dt=2024-11-03/orders.csv": (
        "order_id,customer_id,status,created_at,paid_at,currency,order_total,updated_at\n"
        "o1,C1,paid,2024-11-02T23:30:00Z,2024-11-02T23:30:00Z,CNY,100.00,2024-11-02T23:30:00Z\n"
        "o2,C2,paid,2024-11-03T10:00:00Z,2024-11-03T10:00:00Z,CNY,80.00,2024-11-03T10:00:00Z\n"
        "o3,C2,paid,2024-11-03T11:00:00Z,2024-11-03T11:00:00Z,CNY,-5.00,2024-11-03T11:00:00Z\n"
    ),
    "orders/dt=2024-11-05/orders.csv": (  # both come back: repeat buyers for the CLV fit
        "order_id,customer_id,status,created_at,paid_at,currency,order_total,updated_at\n"
        "o4,C1,paid,2024-11-04T12:00:00Z,2024-11-04T12:00:00Z,CNY,60.00,2024-11-04T12:00:00Z\n"
        "o5,C2,paid,2024-11-05T09:00:00Z,2024-11-05T09:00:00Z,CNY,120.00,2024-11-05T09:00:00Z\n"
    ),
    "order_items/dt=2024-11-03/items.csv": (
        "order_id,line_number,sku,category,quantity,unit_price,line_total\n"
        "o1,1,SKU1,books,2,50.00,100.00\n"
        "o2,1,SKU2,home,1,80.00,80.00\n"
    ),
    "order_items/dt=2024-11-05/items.csv": (
        "order_id,line_number,sku,category,quantity,unit_price,line_total\n"
        "o4,1,SKU1,books,1,60.00,60.00\n"
        "o5,1,SKU3,home,2,60.00,120.00\n"
    ),
    "sessions/dt=2024-11-02/sessions.csv": (
        "session_id,anonymous_id,customer_id,started_at\nS1,A1,C1,2024-11-02T20:00:00Z\n"
    ),
    "events/dt=2024-11-02/events.csv": (
        "event_id,session_id,anonymous_id,customer_id,event_type,occurred_at\n"
        "E1,S1,A1,C1,product_view,2024-11-02T20:01:00Z\n"
    ),
}


@pytest.fixture(autouse=True)
def _keep_environment(monkeypatch):
    """The commands point CRM_DATA_DIR and DAGSTER_HOME at their data folder: restore both."""
    monkeypatch.setenv("CRM_DATA_DIR", os.environ["CRM_DATA_DIR"])
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def crm_mart(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CRM_DATA_DIR", "DAGSTER_HOME")}
    return subprocess.run(
        [CRM_MART, *args], capture_output=True, text=True, env=env, check=False, timeout=600
    )


def put_files(folder: Path) -> None:
    for name, text in LANDING.items():
        path = folder / "landing" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def first_purchase(folder: Path, customer: str) -> str:
    with duckdb.connect(str(folder / "bi" / "crm_mart.duckdb"), read_only=True) as conn:
        (day,) = conn.execute(
            "select first_purchase_date from marts.customer_facts where customer_id = ?",
            [customer],
        ).fetchone()
    return day.isoformat()


def digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow
def test_two_shops_from_one_checkout_each_cut_days_at_their_own_midnight(tmp_path):
    london, shanghai = tmp_path / "london", tmp_path / "shanghai"
    init = crm_mart("init", str(london), "--timezone", "Europe/London")
    assert init.returncode == 0, init.stderr
    assert "store_timezone: 'Europe/London'" in (london / SHOP_CONFIG).read_text()
    assert sorted(p.name for p in (london / "landing").iterdir()) == [
        "customers", "events", "exchange_rates", "marketing_spend", "order_items", "orders",
        "returns", "sessions",
    ]  # fmt: skip
    assert crm_mart("init", str(shanghai)).returncode == 0  # the default zone, Asia/Shanghai
    for shop in (london, shanghai):
        with (shop / SHOP_CONFIG).open("a", encoding="utf-8") as config:
            config.write("step_max_retries: 0\n")  # a failure fails at once
        put_files(shop)
        waiting = crm_mart("--data-dir", str(shop), "status")
        assert waiting.returncode == 0, waiting.stderr
        assert "  orders           never loaded, 2 file(s) waiting" in waiting.stdout
        run = crm_mart("--data-dir", str(shop), "run")
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        # every landing day (2 to 5 November) in one run, one progress line per step
        assert run.stdout.startswith(
            "Loading new files of 2024-11-02 to 2024-11-05 (landing days up to 2024-11-05; "
        )
        assert "  done    crm_dbt_models (" in run.stdout
        assert "Customers per lifecycle stage on 2024-11-05" in run.stdout
    # o1 at 23:30 UTC on 2 November: 2 November in London, 3 November in Shanghai
    assert first_purchase(london, "C1") == "2024-11-02"
    assert first_purchase(shanghai, "C1") == "2024-11-03"
    assert first_purchase(london, "C2") == first_purchase(shanghai, "C2") == "2024-11-03"
    status = crm_mart("--data-dir", str(london), "status")
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert "Marts as of 2024-11-05." in lines
    (orders,) = [line for line in lines if line.startswith("  orders ")]
    # the last load: o3's negative total quarantined, nothing left waiting
    assert orders.endswith("(days 2024-11-03 to 2024-11-05), 0 file(s) waiting, 1 quarantined")
    (lifecycle,) = [line for line in lines if line.startswith("  marts/customer_lifecycle ")]
    assert "never built" not in lifecycle
    # November 2024 is long before today: the freshness check of each of the five entities
    # every shop delivers warns, with its message
    assert "Failed checks (latest result of each): 5" in lines
    for entity in ("customers", "orders", "order_items", "sessions", "events"):
        assert any(line.startswith(f"  WARN  raw/{entity} freshness_check: ") for line in lines)
    # a new file shows as waiting until the next run loads it
    late = london / "landing" / "orders" / "dt=2024-11-06" / "late.csv"
    late.parent.mkdir()
    late.write_text(LANDING["orders/dt=2024-11-03/orders.csv"].replace("o1,", "o9,"), "utf-8")
    # ... and a file in a misnamed folder as never loaded, with the folder it meant
    stray = london / "landing" / "order" / "dt=2024-11-06" / "a.csv"
    stray.parent.mkdir(parents=True)
    stray.write_text(late.read_text("utf-8"), "utf-8")
    status = crm_mart("--data-dir", str(london), "status").stdout.splitlines()
    (orders,) = [line for line in status if line.startswith("  orders ")]
    assert ", 1 file(s) waiting, " in orders
    at = status.index("Files in the landing zone that are never loaded: 1")
    assert status[at + 1] == (
        "  landing/order/dt=2024-11-06/a.csv: 'order' is not an entity folder: did you mean "
        "'orders'? Move the files to landing/orders/dt=YYYY-MM-DD/"
    )
    runs = status[status.index("Latest runs") + 1 :]
    assert [line.split()[2:] for line in runs] == [["daily_pipeline", "success"]]


def test_the_demo_stops_at_a_landing_zone_holding_a_users_files_and_changes_nothing(
    tmp_path, capsys
):
    shop = tmp_path / "shop"
    put_files(shop)
    before = digests(shop)
    with pytest.raises(SystemExit) as stopped:
        main(["--data-dir", str(shop), "demo"])
    assert stopped.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith(f"crm-mart demo: {shop / 'landing'} holds 7 file(s) the sample-shop")
    assert "Nothing was changed" in error
    assert digests(shop) == before  # every file byte-identical, and no file added
    assert sorted(p.name for p in shop.iterdir()) == ["landing"]


def test_clean_removes_what_the_pipeline_derived_and_keeps_the_landing_zone(tmp_path, capsys):
    shop = tmp_path / "shop"
    put_files(shop)
    (shop / SHOP_CONFIG).write_text("store_timezone: UTC\n", encoding="utf-8")
    for derived in ("warehouse.duckdb", "marts.duckdb", "bi/crm_mart.duckdb",
                    "dagster_home/history/runs.db", "dbt/logs/dbt.log", "exports/x/a.csv"):  # fmt: skip
        (shop / derived).parent.mkdir(parents=True, exist_ok=True)
        (shop / derived).write_text("derived", encoding="utf-8")
    (shop / "notes.txt").write_text("mine", encoding="utf-8")  # not the pipeline's: kept
    kept = {k: v for k, v in digests(shop).items() if k.startswith("landing/")}
    main(["--data-dir", str(shop), "clean"])
    said = capsys.readouterr().out
    assert said.startswith(f"Removed from {shop}: warehouse.duckdb, marts.duckdb, bi, exports, ")
    assert sorted(p.name for p in shop.iterdir()) == ["crm-mart.yml", "landing", "notes.txt"]
    assert {k: v for k, v in digests(shop).items() if k.startswith("landing/")} == kept


def test_a_bad_setting_stops_the_command_naming_the_key_and_the_file(tmp_path, capsys):
    config = tmp_path / SHOP_CONFIG
    config.write_text("store_timezone: Europe/London\nrestate_days: -3\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        main(["--data-dir", str(tmp_path), "run"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        f"crm-mart run: {config}: restate_days: Input should be greater than or equal to 1 "
        "(got -3)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [SHOP_CONFIG]  # nothing ran


def test_run_without_landing_files_says_where_to_put_them(tmp_path, capsys):
    main(["init", str(tmp_path / "shop")])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        main(["--data-dir", str(tmp_path / "shop"), "run"])
    assert stopped.value.code == 1
    assert "no landing files before today" in capsys.readouterr().err


def test_init_creates_dagsters_databases_so_processes_started_together_do_not(tmp_path):
    """Webserver, daemon and a launch opening a new home at once could each stamp Dagster's
    schema history; init (and prepare, and every command) creates it once, with one head."""
    main(["init", str(tmp_path / "shop")])
    home = tmp_path / "shop" / "dagster_home"
    for storage in ("history/runs.db", "schedules/schedules.db"):
        with sqlite3.connect(home / storage) as db:
            assert len(db.execute("select * from alembic_version").fetchall()) == 1, storage
