"""great-expectations, set up once: validate pandas frames against a list of expectations,
and keep each validation as an HTML page."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas is imported by the code that makes frames, when it runs
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


def _column_of(kwargs: dict[str, Any]) -> str | None:
    if kwargs.get("column_A"):
        return f"{kwargs['column_A']} and {kwargs['column_B']}"
    return kwargs.get("column") or ", ".join(kwargs.get("column_list") or []) or None


def _examples(result: dict[str, Any]) -> list[Any]:
    """Up to 3 breaking values, with the identifying columns (file, row) when asked for."""
    with_ids = result.get("partial_unexpected_index_list") or []
    if with_ids and isinstance(with_ids[0], dict):
        ids = result.get("unexpected_index_column_names") or []
        return [
            {k: str(row[k]) for k in [*ids, *(k for k in row if k not in ids)]}
            for row in with_ids[:3]
        ]
    return [str(v) for v in result.get("partial_unexpected_list", [])[:3]]


def _config(result: Any) -> Any:
    """The expectation a validation result is of (great-expectations types it as optional)."""
    if result.expectation_config is None:
        raise RuntimeError(
            f"great-expectations returned a result without its expectation: {result}"
        )
    return result.expectation_config


def validate_frame(
    frame: pd.DataFrame,
    suite_name: str,
    expectations: list[Any],
    id_columns: list[str] | None = None,
) -> Outcome:
    """Run the expectations (great_expectations.expectations objects) on the frame; examples
    of breaking rows carry the `id_columns` (e.g. source file and row number)."""
    import great_expectations as gx

    # The validator GX's own Batch.validate and ValidationDefinition.run build. Called
    # directly it reads the frame once: get_batch().validate() fetches the batch twice, and
    # GX fingerprints a frame under 1 GB by hashing every row each time (0.6 s per 1M rows).
    from great_expectations.validator.v1_validator import Validator

    suite = gx.ExpectationSuite(name=suite_name, expectations=expectations)
    result_format: dict[str, Any] = {"result_format": "SUMMARY"}
    if id_columns:
        result_format["unexpected_index_column_names"] = id_columns
    result = Validator(
        batch_definition=_batch_definition(),
        batch_parameters={"dataframe": frame},
        result_format=result_format,
    ).validate_expectation_suite(suite)
    results = [
        {
            "expectation": _config(r).type,
            "column": _column_of(_config(r).kwargs),
            "success": bool(r.success),
            "unexpected_count": r.result.get("unexpected_count"),
            "examples": _examples(r.result),
            "observed": r.result.get("observed_value"),
        }
        for r in result.results
    ]
    return Outcome(success=bool(result.success), results=results)


def merge(outcomes: list[Outcome]) -> Outcome:
    """One outcome for a suite validated chunk by chunk: counts add up, the first examples win."""
    if len(outcomes) == 1:
        return outcomes[0]
    merged: list[dict[str, Any]] = []
    for parts in zip(*(o.results for o in outcomes), strict=True):
        failed = [p for p in parts if not p["success"]]
        counts = [p["unexpected_count"] for p in parts if p["unexpected_count"] is not None]
        merged.append(
            {
                **(failed[0] if failed else parts[-1]),
                "success": not failed,
                "unexpected_count": sum(counts) if counts else None,
            }
        )
    return Outcome(success=all(o.success for o in outcomes), results=merged)


def validate_chunks(
    frames: Iterable[pd.DataFrame],
    suite_name: str,
    expectations: list[Any],
    id_columns: list[str] | None = None,
) -> Outcome:
    """Validate frame after frame (a big table never sits whole in pandas) and merge."""
    outcomes = [validate_frame(f, suite_name, expectations, id_columns) for f in frames]
    if not outcomes:  # no rows: nothing breaks an expectation
        return Outcome(success=True, results=[])
    return merge(outcomes)


def write_report(outcome: Outcome, folder: Path, title: str, facts: dict[str, Any]) -> Path:
    """An HTML page of one validation under `folder` (kept per run, plus latest.html)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    rows = "\n".join(
        "<tr class='{}'><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            "pass" if r["success"] else "fail",
            "passed" if r["success"] else "FAILED",
            escape(r["expectation"]),
            escape(str(r["column"] or "")),
            "" if r["unexpected_count"] is None else f"{r['unexpected_count']:,}",
            escape(str(r["examples"] or r["observed"] or "")),
        )
        for r in outcome.results
    )
    about = "".join(f"<li>{escape(k)}: {escape(str(v))}</li>" for k, v in facts.items())
    verdict = "passed" if outcome.success else "FAILED"
    page = f"""<!doctype html><meta charset="utf-8"><title>{escape(title)}</title>
<style>body{{font-family:sans-serif}} td,th{{border:1px solid #ccc;padding:4px}}
table{{border-collapse:collapse}} .fail{{background:#fdd}} .pass{{background:#efe}}</style>
<h1>{escape(title)}: {verdict}</h1><p>validated {stamp}</p><ul>{about}</ul>
<table><tr><th>result</th><th>expectation</th><th>column</th><th>rows breaking it</th>
<th>examples or observed value</th></tr>
{rows}
</table>
"""
    path = folder / f"{stamp}.html"
    path.write_text(page, encoding="utf-8")
    (folder / "latest.html").write_text(page, encoding="utf-8")
    return path
