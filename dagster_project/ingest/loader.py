"""Loads landing files into DuckDB raw tables, enforcing the contract: rows load or are quarantined.

One call loads every new file of one entity for a set of partition days. DuckDB's own
readers parse whole batches of files at once; Python only lists files, reads headers and
writes the SQL. A per-file ledger (sha256, rows read / loaded / quarantined) makes every
load idempotent: a file already loaded is skipped, the same content delivered under
another name loads once, and a file replaced in place replaces its rows (the ledger keeps
each earlier delivery of a path, marked replaced). Within a file, a second row with the key
of an earlier one is quarantined. Files the landing zone holds outside
<entity>/dt=YYYY-MM-DD/ are listed in raw.unrecognised_files.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from dagster_project.ingest.contract import (
    BOOL,
    CURRENCY,
    DATE,
    DECIMAL,
    ENTITIES,
    ENUM,
    FALSE_WORDS,
    INT,
    TIMESTAMP,
    TRUE_WORDS,
    Column,
    Entity,
)
from dagster_project.settings import Settings

RAW_SCHEMA = "raw"
SUFFIXES = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
}
SQL_TYPES = {
    INT: "bigint",
    BOOL: "boolean",
    DATE: "date",
    TIMESTAMP: "timestamp",
}
EXACT_DECIMAL = "decimal(38, 18)"  # a delivered number, read to compare with what is stored


def sql_type(c: Column) -> str:
    """The raw table's type of a contract column."""
    if c.kind == DECIMAL:
        return f"decimal(18,{c.scale})"
    return SQL_TYPES.get(c.kind, "varchar")


class FileError(Exception):
    """A landing file that cannot be loaded at all; the message names the problem."""


@dataclass(frozen=True)
class LandingFile:
    path: Path
    rel_path: str  # relative to CRM_DATA_DIR, as errors and the ledger show it
    partition_date: date
    fmt: str
    size: int
    sha256: str
    delivered_at: datetime  # the file's modification time (UTC, naive)
    header: tuple[str, ...] = ()  # a CSV's column names, read from its first line
    in_ledger: bool = False  # an earlier content of this path was loaded: its rows go first


@dataclass
class LoadReport:
    entity: str
    files_loaded: int = 0
    files_already_loaded: int = 0
    files_duplicate: int = 0
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (rel_path, reason)
    quarantine_reasons: Counter[str] = field(default_factory=Counter)
    days_loaded: set[date] = field(default_factory=set)  # the dt= days of the files loaded

    @property
    def days_text(self) -> str:
        days = sorted(self.days_loaded)
        if not days:
            return "no new files"
        return f"day {days[0]}" if len(days) == 1 else f"days {days[0]} to {days[-1]}"

    def failure_message(self) -> str:
        lines = [f"{path}: {reason}" for path, reason in self.failures]
        return (
            f"{len(self.failures)} {self.entity} file(s) could not be loaded; the other files "
            "are loaded. Fix or replace these files and run again (the files already loaded "
            "are not loaded twice):\n" + "\n".join(lines)
        )


