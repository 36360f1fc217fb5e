"""Hand-built customer marts: just the columns the campaign assets read, one dict per customer."""

from datetime import date

import duckdb

FACTS = {
    "customer_id": "varchar", "as_of_date": "date", "registered_date": "date",
    "member_tier": "varchar", "favourite_category": "varchar",
    "days_since_last_purchase": "integer", "tier_net_revenue": "decimal(18,2)",
    "has_downgrade_risk": "boolean", "birth_date": "date", "gender": "varchar",
    "city_tier": "integer", "email": "varchar", "has_valid_email": "boolean",
    "phone_e164": "varchar", "email_opt_in": "boolean", "sms_opt_in": "boolean",
    "push_opt_in": "boolean",
}  # fmt: skip
LIFECYCLE = {"customer_id": "varchar", "lifecycle_stage": "varchar", "customer_type": "varchar"}
DEFAULTS = {
    "registered_date": date(2025, 1, 1), "member_tier": "basic", "favourite_category": "shoes",
    "days_since_last_purchase": 20, "tier_net_revenue": 100, "has_downgrade_risk": False,
    "gender": "F", "city_tier": 1, "has_valid_email": True, "email_opt_in": True,
    "sms_opt_in": True, "push_opt_in": True, "lifecycle_stage": "active", "customer_type": "new",
    "rfm_group": "general_develop",
}  # fmt: skip


def customer(customer_id: str, **attributes: object) -> dict:
    return {
        "customer_id": customer_id,
        "email": f"{customer_id}@example.com",
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
    """marts.customer_facts/lifecycle/rfm as of `day`, and staging events (customer, type, UTC
    time) and purchases (customer, paid UTC time)."""
    conn.execute("create schema if not exists staging")  # (marts: open_warehouse makes it)
    conn.execute(f"create or replace table marts.customer_facts ({', '.join(f'{c} {t}' for c, t in FACTS.items())})")  # fmt: skip
    conn.execute(f"create or replace table marts.customer_lifecycle ({', '.join(f'{c} {t}' for c, t in LIFECYCLE.items())})")  # fmt: skip
    conn.execute(
        "create or replace table marts.customer_rfm (customer_id varchar, rfm_group varchar)"
    )
    conn.execute("create or replace table staging.stg_shop__events (customer_id varchar, event_type varchar, occurred_at timestamp)")  # fmt: skip
    conn.execute("create or replace table staging.stg_shop__orders (customer_id varchar, is_purchase boolean, paid_at timestamp)")  # fmt: skip
    rows = [{**DEFAULTS, **c, "as_of_date": day} for c in customers]
    if rows:
        conn.executemany(
            f"insert into marts.customer_facts values ({', '.join('?' for _ in FACTS)})",
            [[r.get(col) for col in FACTS] for r in rows],
        )
        conn.executemany(
            "insert into marts.customer_lifecycle values (?, ?, ?)",
            [[r["customer_id"], r["lifecycle_stage"], r["customer_type"]] for r in rows],
        )
    ranked = [[r["customer_id"], r["rfm_group"]] for r in rows if r["rfm_group"]]
    if ranked:
        conn.executemany("insert into marts.customer_rfm values (?, ?)", ranked)
    for row in events:
        conn.execute("insert into staging.stg_shop__events values (?, ?, ?)", list(row))
    for customer_id, paid_at in purchases:
        conn.execute(
            "insert into staging.stg_shop__orders values (?, true, ?)", [customer_id, paid_at]
        )
