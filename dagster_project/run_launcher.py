"""Dagster's default run launcher, with the worker health check its run monitoring needs.

A run whose process died (killed, out of memory, the machine stopped) stays STARTED in
Dagster's run history, and with one run at a time every queued run waits behind it. With
this launcher (named in dagster.yaml) the daemon's run monitoring asks, every
`poll_interval_seconds`, whether each started run's process is still there, and marks the
runs whose process is gone as failed; the queue then moves on. The check looks for the
process on this machine: the default launcher runs every run here.
"""

from __future__ import annotations

import psutil
from dagster import DagsterEventType, DagsterInstance, DagsterRun
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus


def run_process(instance: DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The process id of a run's worker and when the run started (epoch seconds)."""
    records = instance.all_logs(run_id, of_type=DagsterEventType.RUN_START)
    for record in reversed(records):
        if record.dagster_event is not None and record.dagster_event.pid is not None:
            return record.dagster_event.pid, record.timestamp
    return None


def process_alive(pid: int, started: float) -> bool:
    """The process is there, and is the one that started the run (not a later process that
    was given the same id)."""
    try:
        return psutil.Process(pid).create_time() <= started + 1
    except psutil.Error:  # no such process, or a zombie
        return False


def worker_health(instance: DagsterInstance, run: DagsterRun) -> CheckRunHealthResult:
    found = run_process(instance, run.run_id)
    if found is None:  # run monitoring fails a run unless RUNNING: wait for its start event
        return CheckRunHealthResult(WorkerStatus.RUNNING, "the run has not reported its process")
    pid, started = found
    if process_alive(pid, started):
        return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(pid))
    return CheckRunHealthResult(
        WorkerStatus.FAILED,
        f"the run's process (pid {pid}) is gone: it was killed or its machine stopped before "
        "the run finished. Run it again; what it had committed stays.",
        run_worker_id=str(pid),
    )


class LocalRunLauncher(DefaultRunLauncher):
    """DefaultRunLauncher that tells run monitoring whether a run's process is alive."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        return worker_health(self._instance, run)
