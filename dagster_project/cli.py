"""The `crm-mart` command line: init a shop's data folder, run it, ask its status, the demo.

Every command works on one data folder: --data-dir, else $CRM_DATA_DIR, else the current
folder when it holds a shop config (crm-mart.yml), else data/ in the checkout. Its settings
are checked before anything runs. Exit code 0 on success; otherwise one line per problem,
naming the file, setting or check, and what to do.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dagster_project.settings import (
    DATA_DIR_ENV,
    DEFAULT_DATA_DIR,
    SHOP_CONFIG,
    Settings,
    SettingsError,
    default_values,
    describe,
    load_settings,
    resolve,
)

DAGSTER_CONFIG = Path(__file__).with_name("dagster.yaml")  # the run queue and telemetry
# what the pipeline derives in a data folder: `crm-mart clean` removes these and nothing else
DERIVED = (
    "warehouse.duckdb",
    "warehouse.duckdb.wal",
    "marts.duckdb",
    "marts.duckdb.wal",
    "bi",
    "exports",
    "quality",
    "models",
    "dbt",
    "dagster_home",
    "spark",
    "dlt",  # the pulls' working state; their cursors are kept with the pulled files
    "_sample_shop_staging",
)
INIT_KEYS = {  # what `crm-mart init` asks for, by option
    "timezone": "store_timezone",
    "currency": "reporting_currency",
    "first_day": "first_partition_date",
}


class CommandError(RuntimeError):
    """A command that cannot go on: the message says why and what to do."""


def find_data_dir(given: str | None) -> Path:
    if given:
        return Path(given).resolve()
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).resolve()
    if (Path.cwd() / SHOP_CONFIG).exists():
        return Path.cwd().resolve()
    return DEFAULT_DATA_DIR.resolve()


def use_data_dir(folder: Path) -> Settings:
    """Check the folder's settings and point everything that reads the environment at it
    (the Dagster code, dbt's profile, Dagster's run history in dagster_home/)."""
    settings = load_settings(folder)
    os.environ[DATA_DIR_ENV] = str(settings.data_dir)
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    return settings


def ensure_dagster_home(settings: Settings) -> None:
    """Dagster's home with its config, and its run, event and schedule databases created once
    here: processes that start together on a new home (webserver, daemon, a launch) would
    otherwise each create them and can leave Dagster's schema history with two heads."""
    import dagster as dg

    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    config = settings.dagster_home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(DAGSTER_CONFIG, config)
    with dg.DagsterInstance.from_config(str(settings.dagster_home)):
        pass


# --- init ------------------------------------------------------------------------------------


def shop_config_text(chosen: dict[str, object]) -> str:
    """A commented shop config: the settings chosen, the other common ones at their defaults
    as comments."""
    defaults = default_values()
    lines = [
        "# crm-mart shop config: only what differs from the defaults. Every setting, its",
        "# default and its meaning: docs/settings.md. Environment variables CRM_<SETTING>",
        "# override this file; `crm-mart settings` shows what is in force and from where.",
    ]
    for key in INIT_KEYS.values():
        value = chosen.get(key, defaults[key])
        text = f"{key}: {value!r}" if isinstance(value, str) else f"{key}: {value}"
        lines.append(text if key in chosen else f"# {text}")
    lines += [
        "# any threshold, for example:",
        f"# stage_active_max_days: {defaults['stage_active_max_days']}",
    ]
    return "\n".join(lines) + "\n"


