"""One campaign's audience file for day D: build, check (great-expectations), publish, log.

The file holds the treatment arm only, with the campaign's fields and nothing else. It is
written into a hidden staging folder and renamed into `exports/<campaign>/<day>/`, so a
reader sees the whole day folder or none of it; the contact-log rows of the send are
replaced in the same transaction, which is rolled back if publishing fails.
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from dagster_project.activate.audience import (
    CONSENT,
    SCHEMA,
    arm_sql,
    audience_base_sql,
)
from dagster_project.activate.catalogue import Campaign
from dagster_project.ingest.loader import sha256_of
from dagster_project.quality.gx import Outcome, validate_frame
from dagster_project.settings import REPO_ROOT, Settings

if TYPE_CHECKING:  # pandas is imported by the code that makes frames, when it runs
    import pandas as pd

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"

FIELD_SQL = {
    "email_sha256": ("case when coalesce(b.has_valid_email, false) then sha256(b.email_key) end"),
    "phone_sha256": "case when b.phone is not null then sha256(b.phone) end",
}


def pipeline_version() -> str:
    with (REPO_ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]["version"]


@dataclass
class Prepared:
    """The treatment frame of one send with the columns its checks read, and its counts."""

    campaign: Campaign
    day: date
    frame: pd.DataFrame  # fields + check columns (customer_id, has_consent, hash_arm)
    is_due: bool  # its schedule runs on this day
    expected_rows: int  # treatment members in activate.campaign_funnel
    control_rows: int

    @property
    def file_frame(self) -> pd.DataFrame:
        return self.frame[list(self.campaign.fields)]


def prepare(
    conn: duckdb.DuckDBPyConnection, settings: Settings, campaign: Campaign, day: date
) -> Prepared:
    """Read the send's treatment members with their fields, and the re-derived consent and arm."""
    fields = ", ".join(f"{FIELD_SQL.get(f, f'b.{f}')} as {f}" for f in campaign.fields)
    frame = conn.execute(
        f"""
        select
            a.customer_id as _customer_id,
            coalesce({CONSENT[campaign.channel]}, false) as _has_consent,
            {arm_sql(campaign, "a.customer_id")} as _hash_arm,
            {fields}
        from {SCHEMA}.campaign_audience as a
        left join ({audience_base_sql(settings, with_churn_risk=False)}) as b
            on a.customer_id = b.customer_id
        where a.send_date = ? and a.campaign_id = ? and a.arm = 'treatment'
        order by a.customer_id
        """,
        [day, campaign.id],
    ).df()
    row = conn.execute(
        f"select is_due, treatment, control from {SCHEMA}.campaign_funnel "
        "where send_date = ? and campaign_id = ?",
        [day, campaign.id],
    ).fetchone()
    if row is None:
        raise RuntimeError(
            f"No audience of campaign {campaign.id} for {day}: materialize "
            "activate/campaign_audience first (if the catalogue changed, reload the Dagster "
            "definitions)."
        )
    is_due, expected, control = row
    return Prepared(campaign, day, frame, bool(is_due), int(expected), int(control))


def expectations(prepared: Prepared) -> list[Any]:
    """docs/campaigns.md rule 7: unique ids, a valid address, consent, no control member,
    row count."""
    import great_expectations.expectations as gxe

    channel = prepared.campaign.channel
    rules: list[Any] = [
        gxe.ExpectColumnValuesToNotBeNull(column="_customer_id"),
        gxe.ExpectColumnValuesToBeUnique(column="_customer_id"),
        gxe.ExpectColumnValuesToBeInSet(column="_has_consent", value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="_hash_arm", value_set=["treatment"]),
        gxe.ExpectTableRowCountToEqual(value=prepared.expected_rows),
    ]
    address = {
        "email": ("email", EMAIL_PATTERN),
        "sms": ("phone", E164_PATTERN),
        "customer_match": ("email_sha256", SHA256_PATTERN),
    }.get(channel)
    if address:
        column, pattern = address
        rules += [
            gxe.ExpectColumnValuesToNotBeNull(column=column),
            gxe.ExpectColumnValuesToMatchRegex(column=column, regex=pattern),
        ]
    if "phone_sha256" in prepared.campaign.fields:
        rules.append(
            gxe.ExpectColumnValuesToMatchRegex(column="phone_sha256", regex=SHA256_PATTERN)
        )
    return rules


def check(prepared: Prepared) -> Outcome:
    return validate_frame(
        prepared.frame, f"audience_{prepared.campaign.id}", expectations(prepared)
    )


