"""Production runs: jobs, the daily and weekly schedules, the landing-zone sensor, and the
run-failure report. Times are in the store's time zone (settings in dbt/dbt_project.yml)."""

import hashlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg

from dagster_project.ingest.assets import load_run_config
from dagster_project.ingest.loader import folder_day, is_hidden
from dagster_project.report.assets import REPORT_KEY
from dagster_project.settings import Settings, load_settings
from dagster_project.transform.assets import model_key

_settings = load_settings()
_vars = _settings.vars

# a step that failed for a transient reason (a locked warehouse file, a full disk) is tried
# again, later each time; every other error fails at once (resources.retry_only_transient)
RETRY = dg.RetryPolicy(
    max_retries=int(_vars["step_max_retries"]),
    delay=int(_vars["step_retry_delay_seconds"]),
    backoff=dg.Backoff.EXPONENTIAL,
)
WEEKLY_KPI_MODELS = ("kpi_weekly", "kpi_weekly_monitor")

daily_pipeline = dg.define_asset_job(
    "daily_pipeline",
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets(REPORT_KEY),
    description=(
        "Every landing file not loaded yet (of the days up to the raw assets' `through`), then "
        "everything downstream: dbt marts, scores, campaign audiences and files, and the BI "
        "publication. Any number of days loads in one run."
    ),
    op_retry_policy=RETRY,
)
ingest_job = dg.define_asset_job(
    "ingest",
    selection=dg.AssetSelection.groups("ingest"),
    description="Load the landing files not loaded yet (launched by the landing_files sensor).",
    op_retry_policy=RETRY,
)
weekly_kpi_job = dg.define_asset_job(
    "weekly_kpi",
    selection=dg.AssetSelection.assets(*(model_key(m) for m in WEEKLY_KPI_MODELS), REPORT_KEY),
    description="The weekly KPI tables, rebuilt once the week has closed, then the weekly report.",
    op_retry_policy=RETRY,
)


def _cron(time_of_day: str, weekday: str = "*") -> str:
    hour, minute = (int(part) for part in time_of_day.split(":"))
    return f"{minute} {hour} * * {weekday}"


@dg.schedule(
    job=daily_pipeline,
    cron_schedule=_cron(str(_vars["daily_schedule_time"])),
    execution_timezone=_settings.store_timezone,
    description="Every day at daily_schedule_time (store time): the landing files up to "
    "yesterday not loaded yet, and everything downstream.",
)
def daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    store_day = context.scheduled_execution_time.astimezone(ZoneInfo(_settings.store_timezone))
    day = store_day.date() - timedelta(days=1)
    return dg.RunRequest(run_key=f"daily-{day}", run_config=load_run_config(day))


@dg.schedule(
    job=weekly_kpi_job,
    # cron counts Sunday as 0; ISO weekdays run 1 (Monday) to 7 (Sunday)
    cron_schedule=_cron(
        str(_vars["weekly_kpi_schedule_time"]), str(int(_vars["weekly_kpi_weekday"]) % 7)
    ),
    execution_timezone=_settings.store_timezone,
    description="Once a week, after the week has closed: the weekly KPI tables.",
)
def weekly_kpi_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    week = context.scheduled_execution_time.astimezone(ZoneInfo(_settings.store_timezone))
    return dg.RunRequest(run_key=f"weekly-kpi-{week.date().isoformat()}")


def landing_state(settings: Settings) -> dict[str, str]:
    """One digest per partition day of the landing zone: the names, sizes and times of its files."""
    listing: dict[str, list[str]] = {}
    for path in sorted(settings.landing_dir.glob("*/dt=*/*")):
        if path.is_file() and not is_hidden(path.name):
            stat = path.stat()
            rel = path.relative_to(settings.landing_dir)
            listing.setdefault(path.parent.name[3:], []).append(
                f"{rel}:{stat.st_size}:{stat.st_mtime_ns}"
            )
    return {
        day: hashlib.sha256("\n".join(files).encode()).hexdigest()[:16]
        for day, files in listing.items()
    }