def cmd_init(args: argparse.Namespace) -> None:
    from dagster_project.ingest.contract import ENTITIES

    folder = Path(args.dir).resolve()
    defaults = default_values()
    chosen = {
        key: getattr(args, option)
        for option, key in INIT_KEYS.items()
        if getattr(args, option) is not None
    }
    # checked before anything is written, naming the option
    resolve(chosen, {key: f"--{opt.replace('_', '-')}" for opt, key in INIT_KEYS.items()})
    chosen = {k: v for k, v in chosen.items() if str(v) != str(defaults[k])}
    config = folder / SHOP_CONFIG
    if config.exists():
        print(f"{config} exists already: left as it is.")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        config.write_text(shop_config_text(chosen), encoding="utf-8")
        print(f"Wrote {config}.")
    settings = use_data_dir(folder)
    for entity in ENTITIES:
        (settings.landing_dir / entity).mkdir(parents=True, exist_ok=True)
    ensure_dagster_home(settings)
    print(
        f"Shop folder ready: {folder}\n"
        f"Next: put files in {settings.landing_dir}/<entity>/dt=YYYY-MM-DD/ "
        f"(entities: {', '.join(ENTITIES)}; docs/data-contract.md), then\n"
        f"  crm-mart --data-dir {folder} run"
    )


# --- run -------------------------------------------------------------------------------------


def landing_days(settings: Settings) -> list[date]:
    """The days (dt= folders) that hold landing files of any entity, from
    first_partition_date on."""
    from dagster_project.ingest import loader
    from dagster_project.ingest.contract import ENTITIES

    return sorted({day for e in ENTITIES for day in loader.landing_days(settings, e)})


def choose_days(settings: Settings, day: date | None) -> tuple[date, date | None]:
    """The last landing day to load and the as-of day D (None: the last day with data, as
    the daily schedule builds). Every file of the days up to it not loaded yet is loaded.
    Whatever the days, a load takes every file the run's pulls delivered."""
    start = settings.first_partition_date
    if day:
        if day < start:
            raise CommandError(
                f"{day} is before the first landing day {start}: set first_partition_date "
                f"in {settings.config_path} to load it"
            )
        return day, day
    today = settings.store_today()
    complete = [d for d in landing_days(settings) if d < today]
    if not complete and settings.sources:  # everything comes from the run's pulls
        return today - timedelta(days=1), None
    if not complete:
        raise CommandError(
            f"no landing files before today ({today}, {settings.store_timezone}) under "
            f"{settings.landing_dir}: put files in <entity>/dt=YYYY-MM-DD/ and run again"
        )
    return complete[-1], None


def waiting_files(settings: Settings) -> dict[str, list[str]]:
    """Per entity, the landing files not in the warehouse's file ledger (by path and size)."""
    from dagster_project.ingest.contract import ENTITIES
    from dagster_project.ingest.loader import RAW_SCHEMA, is_hidden
    from dagster_project.resources import open_warehouse, table_exists

    loaded: set[tuple[str, int]] = set()
    if settings.warehouse_path.exists():
        with open_warehouse(settings, read_only=True) as conn:
            if table_exists(conn, f"{RAW_SCHEMA}.file_ledger"):
                rows = conn.execute(
                    f"select source_file, size_bytes from {RAW_SCHEMA}.file_ledger "
                    "where replaced_at is null"
                ).fetchall()
                loaded = {(name, size) for name, size in rows}
    waiting: dict[str, list[str]] = {}
    for entity in ENTITIES:
        for path in sorted((settings.landing_dir / entity).glob("dt=*/*")):
            if not path.is_file() or is_hidden(path.name):
                continue
            rel = path.relative_to(settings.data_dir).as_posix()
            if (rel, path.stat().st_size) not in loaded:
                waiting.setdefault(entity, []).append(rel)
    return waiting


def waiting_days(waiting: dict[str, list[str]]) -> list[date]:
    """The landing days of waiting_files()."""
    from dagster_project.ingest.loader import folder_day

    days = {folder_day(Path(rel).parent.name) for files in waiting.values() for rel in files}
    return sorted(day for day in days if day)


def load_definitions(settings: Settings) -> Any:
    """The Definitions object, after parsing the dbt project if it changed (the definitions
    are built from its manifest and never run dbt themselves)."""
    from dagster_project.transform.project import prepare

    prepare(settings)
    from dagster_project.definitions import defs

    return defs


