"""great-expectations, set up once: validate a pandas frame against a list of expectations."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no usage reporting from a batch job


@dataclass(frozen=True)
class Outcome:
    success: bool
    results: list[dict[str, Any]]  # one per expectation: type, column, success, observed, examples

    @property
    def failures(self) -> list[str]:
        """One sentence per failed expectation, for errors and logs."""
        messages = []
        for r in self.results:
            if r["success"]:
                continue
            on = f" on {r['column']}" if r["column"] else ""
            found = (
                f"{r['unexpected_count']} row(s) break it, e.g. {r['examples']}"
                if r["unexpected_count"]
                else f"observed {r['observed']}"
            )
            messages.append(f"{r['expectation']}{on}: {found}")
        return messages


@cache
def _batch_definition() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
            store_backend_defaults=InMemoryStoreBackendDefaults(),
        ),
    )
    asset = context.data_sources.add_pandas("frames").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole frame")


def validate_frame(frame: pd.DataFrame, suite_name: str, expectations: list[Any]) -> Outcome:
    """Run the expectations (great_expectations.expectations objects) on the frame."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(name=suite_name, expectations=expectations)
    result = _batch_definition().get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    results = [
        {
            "expectation": r.expectation_config.type,
            "column": r.expectation_config.kwargs.get("column"),
            "success": bool(r.success),
            "unexpected_count": r.result.get("unexpected_count"),
            "examples": r.result.get("partial_unexpected_list", [])[:3],
            "observed": r.result.get("observed_value"),
        }
        for r in result.results
    ]
    return Outcome(success=bool(result.success), results=results)