def q(identifier: str) -> str:
    """Quote a SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Quote a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def one(conn: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> tuple:
    """The row of a query that always returns one (a count, a max, current_database())."""
    row = conn.execute(sql, params).fetchone() if params else conn.execute(sql).fetchone()
    if row is None:
        raise RuntimeError(f"no row from the query: {sql}")
    return row


# --- tables -----------------------------------------------------------------

# what every raw row carries besides the contract's columns
ROW_META = (
    "_source_file varchar",
    "_row_number bigint",
    "_partition_date date",
    "_loaded_at timestamp",
    "_delivered_at timestamp",
)
LEDGER_COLUMNS = (
    "entity varchar",
    "source_file varchar",
    "partition_date date",
    "sha256 varchar",
    "size_bytes bigint",
    "status varchar",
    "duplicate_of varchar",
    "rows_read bigint",
    "rows_loaded bigint",
    "rows_quarantined bigint",
    "loaded_at timestamp",
    "delivered_at timestamp",  # the file's modification time
    "replaced_at timestamp",  # when another content of the path was delivered; null: current
)
LEDGER_NAMES = ", ".join(column.split()[0] for column in LEDGER_COLUMNS)
QUARANTINE_COLUMNS = (
    "entity varchar",
    "partition_date date",
    "source_file varchar",
    "row_number bigint",
    "reason varchar",
    "payload varchar",
    "quarantined_at timestamp",
    f"amount {EXACT_DECIMAL}",
    "currency varchar",
)
QUARANTINE_NAMES = ", ".join(column.split()[0] for column in QUARANTINE_COLUMNS)
CONSENT_TABLE = f"{RAW_SCHEMA}.quarantined_consent"
UNRECOGNISED_TABLE = f"{RAW_SCHEMA}.unrecognised_files"


def _create_or_extend(conn: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> None:
    """Create the table, or add the columns an older version of it lacks."""
    conn.execute(f"create table if not exists {table} ({', '.join(columns)})")
    for column in columns:
        conn.execute(f"alter table {table} add column if not exists {column}")


def ensure_tables(conn: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    conn.execute(f"create schema if not exists {RAW_SCHEMA}")
    cols = [f"{q(c.name)} {sql_type(c)}" for c in entity.columns]
    table = f"{RAW_SCHEMA}.{entity.name}"
    # a contract that grew an optional column, or a warehouse older than a meta column
    _create_or_extend(conn, table, [*cols, *ROW_META])
    # a warehouse made when amounts kept fewer decimals: widen, never narrow
    stored = dict(
        conn.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [RAW_SCHEMA, entity.name],
        ).fetchall()
    )
    for c in entity.columns:
        wanted = sql_type(c)
        if c.kind == DECIMAL and stored.get(c.name, wanted).replace(" ", "").lower() != wanted:
            conn.execute(f"alter table {table} alter column {q(c.name)} set data type {wanted}")
    # amount and currency: a money row's readable amount as delivered, for the reconciliation
    _create_or_extend(conn, f"{RAW_SCHEMA}.quarantine", list(QUARANTINE_COLUMNS))
    _create_or_extend(conn, f"{RAW_SCHEMA}.file_ledger", list(LEDGER_COLUMNS))
    if entity.consent:
        consent = [f"{q(c)} boolean" for c in entity.consent]
        columns = ["customer_id varchar", "updated_at timestamp", *consent, *ROW_META]
        conn.execute(f"create table if not exists {CONSENT_TABLE} ({', '.join(columns)})")
    conn.execute(
        f"create table if not exists {UNRECOGNISED_TABLE} (source_file varchar, "
        "entity varchar, reason varchar, size_bytes bigint, found_at timestamp)"
    )


# --- files ------------------------------------------------------------------


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix, fmt in SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pulled_folders(settings: Settings, entity: str) -> list[Path]:
    """The dt= folders of what the pulls from the sources delivered for an entity
    (pulled/<source>/<entity>/dt=YYYY-MM-DD/, docs/sources.md), from first_partition_date on:
    every load takes their new files, whatever its days."""
    if not settings.pulled_dir.is_dir():
        return []
    return sorted(
        folder
        for folder in settings.pulled_dir.glob(f"*/{entity}/dt=*")
        if (day := folder_day(folder.name)) and day >= settings.first_partition_date
    )


def landing_days(settings: Settings, entity: str, through: date | None = None) -> list[date]:
    """The days (dt= folders) of an entity's landing files, from first_partition_date up to
    `through` (None: no limit). Other folders are listed by unrecognised_files()."""
    days = []
    for folder in (settings.landing_dir / entity).glob("dt=*"):
        day = folder_day(folder.name)
        if day and day >= settings.first_partition_date and (through is None or day <= through):
            days.append(day)
    return sorted(days)


def list_landing_files(
    settings: Settings,
    entity: Entity,
    days: list[date],
    report: LoadReport,
    known: dict[str, tuple[int, datetime]] | None = None,
) -> list[LandingFile]:
    """The landing files of these days and every file the pulls delivered, sorted; files of
    an unknown type are failures. A file whose
    size and modification time are those `known` for its path (the ledger's current
    delivery) is counted as already loaded without reading it."""
    files = []
    landing = [settings.landing_dir / entity.name / f"dt={day.isoformat()}" for day in sorted(days)]
    for folder in [*landing, *pulled_folders(settings, entity.name)]:
        if not folder.is_dir():
            continue
        day = folder_day(folder.name)
        assert day is not None
        for path in sorted(folder.iterdir()):
            if not path.is_file() or is_hidden(path.name):
                continue
            rel = path.relative_to(settings.data_dir).as_posix()
            fmt = file_format(path)
            if fmt is None:
                report.failures.append(
                    (rel, "unsupported file type; use .csv, .csv.gz, .parquet, .jsonl or .jsonl.gz")
                )
                continue
            stat = path.stat()
            modified = datetime.fromtimestamp(stat.st_mtime, UTC).replace(tzinfo=None)
            if known and known.get(rel) == (stat.st_size, modified):
                report.files_already_loaded += 1
                continue
            files.append(LandingFile(path, rel, day, fmt, stat.st_size, sha256_of(path), modified))
    return files


def is_hidden(name: str) -> bool:
    """Names starting with . or _ are markers or files still being written: never loaded,
    never reported."""
    return name.startswith((".", "_"))


def folder_day(name: str) -> date | None:
    try:
        return date.fromisoformat(name.removeprefix("dt="))
    except ValueError:
        return None


def probably_meant(name: str) -> str | None:
    """The entity a folder name differs from only by case, separators or a plural 's'."""
    plain = "".join(ch for ch in name.lower() if ch.isalnum()).removesuffix("s")
    for entity in ENTITIES:
        if plain == entity.replace("_", "").removesuffix("s"):
            return entity
    return None


def unrecognised_files(
    settings: Settings, entity: str | None = None
) -> list[tuple[str, str | None, str, int]]:
    """Every file of the landing zone outside <entity>/dt=YYYY-MM-DD/ (or in a dt= folder
    before first_partition_date): (path from the data folder, the entity it was probably
    meant for, why it is not loaded, size in bytes). With `entity`, only those meant for it
    and those that name no entity; other entities' folders are not walked."""
    found: list[tuple[str, str | None, str, int]] = []

    def add(path: Path, entity: str | None, reason: str) -> None:
        for file in [path] if path.is_file() else sorted(path.rglob("*")):
            inside = file.relative_to(path).parts if file != path else ()
            if file.is_file() and not any(is_hidden(part) for part in inside):
                rel = file.relative_to(settings.data_dir).as_posix()
                found.append((rel, entity, reason, file.stat().st_size))

    if not settings.landing_dir.is_dir():
        return found
    layout = "files go in landing/<entity>/dt=YYYY-MM-DD/"
    for top in sorted(p for p in settings.landing_dir.iterdir() if not is_hidden(p.name)):
        if top.name not in ENTITIES or not top.is_dir():
            meant = probably_meant(top.name)
            if entity and meant not in (entity, None):
                continue
            if meant:
                why = (
                    f"'{top.name}' is not an entity folder: did you mean '{meant}'? Move "
                    f"the files to landing/{meant}/dt=YYYY-MM-DD/"
                )
            else:
                names = ", ".join(ENTITIES)
                why = f"'{top.name}' is not an entity folder ({layout}; entities: {names})"
            add(top, meant, why)
            continue
        if entity and top.name != entity:
            continue
        for sub in sorted(p for p in top.iterdir() if not is_hidden(p.name)):
            day = folder_day(sub.name)
            if not sub.is_dir():
                add(sub, top.name, f"directly in landing/{top.name}/: {layout}")
            elif not sub.name.startswith("dt="):
                hint = f" (rename it dt={sub.name})" if day else ""
                add(sub, top.name, f"folder '{sub.name}' is not named dt=YYYY-MM-DD{hint}")
            elif day is None:
                add(sub, top.name, f"folder '{sub.name}' does not name a day (dt=YYYY-MM-DD)")
            elif day < settings.first_partition_date:
                add(
                    sub,
                    top.name,
                    f"day {day} is before first_partition_date "
                    f"{settings.first_partition_date}: change that setting to load it",
                )
            else:
                for inner in sorted(
                    p for p in sub.iterdir() if p.is_dir() and not is_hidden(p.name)
                ):
                    add(
                        inner,
                        top.name,
                        f"in a subfolder of {sub.name}: files go directly in the dt= folder",
                    )
    return found