def cmd_report(args: argparse.Namespace, settings: Settings) -> None:
    from dagster_project.report.build import write_report
    from dagster_project.resources import open_warehouse

    if not settings.marts_path.exists():
        raise CommandError(f"no marts in {settings.data_dir} yet: run `crm-mart run` first")
    checks = None  # known once a run has recorded check results
    if settings.dagster_home.exists():
        import dagster as dg

        from dagster_project.quality.checks import unpassed_checks

        graph = load_definitions(settings).resolve_asset_graph()
        checks = unpassed_checks(dg.DagsterInstance.get(), graph.asset_check_keys)
    with open_warehouse(settings, read_only=True) as conn:
        try:
            path = write_report(conn, settings, args.week, checks)
        except RuntimeError as error:
            raise CommandError(str(error)) from None
    print(f"Weekly report: {path}")


def cmd_prepare(args: argparse.Namespace, settings: Settings) -> None:
    from dagster_project.transform.project import dbt_project_for, prepare

    ensure_dagster_home(settings)
    parsed = prepare(settings)
    manifest = dbt_project_for(settings).manifest_path
    print(f"{'Parsed the dbt project' if parsed else 'Up to date'}: {manifest}")


def cmd_run(args: argparse.Namespace, settings: Settings) -> None:
    import dagster as dg

    through, as_of = choose_days(settings, args.day)
    waiting_now = waiting_files(settings)
    waiting = [d for d in waiting_days(waiting_now) if d <= through]
    files = sum(len(paths) for paths in waiting_now.values())
    span = "no new files" if not waiting else f"new files of {waiting[0]} to {waiting[-1]}"
    print(
        f"Loading {span} (landing days up to {through}; {files} file(s) waiting in all); "
        f"building everything as of {as_of or 'the last day with data'}.",
        flush=True,
    )
    print("Reading the pipeline's definitions ...", flush=True)
    defs = load_definitions(settings)
    from dagster_project.demo import failure_lines, summary
    from dagster_project.orchestration import progress_only, progress_run_config

    ensure_dagster_home(settings)
    # the job the daily schedule runs: every landing file up to `through` not loaded yet
    with progress_only():
        result = defs.resolve_job_def("daily_pipeline").execute_in_process(
            run_config=progress_run_config(as_of, through=through),
            instance=dg.DagsterInstance.get(),
            raise_on_error=False,
        )
    if not result.success:
        raise CommandError("the run failed:\n" + "\n".join(failure_lines(result)))
    print(summary(settings))


# --- status ----------------------------------------------------------------------------------


def _when(timestamp: float, settings: Settings) -> str:
    moment = datetime.fromtimestamp(timestamp, ZoneInfo(settings.store_timezone))
    return moment.strftime("%Y-%m-%d %H:%M")


def recent_runs(instance: object, settings: Settings, limit: int = 10) -> list[str]:
    """The latest runs, newest first: when each last changed, its job, its state and, if it
    failed, why (a run whose process died is failed by the daemon's run monitoring)."""
    import dagster as dg

    from dagster_project.orchestration import failure_text

    lines: list[str] = []
    for record in instance.get_run_records(limit=limit * 5):  # type: ignore[attr-defined]
        run = record.dagster_run
        if run.job_name.startswith("__") or len(lines) == limit:  # one-off asset jobs
            continue
        when = _when(record.update_timestamp.timestamp(), settings)
        line = f"  {when} {run.job_name:<16} {run.status.value.lower()}"
        if run.status == dg.DagsterRunStatus.FAILURE:
            events = instance.all_logs(  # type: ignore[attr-defined]
                run.run_id,
                of_type={dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE},
            )
            causes = [failure_text(e.dagster_event) for e in events if e.dagster_event]
            line += ": " + next((c.splitlines()[0] for c in causes if c), "")
        lines.append(line)
    return lines