def day_folder(settings: Settings, campaign_id: str, day: date) -> Path:
    return settings.exports_dir / campaign_id / day.isoformat()


def _write_files(folder: Path, prepared: Prepared, outcome: Outcome, settings: Settings) -> dict:
    folder.mkdir(parents=True)
    frame = prepared.file_frame
    frame.to_csv(folder / "audience.csv", index=False, encoding="utf-8")
    names = ["audience.csv"]
    if settings.vars.get("export_parquet"):
        frame.to_parquet(folder / "audience.parquet", index=False)
        names.append("audience.parquet")
    manifest = {
        "campaign_id": prepared.campaign.id,
        "campaign_name": prepared.campaign.name,
        "channel": prepared.campaign.channel,
        "send_date": prepared.day.isoformat(),
        "row_count": len(frame),
        "control_count": prepared.control_rows,
        "fields": list(prepared.campaign.fields),
        "files": {
            name: {"sha256": sha256_of(folder / name), "bytes": (folder / name).stat().st_size}
            for name in names
        },
        "pipeline_version": pipeline_version(),
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_quality": {"success": outcome.success, "expectations": outcome.results},
    }
    (folder / "manifest.json").write_text(
        json.dumps(manifest, indent=2, default=str), encoding="utf-8"
    )
    return manifest


@dataclass
class Send:
    """One campaign's contacts of a send day, as the contact log holds them."""

    campaign_id: str
    channel: str
    treatment: int
    control: int


def logged_sends(conn: duckdb.DuckDBPyConnection, day: date) -> list[Send]:
    rows = conn.execute(
        f"""
        select
            campaign_id,
            any_value(channel),
            count(*) filter (where arm = 'treatment'),
            count(*) filter (where arm = 'control')
        from {SCHEMA}.contact_log where send_date = ? group by campaign_id order by campaign_id
        """,
        [day],
    ).fetchall()
    return [Send(*row) for row in rows]


def log_mismatches(
    settings: Settings, day: date, campaign_ids: list[str], sends: list[Send]
) -> list[str]:
    """Where the contact log of `day` and the published files disagree (nothing: they agree)."""
    logged = {s.campaign_id: s for s in sends}
    found = []
    for cid in sorted(set(campaign_ids) | set(logged)):
        path = day_folder(settings, cid, day) / "manifest.json"
        send = logged.get(cid)
        if not path.exists():
            if send:
                found.append(
                    f"{cid}, send day {day}: {send.treatment + send.control:,} contact(s) in "
                    f"the log but no published file ({path.parent} is missing)"
                )
            continue
        manifest = json.loads(path.read_text(encoding="utf-8"))
        published = (manifest["row_count"], manifest["control_count"])
        in_log = (send.treatment, send.control) if send else (0, 0)
        if published != in_log:
            found.append(
                f"{cid}, send day {day}: the published file has {published[0]:,} treatment and "
                f"{published[1]:,} control customers, the contact log {in_log[0]:,} and "
                f"{in_log[1]:,}"
            )
    return found


def publish(
    conn: duckdb.DuckDBPyConnection, settings: Settings, prepared: Prepared, outcome: Outcome
) -> dict:
    """Write the files under a temporary name, log the send, rename into place; all or nothing."""
    if not outcome.success:
        raise ValueError("a send that failed its checks is never published")
    campaign, day = prepared.campaign, prepared.day
    staging_root = settings.exports_dir / ".staging"
    for leftover in staging_root.glob(f"{campaign.id}--{day}--*"):  # from an earlier crash
        shutil.rmtree(leftover, ignore_errors=True)
    staging = staging_root / f"{campaign.id}--{day}--{uuid.uuid4().hex}"
    final = day_folder(settings, campaign.id, day)
    replaced = staging_root / f"{campaign.id}--{day}--{uuid.uuid4().hex}-old"
    conn.execute("begin")
    try:
        manifest = _write_files(staging, prepared, outcome, settings)
        conn.execute(
            f"delete from {SCHEMA}.contact_log where send_date = ? and campaign_id = ?",
            [day, campaign.id],
        )
        conn.execute(
            f"""
            insert into {SCHEMA}.contact_log
            select campaign_id, customer_id, arm, send_date, channel, current_timestamp
            from {SCHEMA}.campaign_audience where send_date = ? and campaign_id = ?
            """,
            [day, campaign.id],
        )
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            os.rename(final, replaced)
        os.rename(staging, final)
        conn.execute("commit")
    except BaseException:
        conn.execute("rollback")
        if replaced.exists() and not final.exists():
            os.rename(replaced, final)  # put the earlier publication back
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(replaced, ignore_errors=True)
    return manifest
