"""`make bench`: time the pipeline at a scale, the full build and daily incremental runs.

The sample shop is generated (not timed) and its last DAILY_RUNS days are held back. The
first load (the whole history in one run of daily_pipeline, as `crm-mart run` does it) is
timed; then each held-back day in turn is landed and its daily run timed the same way. Each
run's wall time is split into its steps' time per phase (raw ingestion, the dbt build,
scores and exports) and Dagster's own overhead around the steps. The churn features compute
new labelled cutoffs on one day a week (when D - churn_label_days is a Monday): each daily
run records the ones it computed, so the week's heavy day and a typical day are told apart.
Everything happens in its own folder, $CRM_DATA_DIR/bench/<scale>/, through Dagster, as a
scheduled run would. Last, the shop's customers, orders and order lines are put in a
throw-away PostgreSQL server as a shop's database would hold them (not timed), and a first
pull of them through a database source, with the load of what it pulled, is timed beside
the load of the same entities from files. One table is printed and one JSON file written.
"""

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from dagster_project.ingest.loader import one
from dagster_project.sample_shop.database import (
    TABLES,
    fill_database,
    postgres_server,
    server_programs,
)
from dagster_project.sample_shop.generator import (
    ENTITY_NAMES,
    SCALES,
    ShopConfig,
    generate,
    generated_summary,
)
from dagster_project.settings import Settings, data_dir_from_env, load_settings
from dagster_project.transform.project import prepare

SLOWEST_STEPS = 10  # slowest steps per phase kept in the JSON
PRINTED_STEPS = 5  # of those, the ones the printed table lists
PHASES = ("ingest", "dbt", "scores_exports")
DAILY_RUNS = 2  # held-back days, each timed as a daily run; the sample shop ends on a
# Sunday on which the churn features' labelled cutoffs move, the day before is a typical day
HELD_BACK = "held_back"  # the folder under the data dir that holds them until their run


class PeakMemory:
    """Samples the resident memory of this process and its descendants (dbt) while on."""

    def __init__(self, every_seconds: float = 0.2):
        self.peak_mb = 0.0
        self._every = every_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def tree_rss_mb(root: int) -> float:
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                except OSError:
                    continue
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
        tree, grew = {root}, True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in tree} - tree
            tree |= more
            grew = bool(more)
        pages = 0
        for pid in tree:
            try:
                pages += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
            except OSError:
                continue
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, self.tree_rss_mb(os.getpid()))
            self._stop.wait(self._every)

    def __enter__(self) -> "PeakMemory":
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()


def _hold_back_day(landing: Path, day: str, held: Path) -> None:
    for entity in ENTITY_NAMES:
        folder = landing / entity / f"dt={day}"
        if folder.exists():
            (held / entity).mkdir(parents=True, exist_ok=True)
            shutil.move(str(folder), str(held / entity / folder.name))


def _land_held_back_days(held: Path, landing: Path, day: str | None = None) -> None:
    """Move the held-back days (or just `day`) into the landing zone."""
    for entity_folder in held.iterdir():
        for day_folder in entity_folder.iterdir():
            if day is None or day_folder.name == f"dt={day}":
                shutil.move(str(day_folder), str(landing / entity_folder.name / day_folder.name))


