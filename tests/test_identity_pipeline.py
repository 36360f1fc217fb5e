"""A person with two shop accounts is one customer everywhere: `crm-mart run` on a sample shop
to which a second account of one of its customers was delivered (the same email, written
otherwise) with an order of its own. That person is one row in every customer mart and
score, has one stage on every day, and is in each audience file at most once, under the
first account's id; and the browsing they did before they registered is theirs."""

import csv
import shutil
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from dagster_project.resources import open_warehouse
from dagster_project.sample_shop.generator import ShopConfig, generate
from dagster_project.settings import load_settings
from tests.test_spark import crm_mart

pytestmark = pytest.mark.slow

SHOP = ShopConfig(customers=400, days=200, start=date(2024, 11, 1))  # a churn model: 180+
SECOND = "C09999999"  # the second account
ORDER = "O99999999999"


def deliver(landing: Path, entity: str, day: date, row: dict) -> None:
    folder = landing / entity / f"dt={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "zz_second_account.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)


def test_a_person_with_two_accounts_is_one_customer_in_every_mart_and_file(tmp_path):
    generate(SHOP, tmp_path / "generated")
    data = tmp_path / "shop"
    crm_mart(tmp_path, "init", str(data), "--first-day", SHOP.start.isoformat())
    landing = data / "landing"
    shutil.copytree(tmp_path / "generated" / "landing", landing, dirs_exist_ok=True)
    # the first account: a customer at example.com with email consent, one profile snapshot,
    # registered before the second
    snapshots = [
        row
        for path in sorted((landing / "customers").glob("dt=*/*.csv"))
        for row in csv.DictReader(path.read_text().splitlines())
    ]
    snapshot_count = Counter(r["customer_id"] for r in snapshots)
    day = SHOP.end - timedelta(days=20)
    at = f"{day.isoformat()}T02:00:00Z"
    first = next(
        r for r in snapshots
        if snapshot_count[r["customer_id"]] == 1 and r["email"].endswith("@example.com")
        and r["email_opt_in"] == "true" and r["registered_at"] < at
    )  # fmt: skip
    deliver(landing, "customers", day, {
        "customer_id": SECOND, "email": f" {first['email'].upper()} ", "registered_at": at,
        "email_opt_in": "true", "updated_at": at,
    })  # fmt: skip
    deliver(landing, "orders", day, {
        "order_id": ORDER, "customer_id": SECOND, "status": "paid", "created_at": at,
        "paid_at": at, "currency": "CNY", "order_total": "120.00", "updated_at": at,
    })  # fmt: skip
    deliver(landing, "order_items", day, {
        "order_id": ORDER, "line_number": "1", "sku": "HOM-1001", "category": "home",
        "quantity": "1", "unit_price": "120.00", "line_total": "120.00",
    })  # fmt: skip
    crm_mart(data, "run", "--day", SHOP.end.isoformat())

    person = first["customer_id"]  # loaded and seen first: the person keeps its id
    settings = load_settings(data)
    with open_warehouse(settings, read_only=True) as conn:

        def one(sql: str):
            return conn.execute(sql).fetchone()

        assert conn.execute(
            "select identifier, person_id from intermediate.int_identity_map "
            f"where identifier_kind = 'customer_id' and identifier in ('{person}', '{SECOND}') "
            "order by 1"
        ).fetchall() == [(person, person), (SECOND, person)]
        # the second account's order is the person's, and counts in their facts
        assert one(
            f"select customer_id from intermediate.int_orders_by_person where order_id = '{ORDER}'"
        ) == (person,)
        (orders,) = one(
            "select count(*) from intermediate.int_orders_by_person "
            f"where customer_id = '{person}' and is_sale"
        )
        assert orders >= 2
        # the newest account (the second) gives the profile; the address is the same one
        assert one(
            "select orders, shop_customer_ids, shop_customer_id, is_reachable_by_email, email "
            f"from marts.customer_facts where customer_id = '{person}'"
        ) == (orders, 2, SECOND, True, first["email"].lower())
        # one row in every per-customer mart and score, none under the second account's id
        for table in (
            "marts.customer_facts",
            "marts.customer_rfm",
            "marts.customer_lifecycle",
            "scores.customer_value",
            "scores.customer_churn_risk",
        ):
            rows = dict(
                conn.execute(
                    f"select customer_id, count(*) from {table} "
                    f"where customer_id in ('{person}', '{SECOND}') group by 1"
                ).fetchall()
            )
            assert rows == {person: 1}, table
        # one stage on every day: the spells do not overlap
        (overlaps,) = one(
            "select count(*) from marts.customer_stage_history as a "
            "inner join marts.customer_stage_history as b on a.customer_id = b.customer_id "
            "and a.valid_from < b.valid_from and b.valid_from <= a.valid_to "
            f"where a.customer_id in ('{person}', '{SECOND}')"
        )
        assert overlaps == 0
        assert one(
            f"select count(*) from marts.customer_stage_history where customer_id = '{SECOND}'"
        ) == (0,)
        # browsing before registering: customers known before they registered
        (early,) = one(
            "select count(*) from marts.customer_facts where known_from_date < registered_date"
        )
        assert early > 10

    # every audience file: each person at most once, no second account's id
    files = sorted(settings.exports_dir.glob("*/*/audience.csv"))
    assert files
    for path in files:
        with path.open() as f:
            ids = [row["customer_id"] for row in csv.DictReader(f) if "customer_id" in row]
        assert len(ids) == len(set(ids)), path
        assert SECOND not in ids, path