def changed_days(before: dict[str, str], now: dict[str, str]) -> list[str]:
    return sorted(day for day, digest in now.items() if before.get(day) != digest)


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=int(_vars["landing_sensor_interval_seconds"]),
    description="Launches an ingestion run when files arrive in (or change under) "
    "landing/<entity>/dt=<day>/: the run loads every file not loaded yet. It starts from the "
    "landing zone as it is when it is first turned on: a run of daily_pipeline (or "
    "crm-mart run) loads what was there before.",
)
def landing_files(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    now = landing_state(load_settings())
    if context.cursor is None:
        return dg.SensorResult(
            skip_reason=f"Started watching {len(now)} landing day(s); new files from now on.",
            cursor=json.dumps(now),
        )
    settings = load_settings()
    days = [  # a folder that is not a day, or before the first one, loads nothing
        day
        for day in changed_days(json.loads(context.cursor), now)
        if (parsed := folder_day(day)) and parsed >= settings.first_partition_date
    ]
    if not days:
        return dg.SensorResult(cursor=json.dumps(now), skip_reason="No new landing files.")
    changes = ",".join(f"{day}:{now[day]}" for day in days)
    key = hashlib.sha256(changes.encode()).hexdigest()[:16]
    context.log.info(f"New or changed files in {len(days)} landing day(s): {', '.join(days)}")
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=key)], cursor=json.dumps(now))


def failure_log(settings: Settings) -> Path:
    return settings.data_dir / "quality" / "run_failures.log"


def failure_text(event: dg.DagsterEvent) -> str:
    """What a failure event says: a step's own message (or its error's), else the run's."""
    if event.is_step_failure:
        data = event.step_failure_data
        user = data.user_failure_data if data else None
        error = data.error if data else None
        return ((user.description if user else None) or (error.message if error else "")).strip()
    return (event.message or "").strip()


@dg.run_failure_sensor(
    description="Writes each failed run, with the cause, to $CRM_DATA_DIR/quality/"
    "run_failures.log (one line per run; point an alert at it).",
    monitor_all_code_locations=False,
)
def report_run_failure(context: dg.RunFailureSensorContext) -> None:
    causes = [f"{e.step_key}: {failure_text(e)}" for e in context.get_step_failure_events()]
    line = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "job": context.dagster_run.job_name,
        "run_id": context.dagster_run.run_id,
        "cause": causes or [context.failure_event.message or "the run failed"],
    }
    path = failure_log(load_settings())
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
    context.log.error(f"Run {line['run_id']} of {line['job']} failed: {line['cause']}")


_progress_to: list = [sys.stdout]  # where the progress lines go (progress_only sets it)


@contextmanager
def progress_only() -> Iterator[None]:
    """Only the progress lines reach the terminal: the rest a run writes to stdout (dbt's
    event lines, which dagster-dbt echoes) is dropped; dbt keeps its own log."""
    _progress_to[0] = sys.stdout
    with open(os.devnull, "w") as sink, redirect_stdout(sink):
        yield


class _StepProgress(logging.Handler):
    """One line per finished step of a run, for the command line."""

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_meta", {}).get("dagster_event")
        if event is None or event.event_type_value not in ("STEP_SUCCESS", "STEP_FAILURE"):
            return
        if event.event_type_value == "STEP_SUCCESS":
            seconds = event.event_specific_data.duration_ms / 1000
            line = f"  done    {event.step_key} ({seconds:.1f}s)"
        else:
            error = event.event_specific_data.error
            reason = (error.message if error else "").strip().splitlines()
            line = f"  FAILED  {event.step_key}: {reason[0] if reason else ''}"
        say(line)


def say(line: str) -> None:
    """A progress line for the terminal, also inside progress_only."""
    print(line, file=_progress_to[0], flush=True)


@dg.logger(
    config_schema=None, description="One line per finished step (crm-mart run and the demo)."
)
def progress(init_context: dg.InitLoggerContext) -> logging.Logger:
    log = logging.Logger(f"crm-mart-progress-{init_context.run_id}", level=logging.DEBUG)
    log.addHandler(_StepProgress())
    return log


# the loggers of every job: Dagster's console logger unless a run asks for progress
loggers = {"console": dg.colored_console_logger, "progress": progress}


def progress_run_config(
    as_of: date | None = None,
    progress: bool = True,
    load: bool = True,
    through: date | None = None,
) -> dict:
    """Run config for one progress line per step instead of the log, with D (as_of, when
    given) and, for a run that loads (load), the last landing day to load (through; None: up
    to tomorrow). Jobs built outside these definitions (dg.materialize) have only Dagster's
    console logger: progress=False keeps its errors (a failed run's cause)."""
    quiet = {"console": {"config": {"log_level": "ERROR"}}}
    config: dict = {
        "loggers": {"progress": {}} if progress else quiet,
        "ops": load_run_config(through)["ops"] if load else {},
    }
    if as_of:
        config["ops"]["crm_dbt_models"] = {"config": {"as_of_date": as_of.isoformat()}}
    return config


jobs = [daily_pipeline, ingest_job, weekly_kpi_job]
schedules = [daily_schedule, weekly_kpi_schedule]
sensors = [landing_files, report_run_failure]
