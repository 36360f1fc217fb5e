"""The day's audiences: catalogue conditions, consent, control arm, cooldown, caps, priorities.

Everything runs as SQL in the warehouse. For the as-of day D of the marts it writes
`activate.campaign_audience` (the members, both arms, of every campaign due on D) and
`activate.campaign_funnel` (how many customers each rule left), replacing D's rows.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from dagster_project.activate.catalogue import Campaign
from dagster_project.ingest.loader import lit, one
from dagster_project.resources import table_exists
from dagster_project.score import RISK_TABLE
from dagster_project.settings import Settings

SCHEMA = "activate"

# the opt-in that allows each channel, and the address it needs
CONSENT = {
    "email": "b.is_reachable_by_email",
    "sms": "b.is_reachable_by_sms",
    "push": "b.is_reachable_by_push",
    "customer_match": "b.is_reachable_by_email",
}


def control_fraction_sql(campaign_id: str, customer_id: str) -> str:
    """A number in [0, 1) from md5(campaign id:customer id): the same on every run and engine."""
    digest = f"md5({campaign_id} || ':' || {customer_id})"
    return f"cast(('0x' || left({digest}, 8)) as ubigint) / 4294967296.0"


def arm_sql(campaign: Campaign, customer_id: str) -> str:
    """'control' when the customer's control fraction is below the campaign's control share."""
    fraction = control_fraction_sql(lit(campaign.id), customer_id)
    return f"case when {fraction} < {campaign.control_share} then 'control' else 'treatment' end"


def ensure_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"create schema if not exists {SCHEMA}")
    conn.execute(
        f"""
        create table if not exists {SCHEMA}.contact_log (
            campaign_id varchar not null, customer_id varchar not null, arm varchar not null,
            send_date date not null, channel varchar not null, logged_at timestamp not null
        )
        """
    )
    conn.execute(
        f"""
        create table if not exists {SCHEMA}.campaign_audience (
            send_date date not null, campaign_id varchar not null, channel varchar not null,
            customer_id varchar not null, arm varchar not null, priority integer not null,
            lifecycle_stage varchar
        )
        """
    )
    conn.execute(
        f"""
        create table if not exists {SCHEMA}.campaign_funnel (
            send_date date not null, campaign_id varchar not null, channel varchar not null,
            is_due boolean not null, qualified bigint, consented bigint, after_cooldown bigint,
            within_caps bigint, selected bigint, treatment bigint, control bigint
        )
        """
    )


# the funnel's counts after each rule, in order (activate.campaign_funnel, from `qualified`)
FUNNEL_STEPS = (
    "qualified", "with consent", "after cooldown", "within caps", "selected", "treatment",
    "control",
)  # fmt: skip


def funnel_text(counts: tuple | list) -> str:
    """The counts of a campaign's funnel row after is_due, in words: '53 qualified, 0 with
    consent, ...'."""
    return ", ".join(f"{n:,} {step}" for step, n in zip(FUNNEL_STEPS, counts, strict=True))


def emptied_by_consent(funnel: list[tuple]) -> list[str]:
    """The due campaigns whose qualified customers all lacked consent for the channel, each
    with its funnel in words."""
    return [
        f"{cid} ({channel}): {funnel_text(counts)}: nobody qualified has consent for {channel}"
        for _, cid, channel, due, *counts in funnel
        if due and counts[0] > 0 and counts[1] == 0
    ]


def as_of_date(conn: duckdb.DuckDBPyConnection) -> date:
    """D of the customer marts the audiences are read from."""
    (day,) = one(conn, "select max(as_of_date) from marts.customer_facts")
    if day is None:
        raise RuntimeError(
            "marts.customer_facts is empty: load data and build the dbt models before the "
            "campaigns."
        )
    return day


