"""Only what can pass on a second try is tried again: a locked warehouse file is, a bug is not."""

import subprocess
import sys
import time

import dagster as dg
import duckdb

from dagster_project.resources import is_transient, retry_only_transient

# another process holds the file's write lock for a few seconds, as a running job would
HOLD_LOCK = (
    "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print(flush=True); time.sleep(4)"
)


def run_with_retries(asset: dg.AssetsDefinition) -> dg.ExecuteInProcessResult:
    job = dg.define_asset_job(
        "retried", selection=[asset.key], op_retry_policy=dg.RetryPolicy(max_retries=5, delay=1)
    )
    defs = dg.Definitions(assets=[asset], jobs=[job])
    return defs.resolve_job_def("retried").execute_in_process(raise_on_error=False)


def attempts(result: dg.ExecuteInProcessResult) -> int:
    return 1 + sum(e.event_type_value == "STEP_RESTARTED" for e in result.all_events)


def test_an_error_of_the_code_fails_at_once_with_its_message():
    calls = []

    @dg.asset
    @retry_only_transient
    def divides() -> None:
        calls.append(1)
        print(1 / 0)

    result = run_with_retries(divides)
    assert not result.success
    assert attempts(result) == 1 and len(calls) == 1
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_failure_data.user_failure_data.description == (
        "ZeroDivisionError: division by zero"
    )


def test_a_locked_warehouse_file_is_tried_again_until_the_lock_is_gone(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path)], stdout=subprocess.PIPE, text=True
    )
    holder.stdout.readline()  # the lock is held from here
    errors = []

    @dg.asset
    @retry_only_transient
    def writes() -> None:
        try:
            with duckdb.connect(str(path)) as conn:
                conn.execute("create table t as select 1 as x")
        except duckdb.IOException as error:
            errors.append(error)
            raise

    started = time.monotonic()
    result = run_with_retries(writes)
    holder.wait(timeout=30)
    assert result.success
    assert errors and all(is_transient(e) for e in errors)
    assert "Could not set lock on file" in str(errors[0])
    assert attempts(result) == len(errors) + 1 >= 2
    assert time.monotonic() - started >= 1  # the policy's delay between the tries


def test_every_step_of_the_daily_job_retries_only_transient_errors():
    from dagster_project.definitions import defs

    job = defs.resolve_job_def("daily_pipeline")
    unwrapped = []
    for node in job.graph.nodes:
        compute = node.definition.compute_fn
        if not hasattr(getattr(compute, "decorated_fn", compute), "__wrapped__"):
            unwrapped.append(node.name)
    # Dagster's own freshness check reads the instance only: nothing there to retry
    assert len(unwrapped) == 1 and unwrapped[0].startswith("freshness_check")