def record_unrecognised(
    conn: duckdb.DuckDBPyConnection, settings: Settings, entity: str, now_utc: datetime
) -> None:
    """Replace the rows of raw.unrecognised_files meant for `entity` or for none with what
    the landing zone holds now (each entity's load walks its own folder only)."""
    now = now_utc.replace(tzinfo=None)
    rows = [(*found, now) for found in unrecognised_files(settings, entity)]
    conn.execute("begin transaction")
    conn.execute(f"delete from {UNRECOGNISED_TABLE} where entity = ? or entity is null", [entity])
    if rows:
        conn.executemany(f"insert into {UNRECOGNISED_TABLE} values (?, ?, ?, ?, ?)", rows)
    conn.execute("commit")


def header_of(file: LandingFile) -> list[str]:
    """Column names of a file, read cheaply; raises FileError when it cannot be read."""
    try:
        if file.fmt == "parquet":
            return list(pq.read_schema(file.path).names)
        opener = gzip.open if file.path.name.lower().endswith(".gz") else open
        with opener(file.path, "rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            if file.fmt == "csv":
                line = text.readline()
                if not line.strip():
                    raise FileError("empty file: a header row is required")
                return next(csv.reader([line]))
            for line in text:  # jsonl: keys of the first record
                if line.strip():
                    record = json.loads(line)
                    if not isinstance(record, dict):
                        raise FileError("each line must be a JSON object")
                    return list(record)
            return []
    except FileError:
        raise
    except UnicodeDecodeError:
        raise FileError("not UTF-8 text (binary or another encoding)") from None
    except (OSError, ValueError, EOFError) as exc:  # truncated gzip/parquet, bad JSON
        raise FileError(f"cannot be read as {file.fmt}: {exc}") from None


def check_header(file: LandingFile, entity: Entity) -> tuple[str, ...]:
    """The file's column names; raises FileError if a required column is missing."""
    names = header_of(file)
    lowered = [n.strip().lower() for n in names]
    if file.fmt == "csv" and len(names) == 1 and any(s in names[0] for s in ";\t|"):
        raise FileError("wrong delimiter: the header has no commas; files must be comma-separated")
    repeated = sorted({n for n in lowered if lowered.count(n) > 1})
    if repeated:
        raise FileError(f"column(s) {', '.join(repeated)} appear more than once in the header")
    missing = [c for c in entity.required_columns if c not in lowered]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise FileError(f"missing required column{plural} " + ", ".join(f"'{m}'" for m in missing))
    return tuple(names)


# --- SQL --------------------------------------------------------------------


def reader_sql(fmt: str, paths: list[str], header: tuple[str, ...] = ()) -> str:
    """DuckDB reader over files of one format (CSV: of one header, read without sniffing).
    Parquet files also give each row's number in its file (from 0) as file_row_number."""
    files = "[" + ", ".join(lit(p) for p in paths) + "]"
    common = "filename = '__file', hive_partitioning = false"
    if fmt == "csv":
        # The sniffer could take a long row for the header and return nothing: never guess.
        columns = "{" + ", ".join(f"{lit(n)}: 'VARCHAR'" for n in header) + "}"
        return (
            f"read_csv({files}, auto_detect = false, columns = {columns}, header = true, "
            "delim = ',', quote = '\"', escape = '\"', encoding = 'utf-8', strict_mode = true, "
            f"{common})"
        )
    if fmt == "parquet":
        return f"read_parquet({files}, union_by_name = true, file_row_number = true, {common})"
    return (
        f"read_json({files}, format = 'newline_delimited', union_by_name = true, "
        f"sample_size = -1, {common})"
    )


def typed_sql(c: Column, raw: str) -> str:
    if c.kind == ENUM:
        norm = f"upper({raw})" if c.upper else f"lower({raw})"
        values = ", ".join(lit(v) for v in c.values)
        return f"case when {norm} in ({values}) then {norm} end"
    if c.kind == CURRENCY:
        return f"case when regexp_full_match(upper({raw}), '[A-Z]{{3}}') then upper({raw}) end"
    if c.kind == BOOL:
        t = ", ".join(lit(w) for w in TRUE_WORDS)
        f = ", ".join(lit(w) for w in FALSE_WORDS)
        return (
            f"case when lower({raw}) in ({t}) then true when lower({raw}) in ({f}) then false end"
        )
    if c.kind == TIMESTAMP:
        # The session time zone is the store's: a value without an offset is store time.
        return f"timezone('UTC', try_cast({raw} as timestamptz))"
    if c.kind == DECIMAL or c.kind in SQL_TYPES:
        return f"try_cast({raw} as {sql_type(c)})"
    return raw


def reasons_sql(entity: Entity, settings: Settings, now_utc: datetime) -> str:
    """One SQL expression: the '; '-joined reasons a row breaks the contract ('' when none)."""
    future_limit = now_utc + timedelta(hours=settings.future_tolerance_hours)
    earliest = settings.earliest_plausible_date.isoformat()
    parts = []
    for c in entity.columns:
        raw, typed, name = q(c.name + "__raw"), q(c.name), c.name
        shown = f"left({raw}, 60)"
        if c.required:
            parts.append(f"case when {raw} is null then 'missing required value for {name}' end")
        if c.kind == ENUM:
            expected = ", ".join(c.values)
            parts.append(
                f"case when {raw} is not null and {typed} is null then "
                f"'unknown {name} (expected one of: {expected}): ''' || {shown} || '''' end"
            )
        elif c.kind != "string":
            parts.append(
                f"case when {raw} is not null and {typed} is null then "
                f"'unparsable {c.kind} in {name}: ''' || {shown} || '''' end"
            )
        if c.kind == DECIMAL:  # stored exactly, or not at all
            parts.append(
                f"case when {typed} <> try_cast({raw} as {EXACT_DECIMAL}) then '{name} has more "
                f"than {c.scale} decimal places, which would be rounded: ''' || {shown} || '''' end"
            )
        if c.min is not None:
            hint = f" ({c.below_min_hint})".replace("'", "''") if c.below_min_hint else ""
            parts.append(
                f"case when {typed} < {c.min:g} then '{name} is below {c.min:g}: ''' || {shown} "
                f"|| '''{hint}' end"
            )
        if c.max is not None:
            parts.append(
                f"case when {typed} > {c.max:g} then '{name} is above {c.max:g}: ''' || {shown} "
                "|| '''' end"
            )
        if c.kind in (DATE, TIMESTAMP) and not c.any_past:
            parts.append(
                f"case when {typed} < {c.kind} '{earliest}' then '{name} is before "
                f"earliest_plausible_date {earliest}: ''' || {shown} || '''' end"
            )
        if c.kind == TIMESTAMP:
            hours = settings.future_tolerance_hours
            parts.append(
                f"case when {typed} > timestamp '{future_limit:%Y-%m-%d %H:%M:%S}' then "
                f"'{name} is more than {hours} hours in the future: ''' || {shown} || '''' end"
            )
    for rule in entity.rules:
        parts.append(f"case when {rule.bad_when} then {lit(rule.reason)} end")
    return "concat_ws('; ', " + ", ".join(parts) + ")"


# --- loading ----------------------------------------------------------------


def _load_batch(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    entity: Entity,
    files: list[LandingFile],
    now_utc: datetime,
    report: LoadReport,
) -> None:
    """Read, check and insert one batch of same-format files in one transaction."""
    fmt = files[0].fmt
    reader = reader_sql(fmt, [str(f.path) for f in files], files[0].header)
    conn.execute("drop table if exists __src")
    if fmt == "parquet":  # numbers its rows itself: read once, straight into the checks
        source, row_number = reader, "file_row_number + 1"
    else:  # numbered in file order, which a copy keeps as its rowid
        conn.execute(f"create temp table __src as select * from {reader}")
        source, row_number = "__src", "row_number() over (partition by __file order by rowid)"
    present = [
        name
        for (name,) in conn.execute(
            f"select column_name from (describe select * from {source}) "
            "where column_name not in ('__file', 'file_row_number')"
        ).fetchall()
    ]
    # every column of the file as delivered, under a name no contract column can have
    delivered = {name: q(f"__delivered_{i}") for i, name in enumerate(present)}
    by_contract_name = {name.strip().lower(): alias for name, alias in delivered.items()}
    raw_cols = ", ".join(
        (
            f"nullif(trim(cast({by_contract_name[c.name]} as varchar)), '')"
            if c.name in by_contract_name
            else "cast(null as varchar)"
        )
        + f" as {q(c.name + '__raw')}"
        for c in entity.columns
    )
    typed_cols = ", ".join(
        f"{typed_sql(c, q(c.name + '__raw'))} as {q(c.name)}" for c in entity.columns
    )
    columns = ", ".join(q(c.name) for c in entity.columns)
    amount = (
        f"try_cast({q(entity.amount + '__raw')} as {EXACT_DECIMAL})" if entity.amount else "null"
    )
    keys = ", ".join(q(k) for k in entity.key)
    same_key = " and ".join(f"repeated.{q(k)} = checked.{q(k)}" for k in entity.key)
    payload = ", ".join(f"{q(name)} := {alias}" for name, alias in delivered.items())
    # one pass over the files: typed values, the reasons a row breaks the contract, and the
    # row as delivered for the quarantine (kept only for rows that break it)
    conn.execute("drop table if exists __checked")
    conn.execute(
        f"""
        create temp table __checked as
        with delivered as (
            select __file, {row_number} as __row,
                {", ".join(f"{q(name)} as {alias}" for name, alias in delivered.items())}
            from {source}
        ),
        raw as (select *, {raw_cols} from delivered),
        typed as (select *, {typed_cols} from raw),
        checked as (select *, {reasons_sql(entity, settings, now_utc)} as __broken from typed),
        -- the first good row of a key in a file loads; a later one is quarantined
        repeated as (
            select __file, {keys}, min(__row) as __first_row
            from checked where __broken = ''
            group by __file, {keys} having count(*) > 1
        ),
        judged as (
            select checked.*,
                case when checked.__broken = '' and checked.__row > repeated.__first_row
                    then 'repeats the key ({", ".join(entity.key)}) of row '
                        || repeated.__first_row || ' of this file'
                    else checked.__broken end as __reasons
            from checked left join repeated
                on repeated.__file = checked.__file and {same_key}
        )
        select __file, __row, {columns}, __reasons,
            case when __reasons <> '' then to_json(struct_pack({payload})) end as __payload,
            {amount} as __amount
        from judged
        """
    )
    conn.execute("drop table if exists __files")
    conn.execute(
        "create temp table __files (path varchar, rel_path varchar, partition_date date, "
        "sha256 varchar, size_bytes bigint, delivered_at timestamp)"
    )
    conn.executemany(
        "insert into __files values (?, ?, ?, ?, ?, ?)",
        [
            (str(f.path), f.rel_path, f.partition_date, f.sha256, f.size, f.delivered_at)
            for f in files
        ],
    )
    now = now_utc.replace(tzinfo=None)
    table = f"{RAW_SCHEMA}.{entity.name}"
    conn.execute("begin transaction")
    try:
        # a file replaced in place: its old rows go, its new rows come. Only such files are
        # looked for: a delete scans the whole table, once per file of a first load otherwise
        for f in (f for f in files if f.in_ledger):
            _forget_rows(conn, entity, f.rel_path, now)
        meta = "_source_file, _row_number, _partition_date, _loaded_at, _delivered_at"
        conn.execute(
            f"""
            insert into {table} ({columns}, {meta})
            select {", ".join("c." + q(c.name) for c in entity.columns)},
                f.rel_path, c.__row, f.partition_date, ?, f.delivered_at
            from __checked as c join __files as f on f.path = c.__file
            where c.__reasons = ''
            """,
            [now],
        )
        if entity.consent:  # an opt-out survives the quarantine of its row
            consent = ", ".join(q(c) for c in entity.consent)
            readable = " or ".join(f"c.{q(n)} is not null" for n in entity.consent)
            conn.execute(
                f"""
                insert into {CONSENT_TABLE} (customer_id, updated_at, {consent}, {meta})
                select c.customer_id, c.updated_at, {consent},
                    f.rel_path, c.__row, f.partition_date, ?, f.delivered_at
                from __checked as c join __files as f on f.path = c.__file
                where c.__reasons <> '' and c.customer_id is not null
                    and c.updated_at is not null
                    and ({readable})
                """,
                [now],
            )
        conn.execute(
            f"""
            insert into {RAW_SCHEMA}.quarantine ({QUARANTINE_NAMES})
            select {lit(entity.name)}, f.partition_date, f.rel_path, c.__row, c.__reasons,
                c.__payload, ?, c.__amount, {"c.currency" if entity.amount else "null"}
            from __checked as c
            join __files as f on f.path = c.__file
            where c.__reasons <> ''
            """,
            [now],
        )
        conn.execute(
            f"""
            insert into {RAW_SCHEMA}.file_ledger ({LEDGER_NAMES})
            select {lit(entity.name)}, f.rel_path, f.partition_date, f.sha256, f.size_bytes,
                'loaded', null, coalesce(n.read, 0), coalesce(n.loaded, 0),
                coalesce(n.quarantined, 0), ?, f.delivered_at, null
            from __files as f
            left join (
                select __file, count(*) as read,
                    count(*) filter (where __reasons = '') as loaded,
                    count(*) filter (where __reasons <> '') as quarantined
                from __checked group by __file
            ) as n on n.__file = f.path
            """,
            [now],
        )
        conn.execute("commit")
    except Exception:
        conn.execute("rollback")
        raise
    read, loaded = one(
        conn, "select count(*), count(*) filter (where __reasons = '') from __checked"
    )
    report.files_loaded += len(files)
    report.days_loaded.update(f.partition_date for f in files)
    report.rows_read += read
    report.rows_loaded += loaded
    report.rows_quarantined += read - loaded
    for reason, n in conn.execute(
        "select __reasons, count(*) from __checked where __reasons <> '' group by 1"
    ).fetchall():
        for part in reason.split("; "):
            report.quarantine_reasons[part.split(": '")[0]] += n
    for t in ("__src", "__checked", "__files"):
        conn.execute(f"drop table if exists {t}")


def _batches(files: list[LandingFile], max_bytes: int) -> list[list[LandingFile]]:
    """Files read together: same format and header, about max_bytes at most."""
    batches: list[list[LandingFile]] = []
    for kind in sorted({(f.fmt, f.header) for f in files}):
        batch: list[LandingFile] = []
        size = 0
        for f in (f for f in files if (f.fmt, f.header) == kind):
            if batch and size + f.size > max_bytes:
                batches.append(batch)
                batch, size = [], 0
            batch.append(f)
            size += f.size
        if batch:
            batches.append(batch)
    return batches


def _reason(exc: Exception) -> str:
    """DuckDB's words on an unreadable file, without its tuning advice or the row's content.
    The row ('Original Line: ...') may span lines; when it does, a blank line ends it and
    the cause follows."""
    head = str(exc).split("Possible fixes")[0].removeprefix("Invalid Input Error: ")
    paragraphs = [
        p.strip().splitlines()
        for p in head.split("\n\n")
        if p.strip() and not p.strip().startswith("file = ")  # the reader's options
    ]
    lines: list[str] = []
    for n, paragraph in enumerate(paragraphs):
        for line in paragraph:
            if line.startswith("Original Line"):
                if len(paragraphs) > n + 1:  # the rest of this paragraph is the row
                    break
                continue  # the row is this one line; the cause follows
            lines.append(line.strip())
    return "cannot be read: " + ("; ".join(lines) or type(exc).__name__)


def load_partitions(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    entity: Entity,
    days: list[date],
    now_utc: datetime | None = None,
) -> LoadReport:
    """Load every new landing file of `entity` for these partition days.

    Never raises for a bad file: failures are in the report, after every good file is loaded.
    """
    now_utc = now_utc or datetime.now(UTC)
    report = LoadReport(entity.name)
    conn.execute(f"set TimeZone = {lit(settings.store_timezone)}")
    ensure_tables(conn, entity)
    ledger = conn.execute(
        f"select source_file, sha256, status, size_bytes, delivered_at "
        f"from {RAW_SCHEMA}.file_ledger where entity = ? and replaced_at is null",
        [entity.name],
    ).fetchall()
    by_path = {path: sha for path, sha, *_ in ledger}
    loaded_shas = {sha: path for path, sha, status, *_ in ledger if status == "loaded"}
    known = {path: (size, delivered) for path, _, _, size, delivered in ledger}
    to_load: list[LandingFile] = []
    for f in list_landing_files(settings, entity, days, report, known):
        if by_path.get(f.rel_path) == f.sha256:
            report.files_already_loaded += 1
            continue
        original = loaded_shas.get(f.sha256)
        if original is not None and original != f.rel_path:
            _record_duplicate(conn, entity, f, original, now_utc, f.rel_path in by_path)
            report.files_duplicate += 1
            continue
        try:
            header = check_header(f, entity)
        except FileError as exc:
            report.failures.append((f.rel_path, str(exc)))
            continue
        loaded_shas[f.sha256] = f.rel_path
        to_load.append(
            replace(f, header=header if f.fmt == "csv" else (), in_ledger=f.rel_path in by_path)
        )
    for batch in _batches(to_load, settings.ingest_batch_bytes):
        try:
            _load_batch(conn, settings, entity, batch, now_utc, report)
        except duckdb.Error as exc:
            if len(batch) == 1:
                report.failures.append((batch[0].rel_path, _reason(exc)))
                continue
            for f in batch:  # isolate the unreadable file(s); load the rest
                try:
                    _load_batch(conn, settings, entity, [f], now_utc, report)
                except duckdb.Error as one_exc:
                    report.failures.append((f.rel_path, _reason(one_exc)))
    record_unrecognised(conn, settings, entity.name, now_utc)
    return report


def _forget_rows(
    conn: duckdb.DuckDBPyConnection, entity: Entity, rel_path: str, now: datetime
) -> None:
    """The rows of an earlier content of a path go; its ledger row stays, marked replaced."""
    conn.execute(f"delete from {RAW_SCHEMA}.{entity.name} where _source_file = ?", [rel_path])
    conn.execute(
        f"delete from {RAW_SCHEMA}.quarantine where entity = ? and source_file = ?",
        [entity.name, rel_path],
    )
    if entity.consent:
        conn.execute(f"delete from {CONSENT_TABLE} where _source_file = ?", [rel_path])
    conn.execute(
        f"update {RAW_SCHEMA}.file_ledger set replaced_at = ? "
        "where entity = ? and source_file = ? and replaced_at is null",
        [now, entity.name, rel_path],
    )


def _record_duplicate(
    conn: duckdb.DuckDBPyConnection,
    entity: Entity,
    f: LandingFile,
    original: str,
    now_utc: datetime,
    replaces: bool,
) -> None:
    """A file whose content another file already delivered: recorded, not loaded again. When
    the path held other content before, those rows go (the file now says what `original` says)."""
    now = now_utc.replace(tzinfo=None)
    conn.execute("begin transaction")
    if replaces:
        _forget_rows(conn, entity, f.rel_path, now)
    conn.execute(
        f"insert into {RAW_SCHEMA}.file_ledger ({LEDGER_NAMES}) "
        "values (?, ?, ?, ?, ?, 'duplicate', ?, 0, 0, 0, ?, ?, null)",
        [
            entity.name,
            f.rel_path,
            f.partition_date,
            f.sha256,
            f.size,
            original,
            now,
            f.delivered_at,
        ],
    )
    conn.execute("commit")