def audience_base_sql(settings: Settings, with_churn_risk: bool) -> str:
    """One row per known customer with every attribute a condition, consent or field reads."""
    churn_join = (
        f"left join {RISK_TABLE} as k on f.customer_id = k.customer_id" if with_churn_risk else ""
    )
    churn_col = "k.churn_probability" if with_churn_risk else "cast(null as double)"
    return f"""
        select
            f.customer_id,
            f.as_of_date,
            l.lifecycle_stage,
            coalesce(l.customer_type, 'prospect') as customer_type,
            r.rfm_group,
            f.member_tier,
            f.favourite_category,
            f.days_since_last_purchase,
            f.days_since_registration,
            f.amount_to_next_tier,
            f.has_downgrade_risk,
            {churn_col} as churn_risk,
            f.birth_date,
            f.gender,
            f.city_tier,
            f.shop_customer_id,
            f.push_customer_id,
            f.email,
            f.email_key,
            f.has_valid_email,
            f.phone_e164 as phone,
            f.is_reachable_by_email,
            f.is_reachable_by_sms,
            f.is_reachable_by_push
        from marts.customer_facts as f
        inner join marts.customer_lifecycle as l on f.customer_id = l.customer_id
        left join marts.customer_rfm as r on f.customer_id = r.customer_id
        {churn_join}
    """


def _store_day_end_utc(settings: Settings, day: date) -> datetime:
    """The end of store day D as a naive UTC timestamp (raw timestamps are UTC)."""
    local = datetime.combine(
        day + timedelta(days=1), time(), tzinfo=ZoneInfo(settings.store_timezone)
    )
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def condition_sql(key: str, value: Any, settings: Settings, day: date) -> str:
    """One catalogue condition as a SQL predicate on the audience base `b`."""
    if isinstance(value, list):
        return f"b.{key} in ({', '.join(lit(v) for v in value)})"
    if key == "has_downgrade_risk":
        return f"b.has_downgrade_risk = {str(value).lower()}"
    if key == "birthday_in_next_days":
        # the next birthday on or after D (29 February falls on the 28th in other years)
        this_year = "cast(b.birth_date + to_years(year(b.as_of_date) - year(b.birth_date)) as date)"
        next_year = (
            "cast(b.birth_date + to_years(year(b.as_of_date) - year(b.birth_date) + 1) as date)"
        )
        upcoming = f"case when {this_year} >= b.as_of_date then {this_year} else {next_year} end"
        return f"date_diff('day', b.as_of_date, {upcoming}) <= {int(value)}"
    if key == "event_in_last_hours":
        end = _store_day_end_utc(settings, day)
        start = end - timedelta(hours=int(value["hours"]))
        window = f"timestamp '{start}' < e.occurred_at and e.occurred_at <= timestamp '{end}'"
        no_purchase = (
            "and not exists (select 1 from intermediate.int_orders_by_person as o "
            "where o.customer_id = e.customer_id and o.is_purchase "
            f"and o.paid_at >= e.occurred_at and o.paid_at <= timestamp '{end}')"
            if value.get("without_purchase")
            else ""
        )
        return (
            "exists (select 1 from intermediate.int_events_by_person as e "
            f"where e.customer_id = b.customer_id and e.event_type = {lit(value['type'])} "
            f"and {window} {no_purchase})"
        )
    bounds = []
    if "min" in value:
        bounds.append(f"b.{key} >= {value['min']}")
    if "max" in value:
        bounds.append(f"b.{key} <= {value['max']}")
    return " and ".join(bounds)


def is_due(campaign: Campaign, settings: Settings, day: date) -> bool:
    return campaign.schedule == "daily" or day.isoweekday() == int(
        settings.vars["campaign_weekly_weekday"]
    )


def _stage_cap_sql(settings: Settings) -> str:
    weekly = int(settings.vars["contact_cap_per_7_days"])
    by_stage = settings.vars.get("contact_cap_per_7_days_by_stage") or {}
    cases = " ".join(f"when {lit(stage)} then {int(cap)}" for stage, cap in by_stage.items())
    return (
        f"least({weekly}, case c.lifecycle_stage {cases} else {weekly} end)"
        if cases
        else str(weekly)
    )


def _candidates_sql(campaign: Campaign, settings: Settings, day: date) -> str:
    """The campaign's qualifying customers, with consent and arm (not yet capped)."""
    conditions = " and ".join(
        f"({condition_sql(key, value, settings, day)})" for key, value in campaign.audience.items()
    )
    return f"""
        select {lit(campaign.id)} as campaign_id, {lit(campaign.channel)} as channel,
            {campaign.priority} as priority, {campaign.cooldown_days} as cooldown_days,
            b.customer_id, b.lifecycle_stage,
            coalesce({CONSENT[campaign.channel]}, false) as has_consent,
            {arm_sql(campaign, "b.customer_id")} as arm
        from audience_base as b
        where {conditions}
    """


