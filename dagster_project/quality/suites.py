"""The great-expectations suites of crm-mart and the rows each one reads.

Raw entities (per landing file):
- contract (ERROR): the data contract again on the rows loaded since the suite last passed
  (required values, enums, ranges, currency codes, timestamps between
  earliest_plausible_date and now, one row per key in a file), and the file ledger (rows
  read = loaded + quarantined, the tables hold exactly those rows, the share of broken rows
  quarantined at most `quarantine_error_share`: credit notes in the orders file are
  quarantined but not broken);
- plausibility (WARN): timestamps in order, totals below `order_total_warn_max`,
  quarantined share at most `quarantine_warn_share`, and no key delivered with different
  content in two files (conflicting deliveries, listed with their files).
Marts (ERROR): a row count that has not dropped by more than `mart_max_row_drop_share` since
the last good run; for the tables Python writes (customer_value, customer_churn_risk), which
dbt does not test, their values in range too. The dbt marts' values are dbt tests. Freshness
(WARN): the newest data is at most `freshness_max_days` old.

Rows are validated in frames of at most `gx_chunk_rows` (files never split across frames), so
a big table never sits whole in pandas; a first load above `gx_max_rows_per_run` new rows is
validated on a deterministic sample of that size (the loader has checked every row already).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb

from dagster_project.ingest.contract import CREDIT_NOTE_HINT, CURRENCY, ENUM, TIMESTAMP, Entity
from dagster_project.ingest.loader import RAW_SCHEMA, ensure_tables, lit, one, q
from dagster_project.quality.gx import Outcome, validate_chunks, validate_frame
from dagster_project.resources import table_exists
from dagster_project.settings import Settings

if TYPE_CHECKING:  # pandas is imported by the code that makes frames, when it runs
    import pandas as pd

SCHEMA = "quality"
AS_OF_TABLE = "intermediate.int_as_of_date"  # D of the marts
CONTRACT, PLAUSIBILITY = "contract", "plausibility"


def ensure_quality_tables(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(f"create schema if not exists {SCHEMA}")
    conn.execute(
        f"create table if not exists {SCHEMA}.validated_through (entity varchar, suite varchar, "
        "loaded_at timestamp, primary key (entity, suite))"
    )
    conn.execute(
        f"create table if not exists {SCHEMA}.row_counts (table_name varchar primary key, "
        "row_count bigint, as_of_date date, counted_at timestamp)"
    )


def combine(*outcomes: Outcome) -> Outcome:
    """Two suites of one check as one outcome."""
    return Outcome(
        success=all(o.success for o in outcomes), results=[r for o in outcomes for r in o.results]
    )


# --- raw entities ------------------------------------------------------------------------


def _at_least(a: str, b: str) -> Any:
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=a, column_B=b, or_equal=True, ignore_row_if="either_value_is_missing"
    )


def contract_expectations(entity: Entity, settings: Settings, now_utc: datetime) -> list[Any]:
    import great_expectations.expectations as gxe

    future_limit = now_utc.replace(tzinfo=None) + timedelta(hours=settings.future_tolerance_hours)
    earliest = datetime.combine(settings.earliest_plausible_date, datetime.min.time())
    rules: list[Any] = [
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["_source_file", *entity.key])
    ]
    for c in entity.columns:
        if c.required:
            rules.append(gxe.ExpectColumnValuesToNotBeNull(column=c.name))
        if c.kind == ENUM:
            rules.append(gxe.ExpectColumnValuesToBeInSet(column=c.name, value_set=list(c.values)))
        if c.kind == CURRENCY:
            rules.append(gxe.ExpectColumnValuesToMatchRegex(column=c.name, regex="^[A-Z]{3}$"))
        if c.min is not None or c.max is not None:
            rules.append(
                gxe.ExpectColumnValuesToBeBetween(column=c.name, min_value=c.min, max_value=c.max)
            )
        if c.kind == TIMESTAMP and c.required:  # (per row it costs seconds per million)
            rules.append(gxe.ExpectColumnMaxToBeBetween(column=c.name, max_value=future_limit))
            rules.append(gxe.ExpectColumnMinToBeBetween(column=c.name, min_value=earliest))
    rules += [_at_least(*r.at_least) for r in entity.rules if r.at_least]
    return rules


def plausibility_expectations(entity: Entity, settings: Settings) -> list[Any]:
    import great_expectations.expectations as gxe

    return {
        "customers": [_at_least("updated_at", "registered_at")],
        "orders": [
            _at_least("paid_at", "created_at"),
            _at_least("updated_at", "created_at"),
            gxe.ExpectColumnValuesToBeBetween(
                column="order_total", max_value=float(settings.vars["order_total_warn_max"])
            ),
        ],
        "sessions": [_at_least("ended_at", "started_at")],
    }.get(entity.name, [])


def _columns_of(expectations: list[Any]) -> list[str]:
    names: list[str] = []
    for e in expectations:
        kwargs = e.configuration.kwargs
        found = kwargs.get("column_list") or [
            kwargs[k] for k in ("column", "column_A", "column_B") if kwargs.get(k)
        ]
        names += [n for n in found if n not in names]
    return names


def _watermark(conn: duckdb.DuckDBPyConnection, entity: Entity, suite: str) -> datetime:
    row = conn.execute(
        f"select loaded_at from {SCHEMA}.validated_through where entity = ? and suite = ?",
        [entity.name, suite],
    ).fetchone()
    return row[0] if row else datetime(1970, 1, 1)


def _new_row_frames(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    entity: Entity,
    since: datetime,
    columns: list[str],
) -> tuple[Iterator[pd.DataFrame], dict[str, Any]]:
    """Frames of the rows loaded after `since`, whole files each, and what was read."""
    table = f"{RAW_SCHEMA}.{entity.name}"
    files = conn.execute(
        f"select _source_file, count(*), max(_loaded_at) from {table} "
        "where _loaded_at > ? group by 1 order by 1",
        [since],
    ).fetchall()
    new_rows = sum(n for _, n, _ in files)
    cap, chunk = int(settings.vars["gx_max_rows_per_run"]), int(settings.vars["gx_chunk_rows"])
    share = min(1.0, cap / new_rows) if new_rows else 1.0
    sample = f"and hash(_source_file, _row_number) % 1000000 < {share * 1e6:.0f}"
    if share >= 1:
        sample = ""
    groups: list[list[str]] = []
    size = 0
    for path, n, _ in files:
        if not groups or size + n * share > chunk:
            groups.append([])
            size = 0
        groups[-1].append(path)
        size += n * share
    select = ", ".join(q(c) for c in columns)

    def frames() -> Iterator[pd.DataFrame]:
        # the rows to validate are picked out in one scan of the table, not one per frame
        conn.execute(
            f"create or replace temp table __gx_new_rows as select {select} from {table} "
            f"where _loaded_at > ? {sample}",
            [since],
        )
        try:
            for group in groups:
                paths = ", ".join(lit(p) for p in group)
                yield conn.execute(
                    f"select * from __gx_new_rows where _source_file in ({paths})"
                ).df()
        finally:
            conn.execute("drop table if exists __gx_new_rows")

    facts = {
        "new_rows": new_rows,
        "files_with_new_rows": len(files),
        "rows_validated": round(new_rows * share) if share < 1 else new_rows,
        "newest_loaded_at": max((t for _, _, t in files), default=None),
        "sampled": share < 1,
    }
    return frames(), facts


def ledger_frame(
    conn: duckdb.DuckDBPyConnection, entity: Entity, min_rows: int, broken_only: bool = False
) -> pd.DataFrame:
    """Per file: the ledger's counts next to what the raw and quarantine tables hold.
    `broken_only`: the quarantined share leaves out rows quarantined only for being a credit
    note in the orders file (a document in the wrong place, not a broken row)."""
    ensure_tables(conn, entity)
    return conn.execute(
        f"""
        with in_raw as (
            select _source_file as source_file, count(*) as n
            from {RAW_SCHEMA}.{entity.name} group by 1
        ),
        in_quarantine as (
            select source_file, count(*) as n,
                count(*) filter (
                    where reason like '%(' || $hint || ')' and reason not like '%; %'
                ) as misplaced
            from {RAW_SCHEMA}.quarantine where entity = $entity group by 1
        ),
        ledger as (
            select * from {RAW_SCHEMA}.file_ledger
            where entity = $entity and status = 'loaded' and replaced_at is null
        )
        select
            coalesce(l.source_file, r.source_file, q.source_file) as source_file,
            l.rows_read,
            l.rows_loaded + l.rows_quarantined as rows_loaded_or_quarantined,
            l.rows_loaded,
            coalesce(r.n, 0) as rows_in_raw_table,
            l.rows_quarantined,
            coalesce(q.n, 0) as rows_in_quarantine_table,
            -- judged on files big enough for a share to mean something
            case when l.rows_read >= $min_rows then
                (
                    l.rows_quarantined
                    - case when $broken_only then coalesce(q.misplaced, 0) else 0 end
                ) / l.rows_read
            end as quarantined_share
        from ledger as l
        full join in_raw as r on r.source_file = l.source_file
        full join in_quarantine as q on q.source_file = coalesce(l.source_file, r.source_file)
        order by 1
        """,
        {
            "entity": entity.name,
            "min_rows": min_rows,
            "hint": CREDIT_NOTE_HINT,
            "broken_only": broken_only,
        },
    ).df()


def validate_conflicts(conn: duckdb.DuckDBPyConnection, entity: Entity, since: datetime) -> Outcome:
    """The same key delivered in two or more files with different content, for the keys of
    the rows loaded after `since`: one row per content, with the files that hold it. Staging
    keeps the later delivery; this names both files."""
    import great_expectations.expectations as gxe

    keys = ", ".join(q(k) for k in entity.key)
    content = ", ".join(q(c.name) for c in entity.columns if c.name not in entity.key)
    table = f"{RAW_SCHEMA}.{entity.name}"
    # only keys with more than one row can conflict: find those first, then compare the
    # content of just those (hashing every row of a first load took 40 s for 61M events)
    (first_load,) = one(conn, f"select coalesce(min(_loaded_at) > ?, true) from {table}", [since])
    touched = (
        ""
        if first_load
        else (f"where ({keys}) in (select {keys} from {table} where _loaded_at > $since)")
    )
    frame = conn.execute(
        f"""
        with repeated as (
            select {keys} from {table} {touched} group by {keys} having count(*) > 1
        ),
        versions as (
            select {keys}, hash({content}) as content, _source_file
            from {table}
            where ({keys}) in (select {keys} from repeated)
        ),
        conflicting as (
            select {keys} from versions group by {keys} having count(distinct content) > 1
        )
        select {keys}, string_agg(distinct _source_file, ', ' order by _source_file) as files
        from versions
        where ({keys}) in (select {keys} from conflicting)
        group by {keys}, content
        order by {keys}, files
        """,
        {} if first_load else {"since": since},
    ).df()
    if frame.empty:
        return Outcome(success=True, results=[])
    for column in entity.key:  # GX compares the key as text: timestamps as delivered
        frame[column] = frame[column].astype(str)
    rule = gxe.ExpectCompoundColumnsToBeUnique(column_list=list(entity.key))
    return validate_frame(frame, f"{entity.name}_conflicts", [rule], ["files"])


def ledger_expectations(max_quarantined_share: float, reconcile: bool) -> list[Any]:
    import great_expectations.expectations as gxe

    rules: list[Any] = []
    if reconcile:
        rules += [
            gxe.ExpectColumnValuesToNotBeNull(column="rows_read"),  # a file missing from it
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="rows_read", column_B="rows_loaded_or_quarantined"
            ),
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="rows_loaded", column_B="rows_in_raw_table"
            ),
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A="rows_quarantined", column_B="rows_in_quarantine_table"
            ),
        ]
    rules.append(
        gxe.ExpectColumnValuesToBeBetween(
            column="quarantined_share", min_value=0, max_value=max_quarantined_share
        )
    )
    return rules


def validate_ledger(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    entity: Entity,
    max_share: float,
    reconcile: bool = True,
) -> Outcome:
    frame = ledger_frame(
        conn, entity, int(settings.vars["quarantine_share_min_rows"]), broken_only=reconcile
    )
    if frame.empty:
        return Outcome(success=True, results=[])
    rules = ledger_expectations(max_share, reconcile)
    return validate_frame(frame, f"{entity.name}_ledger", rules, ["source_file"])


def validate_raw(
    conn: duckdb.DuckDBPyConnection, settings: Settings, entity: Entity, suite: str
) -> tuple[Outcome, dict[str, Any]]:
    """Run the entity's suite on the rows loaded since it last passed; move that mark on when
    it passes (a WARN suite moves it on anyway: its findings were shown once)."""
    ensure_tables(conn, entity)
    ensure_quality_tables(conn)
    if suite == CONTRACT:
        rules = contract_expectations(entity, settings, datetime.now(UTC))
        share = float(settings.vars["quarantine_error_share"])
    else:
        rules = plausibility_expectations(entity, settings)
        share = float(settings.vars["quarantine_warn_share"])
    since = _watermark(conn, entity, suite)
    ids = ["_source_file", "_row_number"]
    columns = [*ids, *(c for c in _columns_of(rules) if c not in ids)]
    frames, facts = _new_row_frames(conn, settings, entity, since, columns)
    rows = validate_chunks(frames, f"{entity.name}_{suite}", rules, ids) if rules else None
    outcome = combine(
        *([rows] if rows else []),
        validate_ledger(conn, settings, entity, share, reconcile=suite == CONTRACT),
        *([validate_conflicts(conn, entity, since)] if suite == PLAUSIBILITY else []),
    )
    if facts["newest_loaded_at"] is not None and (outcome.success or suite != CONTRACT):
        conn.execute(
            f"insert or replace into {SCHEMA}.validated_through values (?, ?, ?)",
            [entity.name, suite, facts["newest_loaded_at"]],
        )
    return outcome, {**facts, "validated_rows_loaded_after": since}


# --- marts -----------------------------------------------------------------------------------


def _in_set(column: str, values: list[Any]) -> Any:
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=values)


def _between(column: str, low: Any, high: Any) -> Any:
    import great_expectations.expectations as gxe

    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)


@dataclass(frozen=True)
class MartSuite:
    """A mart's blocking check: its row count against the last good run's (what dbt's tests
    cannot see), and for the tables Python writes, which dbt does not test, their values."""

    table: str  # schema.table in the warehouse
    columns: str = ""  # the select list the expectations read
    where: str = "true"  # which rows they apply to
    expectations: Callable[[Settings], list[Any]] = lambda settings: []


MART_SUITES: dict[str, MartSuite] = {
    s.table: s
    for s in (
        # dbt models: their values are dbt tests (known stages and tiers, scores 1-5, rates
        # in [0, 1]); the check keeps their row counts
        MartSuite("marts.customer_lifecycle"),
        MartSuite("marts.customer_rfm"),
        MartSuite("marts.kpi_weekly_monitor"),
        MartSuite("marts.kpi_retention"),
        MartSuite(
            "scores.customer_value",
            "probability_alive, predicted_clv",
            "true",
            lambda settings: [
                _between("probability_alive", 0, 1),
                _between("predicted_clv", 0, None),
            ],
        ),
        MartSuite(
            "scores.customer_churn_risk",
            "churn_probability, risk_band",
            "true",
            lambda settings: [
                _between("churn_probability", 0, 1),
                _in_set("risk_band", [b["band"] for b in settings.vars["churn_risk_bands"]]),
            ],
        ),
    )
}


def validate_mart(
    conn: duckdb.DuckDBPyConnection, settings: Settings, suite: MartSuite
) -> tuple[Outcome, dict[str, Any]]:
    """The mart's expectations, chunk by chunk, and its row count against the last good run's."""
    ensure_quality_tables(conn)
    if not table_exists(conn, suite.table):
        return Outcome(success=True, results=[]), {"note": f"{suite.table} is not built yet"}
    (rows,) = one(conn, f"select count(*) from {suite.table}")
    as_of = None
    if table_exists(conn, AS_OF_TABLE):
        (as_of,) = one(conn, f"select max(as_of_date) from {AS_OF_TABLE}")
    previous = conn.execute(
        f"select row_count, as_of_date from {SCHEMA}.row_counts where table_name = ?",
        [suite.table],
    ).fetchone()
    # a rebuild as of an earlier day (the campaign_day job over past days) holds fewer
    # customers by nature: it is not compared, and does not move the baseline
    past_day = bool(previous and as_of and previous[1] and as_of < previous[1])
    drop = float(settings.vars["mart_max_row_drop_share"])
    floor = math.ceil(previous[0] * (1 - drop)) if previous and not past_day else 0
    count = Outcome(
        success=rows >= floor,
        results=[
            {
                "expectation": "row count at least min_rows_accepted",
                "column": None,
                "success": rows >= floor,
                "observed": f"{rows:,} rows, at least {floor:,} accepted",
                "unexpected_count": 0,
                "examples": [],
            }
        ],
    )
    outcome = count
    expectations = suite.expectations(settings)
    if expectations:  # a table Python writes: its values too, chunk by chunk
        chunk_vectors = max(1, int(settings.vars["gx_chunk_rows"]) // 2048)
        result = conn.execute(f"select {suite.columns} from {suite.table} where {suite.where}")

        def frames() -> Iterator[pd.DataFrame]:
            while not (frame := result.fetch_df_chunk(chunk_vectors)).empty:
                yield frame

        outcome = combine(count, validate_chunks(frames(), suite.table, expectations))
    if outcome.success and not past_day:
        conn.execute(
            f"insert or replace into {SCHEMA}.row_counts values (?, ?, ?, current_timestamp)",
            [suite.table, rows, as_of],
        )
    facts = {
        "as_of_date": as_of,
        "rows": rows,
        "previous_good_rows": previous[0] if previous else None,
        "min_rows_accepted": floor,
    }
    return outcome, facts
