"""A tiny Dagster code location for the run-monitoring test: one job that waits."""

import time

import dagster as dg


@dg.op(config_schema={"seconds": float})
def wait(context: dg.OpExecutionContext) -> None:
    time.sleep(context.op_config["seconds"])


@dg.job
def wait_job() -> None:
    wait()


defs = dg.Definitions(jobs=[wait_job])