def select_audiences(
    conn: duckdb.DuckDBPyConnection, settings: Settings, campaigns: list[Campaign]
) -> tuple[date, list[tuple]]:
    """Compute D's audiences of every due campaign; returns D and the funnel rows."""
    ensure_tables(conn)
    day = as_of_date(conn)
    uses_churn = [c.id for c in campaigns if "churn_risk" in c.audience]
    if uses_churn and not table_exists(conn, RISK_TABLE):
        raise RuntimeError(
            f"Campaign(s) {', '.join(uses_churn)} filter on churn_risk, but {RISK_TABLE} does "
            "not exist yet: build the churn model first, or remove the condition."
        )
    due = [c for c in campaigns if is_due(c, settings, day)]
    d = f"date '{day}'"
    conn.execute(
        "create or replace temp view audience_base as "
        + audience_base_sql(settings, with_churn_risk=bool(uses_churn))
    )
    candidates = [_candidates_sql(c, settings, day) for c in due]
    empty = (
        "select null::varchar as campaign_id, null::varchar as channel, null::integer as priority, "
        "null::integer as cooldown_days, null::varchar as customer_id, "
        "null::varchar as lifecycle_stage, null::boolean as has_consent, null::varchar as arm "
        "where false"
    )
    conn.execute(
        f"create or replace temp table candidates as {' union all '.join(candidates) or empty}"
    )
    daily_cap = int(settings.vars["contact_cap_per_day"])
    conn.execute(
        f"""
        create or replace temp table flagged as
        with last_contact as (
            select campaign_id, customer_id, max(send_date) as last_send_date
            from {SCHEMA}.contact_log where send_date < {d} group by campaign_id, customer_id
        ),
        recent as (
            select customer_id, channel, count(*) as contacts
            from {SCHEMA}.contact_log
            where send_date between {d} - 6 and {d} - 1
            group by customer_id, channel
        ),
        flagged as (
            select
                c.*,
                coalesce(date_diff('day', lc.last_send_date, {d}) < c.cooldown_days, false)
                    as in_cooldown,
                coalesce(r.contacts, 0) as recent_contacts,
                {_stage_cap_sql(settings)} as cap_7_days
            from candidates as c
            left join last_contact as lc
                on c.campaign_id = lc.campaign_id and c.customer_id = lc.customer_id
            left join recent as r on c.customer_id = r.customer_id and c.channel = r.channel
        ),
        eligible as (
            select
                *,
                has_consent and not in_cooldown and recent_contacts < cap_7_days as is_eligible
            from flagged
        ),
        ranked as (
            select
                *,
                case when is_eligible then
                    row_number() over (
                        partition by customer_id, channel, is_eligible
                        order by priority, campaign_id
                    )
                end as rank_today
            from eligible
        )
        select
            *,
            coalesce(rank_today <= least({daily_cap}, cap_7_days - recent_contacts), false)
                as selected
        from ranked
        """
    )
    conn.execute("begin")
    try:
        conn.execute(f"delete from {SCHEMA}.campaign_audience where send_date = {d}")
        conn.execute(f"delete from {SCHEMA}.campaign_funnel where send_date = {d}")
        conn.execute(
            f"""
            insert into {SCHEMA}.campaign_audience
            select {d}, campaign_id, channel, customer_id, arm, priority, lifecycle_stage
            from flagged where selected
            """
        )
        catalogue = ", ".join(
            f"({lit(c.id)}, {lit(c.channel)}, {str(is_due(c, settings, day)).lower()})"
            for c in campaigns
        )
        conn.execute(
            f"""
            insert into {SCHEMA}.campaign_funnel
            select {d}, catalogue.campaign_id, catalogue.channel, catalogue.is_due,
                count(f.campaign_id), count(*) filter (where f.has_consent),
                count(*) filter (where f.has_consent and not f.in_cooldown),
                count(*) filter (where f.is_eligible),
                count(*) filter (where f.selected),
                count(*) filter (where f.selected and f.arm = 'treatment'),
                count(*) filter (where f.selected and f.arm = 'control')
            from (values {catalogue}) as catalogue (campaign_id, channel, is_due)
            left join flagged as f on catalogue.campaign_id = f.campaign_id
            group by catalogue.campaign_id, catalogue.channel, catalogue.is_due
            """
        )
        conn.execute("commit")
    except Exception:
        conn.execute("rollback")
        raise
    funnel = conn.execute(
        f"select * from {SCHEMA}.campaign_funnel where send_date = {d} order by campaign_id"
    ).fetchall()
    return day, funnel