def _raw_rows(warehouse: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return {
            entity: one(conn, f"select count(*) from raw.{entity}")[0] for entity in ENTITY_NAMES
        }


def _labelled_churn_cutoffs(warehouse: Path) -> set[str]:
    """The labelled cutoffs whose churn features the warehouse holds."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        rows = conn.execute(
            "select distinct cast(cutoff_date as varchar) from intermediate.int_churn_features "
            "where churned is not null"
        ).fetchall()
    return {day for (day,) in rows}


def _phase_of(step: str) -> str:
    """The phase a step of daily_pipeline belongs to: the raw assets and their checks, the
    dbt build, or what reads the marts (scores, campaign audiences and exports, the BI copy,
    the mart checks)."""
    if step.startswith("raw_"):
        return "ingest"
    return "dbt" if step.startswith("crm_dbt_") else "scores_exports"


def _timed_run(through: str, data_dir: Path) -> dict[str, Any]:
    """Run the daily_pipeline job as `crm-mart run --day` does: every landing file up to
    `through` not loaded yet, then everything downstream. The run's wall time splits into
    the steps' own time (the work, per phase) and Dagster's overhead around them."""
    import dagster as dg

    from dagster_project.definitions import defs
    from dagster_project.orchestration import progress_only, progress_run_config

    day = date.fromisoformat(through)
    config = progress_run_config(day, progress=False, through=day)
    instance = dg.DagsterInstance.ephemeral()
    started = time.perf_counter()
    with progress_only():  # dbt's own lines are in its log, not on the terminal
        result = defs.resolve_job_def("daily_pipeline").execute_in_process(
            instance=instance, run_config=config, raise_on_error=False
        )
    wall = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"benchmark run through {through} failed; see the log above")
    steps = _step_seconds(instance, result.run_id)
    phases: dict[str, dict[str, Any]] = {}
    for phase in PHASES:
        mine = [(step, seconds) for step, seconds in steps if _phase_of(step) == phase]
        phases[phase] = {
            "seconds": round(sum(seconds for _, seconds in mine), 2),
            "slowest_steps": mine[:SLOWEST_STEPS],
        }
    work = sum(p["seconds"] for p in phases.values())
    return {
        "steps": dict(steps),  # every step, for the database pull's comparison; not in the JSON
        "phases": phases,
        "wall_seconds": round(wall, 2),
        "work_seconds": round(work, 2),
        "dagster_overhead_seconds": round(wall - work, 2),
        "dagster_overhead_share": round((wall - work) / wall, 4),
    }


# what loading the definitions costs a code server: the import, the asset graph and the jobs
LOAD_DEFINITIONS = (
    "import time; started = time.perf_counter(); "
    "from dagster_project.definitions import defs; defs.resolve_asset_graph(); "
    "[defs.resolve_job_def(job.name) for job in defs.jobs]; "
    "print(time.perf_counter() - started)"
)


def _definitions_load_seconds(data_dir: Path, tries: int = 3) -> float:
    """The fastest of `tries` fresh processes loading the definitions (the manifest exists)."""
    env = {**os.environ, "CRM_DATA_DIR": str(data_dir)}
    return min(
        float(
            subprocess.run(
                [sys.executable, "-c", LOAD_DEFINITIONS],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(tries)
    )


def _weekly_report(settings: Settings) -> dict[str, Any]:
    """Seconds and bytes of the newest complete week's report page, written from the marts
    (what the reports/weekly asset does, without reading the checks' results)."""
    from dagster_project.report.build import write_report
    from dagster_project.resources import open_warehouse

    started = time.perf_counter()
    with open_warehouse(settings, read_only=True) as conn:
        path = write_report(conn, settings)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "bytes": path.stat().st_size,
        "week": path.stem,
    }


def _step_seconds(instance: Any, run_id: str) -> list[tuple[str, float]]:
    """Each step of the run (an asset, a check) with its wall seconds, slowest first."""
    started: dict[str, float] = {}
    took: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = entry.timestamp
        elif event.event_type_value == "STEP_SUCCESS" and event.step_key in started:
            took[event.step_key] = round(entry.timestamp - started[event.step_key], 2)
    return sorted(took.items(), key=lambda kv: -kv[1])


PULL_SOURCE = "shop_db"
PULL_PASSWORD_ENV = "BENCH_SHOP_DB_PASSWORD"  # not CRM_*: those are settings


def _entity_seconds(steps: dict[str, float], entity: str) -> float:
    """The seconds of an entity's raw asset and its checks (raw__orders, raw__orders_...)."""
    return sum(s for step, s in steps.items() if step.startswith(f"raw__{entity}"))


def _timed_pull(
    settings: Settings, first_day: date, file_steps: dict[str, float], file_rows: dict[str, int]
) -> dict[str, Any]:
    """Fill a throw-away PostgreSQL server with the warehouse's newest customers and orders
    and every order line (not timed), then time a first pull of them with a database source
    and the load of what it pulled, in a folder of their own; beside it, the first load of
    the same entities' files: its steps' seconds and the rows it loaded."""
    import dagster as dg
    import yaml
    from dagster_dlt import DagsterDltResource

    from dagster_project.ingest.assets import build_raw_assets
    from dagster_project.ingest.sources import build_pull_assets, pulled_keys
    from dagster_project.resources import Warehouse

    if server_programs() is None:
        return {"skipped": "PostgreSQL's server programs (initdb, pg_ctl) are not installed"}
    folder = settings.data_dir / "database_pull"
    folder.mkdir()
    password = secrets.token_hex(12)
    os.environ[PULL_PASSWORD_ENV] = password
    with postgres_server(password) as server:
        started = time.perf_counter()
        rows = fill_database(server.login(password), settings.warehouse_path)
        fill_seconds = time.perf_counter() - started
        source = {"kind": "database", "url": server.url, "password_env": PULL_PASSWORD_ENV}
        config = {
            "first_partition_date": first_day.isoformat(),
            "sources": {PULL_SOURCE: {**source, "tables": TABLES}},
        }
        (folder / "crm-mart.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        shop = load_settings(folder)
        instance = dg.DagsterInstance.ephemeral()
        memory = PeakMemory()
        started = time.perf_counter()
        with memory:
            result = dg.materialize(
                [*build_pull_assets(shop), *build_raw_assets(pulled_keys(shop))],
                resources={
                    "warehouse": Warehouse(data_dir=str(shop.data_dir)),
                    "dlt": DagsterDltResource(),
                },
                selection=dg.AssetSelection.groups("ingest"),
                instance=instance,
                raise_on_error=False,
            )
        wall = time.perf_counter() - started
    if not result.success:
        raise SystemExit("the benchmark's pull from PostgreSQL failed; see the log above")
    steps = dict(_step_seconds(instance, result.run_id))
    pulled = {e: n for e, n in _raw_rows(shop.warehouse_path).items() if e in TABLES}
    if pulled != rows:
        raise SystemExit(f"the pull loaded {pulled} rows of the database's {rows}")
    total = sum(rows.values())
    pull_seconds = steps[f"pull__{PULL_SOURCE}"]
    load_seconds = sum(_entity_seconds(steps, e) for e in TABLES)
    file_seconds = sum(_entity_seconds(file_steps, e) for e in TABLES)
    from_files = sum(file_rows[e] for e in TABLES)
    return {
        "rows": rows,
        "fill_seconds": round(fill_seconds, 2),
        "pull_seconds": pull_seconds,
        "load_seconds": round(load_seconds, 2),
        "wall_seconds": round(wall, 2),
        "pull_rows_per_second": round(total / pull_seconds),
        "pull_and_load_rows_per_second": round(total / (pull_seconds + load_seconds)),
        "peak_memory_mb": round(memory.peak_mb, 1),
        "files": {
            "rows": from_files,
            "seconds": round(file_seconds, 2),
            "rows_per_second": round(from_files / file_seconds),
        },
    }


def _reusable_shop(settings: Settings, cfg: ShopConfig) -> dict[str, Any] | None:
    """The summary of the shop an earlier run generated here with the same settings, if any."""
    held = settings.data_dir / HELD_BACK
    if held.exists():  # an earlier run stopped before landing its held-back days
        _land_held_back_days(held, settings.landing_dir)
        shutil.rmtree(held)
    return generated_summary(settings.landing_dir, cfg)


def run_benchmark(
    scale: str,
    data_dir: Path,
    fmt: str = "parquet",
    days: int | None = None,
    regenerate: bool = False,
) -> dict[str, Any]:
    """Generate `days` of history at `scale` into data_dir (or reuse the shop generated there
    with the same settings), then time the full build and DAILY_RUNS daily runs."""
    customers = SCALES.get(scale) or int(scale)
    history_days = days or ShopConfig().days
    # the history and one day more; the last DAILY_RUNS days are held back for the daily runs
    cfg = ShopConfig(customers=customers, fmt=fmt, days=history_days + 1)
    settings = load_settings(data_dir)
    data_dir = settings.data_dir  # resolved: one name for the folder from here on
    generated = None if regenerate else _reusable_shop(settings, cfg)
    reused = generated is not None
    # everything the pipeline wrote goes; a reused shop's landing files stay
    for path in data_dir.iterdir() if data_dir.exists() else []:
        if not reused or path != settings.landing_dir:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["CRM_DATA_DIR"] = str(data_dir)  # dbt, a child process, finds the warehouse
    prepare(settings)  # the dbt manifest the definitions are built from, as crm-mart run does
    started = time.perf_counter()
    if not reused:
        generated = generate(cfg, data_dir)
    generate_seconds = time.perf_counter() - started
    landing, held = settings.landing_dir, data_dir / HELD_BACK
    daily_days = [(cfg.end - timedelta(days=n)).isoformat() for n in reversed(range(DAILY_RUNS))]
    history_end = (cfg.end - timedelta(days=DAILY_RUNS)).isoformat()
    for day in daily_days:
        _hold_back_day(landing, day, held)
    warehouse = settings.warehouse_path

    def summarise(run: dict[str, Any], rows: int) -> dict[str, Any]:
        for t in run["phases"].values():
            if t["seconds"]:
                t["rows_per_second"] = round(rows / t["seconds"])
        return {**run, "total_seconds": run["wall_seconds"], "input_rows": rows}

    memory = PeakMemory()
    with memory:  # the pipeline's memory, not the generator's
        # the first load: the whole history in one run of the job a user runs
        full = _timed_run(history_end, data_dir)
        file_steps = full.pop("steps")
        rows_before, cutoffs_before = _raw_rows(warehouse), _labelled_churn_cutoffs(warehouse)
        file_rows = rows_before
        full_build = summarise(full, sum(rows_before.values()))
        daily_runs = []
        for day in daily_days:
            _land_held_back_days(held, landing, day)
            timings = _timed_run(day, data_dir)
            timings.pop("steps")
            rows_after, cutoffs_after = _raw_rows(warehouse), _labelled_churn_cutoffs(warehouse)
            rows = {e: rows_after[e] - rows_before[e] for e in ENTITY_NAMES}
            run = {"day": day, **summarise(timings, sum(rows.values())), "rows": rows}
            run["new_labelled_churn_cutoffs"] = sorted(cutoffs_after - cutoffs_before)
            run["share_of_full"] = round(run["total_seconds"] / full_build["total_seconds"], 4)
            daily_runs.append(run)
            rows_before, cutoffs_before = rows_after, cutoffs_after
    shutil.rmtree(held)
    definitions_seconds = _definitions_load_seconds(data_dir)
    weekly_report = _weekly_report(settings)
    # the files the first load read, and the days after it, are in the warehouse: a
    # database holds the newest version of each row
    database_pull = _timed_pull(settings, cfg.start, file_steps, file_rows)
    assert generated is not None  # generated above, or the reused shop's summary

    return {
        "scale": scale,
        "engine": settings.engine,
        "customers": customers,
        "format": fmt,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "generated_rows": generated["rows"],
        "generate_seconds": round(generate_seconds, 2),
        "shop_reused": reused,
        "rows": _raw_rows(warehouse),
        "full_build": full_build,
        "daily_runs": daily_runs,
        "peak_memory_mb": round(memory.peak_mb, 1),
        "definitions_load_seconds": round(definitions_seconds, 2),
        "weekly_report": weekly_report,
        "database_pull": database_pull,
        # the warehouse and the marts' file beside it (and on Spark, its tables and sources)
        "warehouse_mb": round(
            sum(
                f.stat().st_size
                for f in (warehouse, settings.marts_path, *settings.spark_dir.rglob("*"))
                if f.is_file()
            )
            / 2**20,
            1,
        ),
    }


def format_report(report: dict[str, Any]) -> str:
    full, dailies = report["full_build"], report["daily_runs"]
    day_columns = "".join(f"{d['day'] + ' s':>14}" for d in dailies)
    lines = [
        f"crm-mart benchmark, scale {report['scale']} ({report['customers']:,} customers, "
        f"{report['format']}), engine {report['engine']}, {report['machine']['cpus']} CPUs",
        "",
        "rows: " + ", ".join(f"{k} {v:,}" for k, v in report["rows"].items()),
        "",
        f"{'phase':<16}{'first load s':>14}{'rows/s':>12}{day_columns}",
    ]
    for phase in PHASES:
        f = full["phases"][phase]
        if f["seconds"] is None:
            lines.append(f"{phase:<16}{'-':>14}   ({f['note']})")
            continue
        days = "".join(f"{d['phases'][phase]['seconds']:>14.1f}" for d in dailies)
        lines.append(f"{phase:<16}{f['seconds']:>14.1f}{f.get('rows_per_second', 0):>12,}{days}")
    days = "".join(f"{d['dagster_overhead_seconds']:>14.1f}" for d in dailies)
    lines.append(
        f"{'dagster overhead':<16}{full['dagster_overhead_seconds']:>14.1f}"
        f"{full['dagster_overhead_share']:>12.1%}{days}"
    )
    days = "".join(f"{d['total_seconds']:>14.1f}" for d in dailies)
    lines += [
        f"{'total (wall)':<16}{full['total_seconds']:>14.1f}{'':>12}{days}",
        "",
        "slowest steps (first load s, then each daily run s):",
    ]
    for phase in PHASES:
        daily_steps = [dict(d["phases"][phase].get("slowest_steps", [])) for d in dailies]
        for step, seconds in full["phases"][phase].get("slowest_steps", [])[:PRINTED_STEPS]:
            in_daily = [steps.get(step) for steps in daily_steps]
            daily_text = "".join("       -" if s is None else f"{s:>8.1f}" for s in in_daily)
            lines.append(f"  {phase:<16}{step:<48}{seconds:>8.1f}{daily_text}")
    lines.append("")
    for d in dailies:
        cutoffs = d["new_labelled_churn_cutoffs"]
        why = f" (new labelled churn cutoffs {', '.join(cutoffs)})" if cutoffs else ""
        lines.append(f"daily run {d['day']} / full build: {d['share_of_full']:.1%}{why}")
    lines += [
        f"peak memory: {report['peak_memory_mb']:,.0f} MB (the pipeline and dbt together)",
        f"warehouse on disk: {report['warehouse_mb']:,.0f} MB (with the marts' file)",
        f"loading the definitions: {report['definitions_load_seconds']:.2f} s (import, asset "
        "graph and jobs; no dbt)",
        "weekly report {week}: {seconds:.1f} s, {size:.2f} MB".format(
            size=report["weekly_report"]["bytes"] / 1e6, **report["weekly_report"]
        ),
        "(the sample shop of an earlier run was reused)"
        if report["shop_reused"]
        else f"(generating the shop took {report['generate_seconds']:.0f}s, not timed)",
        "",
        *pull_lines(report["database_pull"]),
    ]
    return "\n".join(lines)


def pull_lines(pull: dict[str, Any]) -> list[str]:
    """The first pull from PostgreSQL beside the load of the same entities from files."""
    if "skipped" in pull:
        return [f"first pull from PostgreSQL: not timed ({pull['skipped']})"]
    rows = sum(pull["rows"].values())
    files = pull["files"]
    load_rate = round(rows / pull["load_seconds"]) if pull["load_seconds"] else 0
    return [
        f"first pull from PostgreSQL of {', '.join(pull['rows'])}: {rows:,} rows "
        f"(filling the database took {pull['fill_seconds']:.0f}s, not timed)",
        f"  {'pull (dlt: database to Parquet)':<40}{pull['pull_seconds']:>8.1f} s"
        f"{pull['pull_rows_per_second']:>12,} rows/s",
        f"  {'load of the pulled files':<40}{pull['load_seconds']:>8.1f} s{load_rate:>12,} rows/s",
        f"  {'pull and load':<40}{pull['pull_seconds'] + pull['load_seconds']:>8.1f} s"
        f"{pull['pull_and_load_rows_per_second']:>12,} rows/s",
        f"  {'the first load of their files':<40}{files['seconds']:>8.1f} s"
        f"{files['rows_per_second']:>12,} rows/s ({files['rows']:,} rows: every version)",
        f"  peak memory of the pull and its load: {pull['peak_memory_mb']:,.0f} MB",
    ]


def scaling_lines(report: dict[str, Any], others: list[dict[str, Any]]) -> list[str]:
    """How the full build's time grew against its rows, relative to other scales' runs."""
    lines = []
    rows = report["full_build"]["input_rows"]
    seconds = report["full_build"]["total_seconds"]
    for other in sorted(others, key=lambda r: r["full_build"]["input_rows"]):
        if other["scale"] == report["scale"] or not other["full_build"]["total_seconds"]:
            continue
        row_factor = rows / other["full_build"]["input_rows"]
        time_factor = seconds / other["full_build"]["total_seconds"]
        lines.append(
            f"vs {other['scale']}: {row_factor:,.1f}x the rows in {time_factor:,.1f}x the time "
            f"(ratio {time_factor / row_factor:.2f}; at most 1 is no worse than linear)"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dagster_project.benchmark")
    parser.add_argument("--scale", default="medium", help=" | ".join(SCALES))
    parser.add_argument("--format", dest="fmt", choices=("parquet", "csv"), default="parquet")
    parser.add_argument(
        "--regenerate",
        action="store_true",
        help="generate the sample shop again even if one with the same settings is there",
    )
    args = parser.parse_args(argv)
    bench_dir = data_dir_from_env() / "bench"
    engine = load_settings(bench_dir / args.scale).engine  # CRM_ENGINE=spark: on Spark
    name = args.scale if engine == "duckdb" else f"{args.scale}-{engine}"
    report = run_benchmark(args.scale, bench_dir / name, args.fmt, regenerate=args.regenerate)
    out = bench_dir / f"{name}.json"
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    others = [
        other
        for other in (json.loads(p.read_text()) for p in bench_dir.glob("*.json") if p != out)
        if other.get("engine", "duckdb") == engine  # scaling is compared on one engine
    ]
    print(format_report(report))
    for line in scaling_lines(report, others):
        print(line)
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
