"""A run whose process died must not block the run queue: the daemon's run monitoring, with
the launcher in dagster_project/run_launcher.py, marks it failed and the queue moves on."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dagster_project.cli import DAGSTER_CONFIG, ensure_dagster_home, recent_runs
from dagster_project.run_launcher import process_alive, run_process
from dagster_project.settings import load_settings

pytestmark = pytest.mark.slow  # starts a Dagster daemon: make test, not make test-fast

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _launch(workspace: Path, env: dict[str, str], seconds: float) -> None:
    config = {"ops": {"wait": {"config": {"seconds": seconds}}}}
    launched = subprocess.run(
        [
            BIN / "dagster",
            "job",
            "launch",
            "-w",
            workspace,
            "-j",
            "wait_job",
            "--config-json",
            json.dumps(config),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]


def _wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"waited {seconds:.0f} s for {what}")


def test_a_killed_run_is_failed_by_the_daemon_and_the_queued_run_starts(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load(DAGSTER_CONFIG.read_text())
    assert config["run_queue"]["max_concurrent_runs"] == 1
    config["run_monitoring"]["poll_interval_seconds"] = 1  # the shipped 30 s, shortened
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    settings = load_settings(tmp_path)
    assert settings.dagster_home == home
    ensure_dagster_home(settings)  # keeps this config; creates the databases before two processes
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "python_file": {
                            "relative_path": str(REPO / "tests" / "orchestration_location.py"),
                            "working_directory": str(REPO),
                        }
                    }
                ]
            }
        )
    )
    env = {**os.environ, "DAGSTER_HOME": str(home)}

    def daemon() -> subprocess.Popen:
        return subprocess.Popen(
            [BIN / "dagster-daemon", "run", "-w", workspace],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the code server and runs too
        )

    first_daemon = daemon()
    second_daemon = None
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            _launch(workspace, env, seconds=600)
            (long_run,) = instance.get_runs()

            def started():
                run = instance.get_run_by_id(long_run.run_id)
                return run.status == dg.DagsterRunStatus.STARTED and run_process(
                    instance, run.run_id
                )

            pid, started_at = _wait_for(started, 120, "the first run to start")
            _launch(workspace, env, seconds=0)
            queued = next(r for r in instance.get_runs() if r.run_id != long_run.run_id)
            time.sleep(3)  # the queue holds it: one run at a time
            assert instance.get_run_by_id(queued.run_id).status == dg.DagsterRunStatus.QUEUED

            # the machine "crashes": the daemon, its code server and the run die at once
            os.killpg(first_daemon.pid, signal.SIGKILL)
            first_daemon.wait()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_for(lambda: not process_alive(pid, started_at), 30, "the run to die")
            assert instance.get_run_by_id(long_run.run_id).status == dg.DagsterRunStatus.STARTED

            second_daemon = daemon()  # restarted; nobody touches the runs
            _wait_for(
                lambda: instance.get_run_by_id(queued.run_id).status == dg.DagsterRunStatus.SUCCESS,
                120,
                "the queued run to start and finish",
            )
            dead = instance.get_run_by_id(long_run.run_id)
            assert dead.status == dg.DagsterRunStatus.FAILURE
            (failure,) = instance.all_logs(long_run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            assert f"the run's process (pid {pid}) is gone" in failure.message
            # crm-mart status shows it like any failed run
            shown = recent_runs(instance, settings)
            assert [line.split()[2:4] for line in shown] == [
                ["wait_job", "success"],
                ["wait_job", "failure:"],
            ]
            assert f"the run's process (pid {pid}) is gone" in shown[1]
    finally:
        for process in (first_daemon, second_daemon):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