def status_report(settings: Settings) -> str:
    """Per entity and mart: the last good run and its day; files waiting in the landing
    zone; rows quarantined by the last load; the failed checks with their messages."""
    import dagster as dg

    defs = load_definitions(settings)
    from dagster_project.demo import reconciliation_lines
    from dagster_project.ingest.assets import raw_key
    from dagster_project.ingest.contract import ENTITIES
    from dagster_project.ingest.loader import one, unrecognised_files
    from dagster_project.ingest.sources import pulled_keys
    from dagster_project.quality.checks import unpassed_checks
    from dagster_project.resources import open_warehouse, table_exists

    lines = [f"Shop folder {settings.data_dir} (store time {settings.store_timezone})"]
    if settings.warehouse_path.exists():
        try:
            with open_warehouse(settings, read_only=True) as conn:
                if table_exists(conn, "intermediate.int_as_of_date"):
                    (as_of,) = one(conn, "select as_of_date from intermediate.int_as_of_date")
                    lines.append(f"Marts as of {as_of}.")
                lines += reconciliation_lines(conn, settings)
        except Exception as error:  # a run holds the write lock: the rest still answers
            lines.append(f"The warehouse cannot be read now ({str(error).splitlines()[0]}).")
    waiting = waiting_files(settings)
    if not settings.dagster_home.exists():
        return "\n".join([*lines, "No run yet: crm-mart run builds the shop."])
    instance = dg.DagsterInstance.get()
    graph = defs.resolve_asset_graph()
    raw = [raw_key(entity) for entity in ENTITIES]
    marts = sorted(
        (k for k in graph.get_all_asset_keys() if k.path[0] in ("marts", "exports", "bi")),
        key=lambda k: k.to_user_string(),
    )
    pulls = sorted({k for keys in pulled_keys(settings).values() for k in keys}, key=str)
    latest = instance.get_latest_materialization_events([*raw, *marts, *pulls])
    lines += ["", "Entities: last good load, files waiting, rows quarantined by that load"]
    for entity, key in zip(ENTITIES, raw, strict=True):
        event = latest.get(key)
        files = len(waiting.get(entity, []))
        if event is None:
            done = "never loaded"
            quarantined = ""
        else:
            meta = event.asset_materialization.metadata  # type: ignore[union-attr]
            shown = meta.get("rows_quarantined")
            quarantined = f", {shown.value:,} quarantined" if shown is not None else ""
            days = meta.get("days_loaded")
            done = _when(event.timestamp, settings) + (f" ({days.value})" if days else "")
        lines.append(f"  {entity:<16} {done}, {files} file(s) waiting{quarantined}")
    if pulls:
        lines += ["", "Sources: last good pull, rows it pulled, the cursor it left"]
    for key in pulls:
        event = latest.get(key)
        if event is None:
            lines.append(f"  {'/'.join(key.path[1:]):<24} never pulled")
            continue
        meta = event.asset_materialization.metadata  # type: ignore[union-attr]
        rows = sum(v.value for k, v in meta.items() if k.startswith("rows_pulled"))
        cursor = meta.get("cursor_to")
        lines.append(
            f"  {'/'.join(key.path[1:]):<24} {_when(event.timestamp, settings)}, "
            f"{rows:,} rows, cursor {cursor.value if cursor else '?'}"
        )
    stray = unrecognised_files(settings)
    if stray:
        lines += ["", f"Files in the landing zone that are never loaded: {len(stray)}"]
        lines += [f"  {path}: {reason}" for path, _, reason, _ in stray[:10]]
        lines += [f"  ... and {len(stray) - 10} more"] if len(stray) > 10 else []
    lines += ["", "Marts, scores, exports and the BI copy: last good build (D: above)"]
    for key in marts:
        event = latest.get(key)
        done = _when(event.timestamp, settings) if event else "never built"
        lines.append(f"  {key.to_user_string():<40} {done}")
    failed = [
        f"  {c.severity:<5} {c.asset} {c.check}: {c.message}"
        for c in unpassed_checks(instance, graph.asset_check_keys)
    ]
    lines += ["", f"Failed checks (latest result of each): {len(failed)}", *failed]
    lines += ["", "Latest runs", *(recent_runs(instance, settings) or ["  none"])]
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace, settings: Settings) -> None:
    print(status_report(settings))


