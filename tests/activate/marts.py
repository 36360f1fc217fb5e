"""Hand-built customer marts: just the columns the campaign assets read, one dict per customer."""

from datetime import date

import duckdb
import pyarrow as pa

FACTS = {
    "customer_id": "varchar", "as_of_date": "date", "registered_date": "date",
    "member_tier": "varchar", "favourite_category": "varchar",
    "days_since_last_purchase": "integer", "tier_net_revenue": "decimal(18,2)",
    "has_downgrade_risk": "boolean", "birth_date": "date", "gender": "varchar",
    "city_tier": "integer", "email": "varchar", "email_key": "varchar",
    "has_valid_email": "boolean", "shop_customer_id": "varchar", "push_customer_id": "varchar",
    "phone_e164": "varchar", "days_since_registration": "integer",
    "amount_to_next_tier": "decimal(18,2)", "is_reachable_by_email": "boolean",
    "is_reachable_by_sms": "boolean", "is_reachable_by_push": "boolean",
}  # fmt: skip
LIFECYCLE = {"customer_id": "varchar", "lifecycle_stage": "varchar", "customer_type": "varchar"}
DEFAULTS = {
    "registered_date": date(2025, 1, 1), "member_tier": "basic", "favourite_category": "shoes",
    "days_since_last_purchase": 20, "tier_net_revenue": 100, "has_downgrade_risk": False,
    "gender": "F", "city_tier": 1, "has_valid_email": True, "days_since_registration": 100,
    "amount_to_next_tier": 400, "is_reachable_by_email": True, "is_reachable_by_sms": True,
    "is_reachable_by_push": True, "lifecycle_stage": "active", "customer_type": "new",
    "rfm_group": "general_develop",
}  # fmt: skip
# (customer_facts computes days_since_registration, amount_to_next_tier and who is reachable
# on which channel: its dbt unit test checks that; here they are given)


def customer(customer_id: str, **attributes: object) -> dict:
    return {
        "customer_id": customer_id,
        "shop_customer_id": customer_id,
        "push_customer_id": customer_id,
        "email": f"{customer_id}@example.com",
        "email_key": f"{customer_id}@example.com".lower(),
        "phone_e164": "+8613800138000",
        **DEFAULTS,
        **attributes,
    }


def build_marts(
    conn: duckdb.DuckDBPyConnection,
    customers: list[dict],
    day: date,
    events: list[tuple] = (),
    purchases: list[tuple] = (),
) -> None:
    """marts.customer_facts/lifecycle/rfm as of `day`, and the persons' events (customer, type,
    UTC time) and purchases (customer, paid UTC time)."""
    conn.execute("create schema if not exists intermediate")  # (marts: open_warehouse makes it)
    conn.execute(f"create or replace table marts.customer_facts ({', '.join(f'{c} {t}' for c, t in FACTS.items())})")  # fmt: skip
    conn.execute(f"create or replace table marts.customer_lifecycle ({', '.join(f'{c} {t}' for c, t in LIFECYCLE.items())})")  # fmt: skip
    conn.execute(
        "create or replace table marts.customer_rfm (customer_id varchar, rfm_group varchar)"
    )
    conn.execute("create or replace table intermediate.int_events_by_person (customer_id varchar, event_type varchar, occurred_at timestamp)")  # fmt: skip
    conn.execute("create or replace table intermediate.int_orders_by_person (customer_id varchar, is_purchase boolean, paid_at timestamp)")  # fmt: skip
    rows = [{**DEFAULTS, **c, "as_of_date": day} for c in customers]
    insert(conn, "marts.customer_facts", list(FACTS), [[r.get(c) for c in FACTS] for r in rows])
    insert(
        conn,
        "marts.customer_lifecycle",
        list(LIFECYCLE),
        [[r["customer_id"], r["lifecycle_stage"], r["customer_type"]] for r in rows],
    )
    ranked = [[r["customer_id"], r["rfm_group"]] for r in rows if r["rfm_group"]]
    insert(conn, "marts.customer_rfm", ["customer_id", "rfm_group"], ranked)
    insert(
        conn,
        "intermediate.int_events_by_person",
        ["customer_id", "event_type", "occurred_at"],
        events,
    )
    insert(
        conn,
        "intermediate.int_orders_by_person",
        ["customer_id", "is_purchase", "paid_at"],
        [(customer_id, True, paid_at) for customer_id, paid_at in purchases],
    )


def insert(conn: duckdb.DuckDBPyConnection, table: str, columns: list[str], rows: list) -> None:
    """All rows in one statement (DuckDB inserts row by row slowly: seconds per thousand)."""
    if not rows:
        return
    frame = pa.table({c: [row[i] for row in rows] for i, c in enumerate(columns)})
    conn.register("__rows", frame)
    try:
        conn.execute(f"insert into {table} ({', '.join(columns)}) select * from __rows")
    finally:
        conn.unregister("__rows")