# --- demo, settings, clean -------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace, settings: Settings) -> None:
    from dagster_project.sample_shop.generator import LandingInUse, refuse_foreign_files

    try:  # before anything is imported that writes into the data folder (dbt's parse)
        refuse_foreign_files(settings.landing_dir)
    except LandingInUse as error:
        raise CommandError(str(error)) from None
    from dagster_project.transform.project import prepare

    prepare(settings)
    from dagster_project import demo

    demo.main(settings)


def cmd_settings(args: argparse.Namespace, settings: Settings) -> None:
    import json

    print(json.dumps(settings.dbt_vars) if args.dbt_vars else describe(settings))


def cmd_clean(args: argparse.Namespace, settings: Settings) -> None:
    removed = []
    for name in DERIVED:
        path = settings.data_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        else:
            continue
        removed.append(name)
    kept = "; the landing zone and the shop config are kept"
    print(
        f"Removed from {settings.data_dir}: {', '.join(removed)}{kept}."
        if removed
        else f"Nothing to remove in {settings.data_dir}{kept}."
    )


# --- the parser ------------------------------------------------------------------------------


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day (YYYY-MM-DD)") from None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="crm-mart",
        description="Customer lifecycle marts and campaign audiences from a shop's raw data.",
    )
    top.add_argument(
        "--data-dir",
        help="the shop's data folder (default: $CRM_DATA_DIR, else the current folder if it "
        "holds crm-mart.yml, else data/ in the checkout)",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = sub.add_parser("init", help="create a shop's data folder and its shop config")
    init.add_argument("dir", help="the folder to create (it may exist)")
    init.add_argument("--timezone", help="the store's IANA time zone, e.g. Europe/London")
    init.add_argument("--currency", help="the reporting currency, e.g. GBP")
    init.add_argument("--first-day", type=_day, help="the first landing day (YYYY-MM-DD)")
    run = sub.add_parser(
        "run",
        help="load what has landed and build everything (default: up to the last complete day)",
    )
    run.add_argument(
        "--day",
        type=_day,
        help="load the landing files of the days up to D not loaded yet, build as of D",
    )
    sub.add_parser(
        "prepare",
        help="parse the dbt project for the definitions (before dagster-webserver or "
        "dagster-daemon; the other commands do it themselves)",
    )
    report = sub.add_parser(
        "report", help="write the weekly report (default: the newest complete week)"
    )
    report.add_argument("--week", type=_day, help="a day of the week to report (YYYY-MM-DD)")
    sub.add_parser("status", help="last good runs, files waiting, quarantine, failed checks")
    sub.add_parser("demo", help="the sample shop, every asset, and a summary (make demo)")
    show = sub.add_parser("settings", help="every setting in force and where it was set")
    show.add_argument("--dbt-vars", action="store_true", help="only dbt's vars, as JSON")
    sub.add_parser("clean", help="remove what the pipeline derived; keep the landing zone")
    return top


COMMANDS = {
    "run": cmd_run,
    "prepare": cmd_prepare,
    "report": cmd_report,
    "status": cmd_status,
    "demo": cmd_demo,
    "settings": cmd_settings,
    "clean": cmd_clean,
}


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        if args.command == "init":
            cmd_init(args)
        else:
            settings = use_data_dir(find_data_dir(args.data_dir))
            COMMANDS[args.command](args, settings)
    except (SettingsError, CommandError) as error:
        print(f"crm-mart {args.command}: {error}", file=sys.stderr)
        sys.exit(2 if isinstance(error, SettingsError) else 1)


if __name__ == "__main__":
    main()
