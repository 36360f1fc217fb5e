"""The campaign catalogue: marketers' YAML, checked completely before anything is computed.

`load_catalogue(path)` returns the campaigns or raises CatalogueError with one line per
mistake, each naming the campaign and the field. `python -m dagster_project.activate.catalogue`
checks the configured file and prints what it found.
"""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import yaml

from dagster_project.ingest.contract import EVENT_TYPES
from dagster_project.settings import DBT_PROJECT_DIR, Settings, load_settings

CHANNELS = ("email", "sms", "push", "customer_match")
SCHEDULES = ("daily", "weekly")
CUSTOMER_TYPES = ("new", "returning", "prospect")  # prospect: never bought

# field -> the channels allowed to export it (None: every channel but customer_match)
EXPORT_FIELDS: dict[str, tuple[str, ...] | None] = {
    "customer_id": None,  # the person (docs/identity.md)
    "shop_customer_id": None,  # their most recently updated shop account
    "push_customer_id": None,  # their newest account with push consent: push sends to it
    "email": None,
    "phone": None,
    "member_tier": None,
    "favourite_category": None,
    "lifecycle_stage": None,
    "customer_type": None,
    "rfm_group": None,
    "days_since_last_purchase": None,
    "birth_date": None,
    "gender": None,
    "city_tier": None,
    "email_sha256": ("customer_match",),
    "phone_sha256": ("customer_match",),
}
# the field that carries the address of each channel: it must be exported
CONTACT_FIELD = {"email": "email", "sms": "phone", "push": "push_customer_id"}

REQUIRED = (
    "id",
    "name",
    "channel",
    "audience",
    "control_share",
    "priority",
    "cooldown_days",
    "fields",
    "schedule",
)
OPTIONAL = ("description",)
# A campaign id names its folder under exports/ and its Dagster asset: one rule for both.
CAMPAIGN_ID = re.compile(r"[a-z0-9_]{1,64}")


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    channel: str
    audience: dict[str, Any]
    control_share: float
    priority: int
    cooldown_days: int
    fields: tuple[str, ...]
    schedule: str
    description: str = ""


class CatalogueError(ValueError):
    """Every mistake of a catalogue file, one per line."""

    def __init__(self, path: Path, mistakes: list[str]) -> None:
        self.mistakes = mistakes
        super().__init__(
            f"The campaign catalogue {path} has {len(mistakes)} mistake(s); nothing was run. "
            "Fix them and run again:\n" + "\n".join(f"  - {m}" for m in mistakes)
        )


def _seed_values(seed: str, column: str) -> tuple[str, ...]:
    with (DBT_PROJECT_DIR / "seeds" / f"{seed}.csv").open(encoding="utf-8") as f:
        return tuple(row[column] for row in csv.DictReader(f))


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class _Checker:
    """Collects mistakes; `where` names the campaign and the field of each one."""

    def __init__(self, settings: Settings) -> None:
        self.mistakes: list[str] = []
        self.lists = {
            "lifecycle_stage": _seed_values("lifecycle_stages", "lifecycle_stage"),
            "rfm_group": _seed_values("rfm_groups", "rfm_group"),
            "member_tier": tuple(t["tier"] for t in settings.vars["member_tiers"]),
            "customer_type": CUSTOMER_TYPES,
            "favourite_category": None,  # any category name
        }
        self.ranges = {
            "days_since_last_purchase": (0, None),
            "days_since_registration": (0, None),
            "amount_to_next_tier": (0, None),
            "churn_risk": (0, 1),
        }
        self.max_control_share = float(settings.vars["control_share_max"])

    def fail(self, where: str, message: str) -> None:
        self.mistakes.append(f"{where}: {message}")

    def audience(self, where: str, audience: Any) -> None:
        if not isinstance(audience, dict) or not audience:
            self.fail(where, "needs at least one condition, e.g. {lifecycle_stage: [silent]}")
            return
        for key, value in audience.items():
            at = f"{where}.{key}"
            if key in self.lists:
                self.one_of(at, value, self.lists[key])
            elif key in self.ranges:
                self.range(at, value, *self.ranges[key])
            elif key == "has_downgrade_risk":
                if not isinstance(value, bool):
                    self.fail(at, f"must be true or false, not {value!r}")
            elif key == "birthday_in_next_days":
                if not _is_int(value) or not 0 <= value <= 366:
                    self.fail(at, f"must be a whole number of days from 0 to 366, not {value!r}")
            elif key == "event_in_last_hours":
                self.event(at, value)
            else:
                known = sorted([*self.lists, *self.ranges, "has_downgrade_risk"])
                known += ["birthday_in_next_days", "event_in_last_hours"]
                self.fail(at, f"unknown condition; known conditions: {', '.join(sorted(known))}")

    def one_of(self, at: str, value: Any, allowed: tuple[str, ...] | None) -> None:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.fail(at, f"must be a non-empty list of names, not {value!r}")
            return
        for v in value:
            if allowed is not None and v not in allowed:
                self.fail(at, f"unknown value {v!r}; known: {', '.join(allowed)}")

    def range(self, at: str, value: Any, low: float, high: float | None) -> None:
        if not isinstance(value, dict) or not value or set(value) - {"min", "max"}:
            self.fail(at, f"must be {{min: .., max: ..}} (one or both), not {value!r}")
            return
        for bound in ("min", "max"):
            if bound in value:
                v = value[bound]
                if not _is_number(v) or v < low or (high is not None and v > high):
                    upper = f" and at most {high}" if high is not None else ""
                    self.fail(
                        f"{at}.{bound}", f"must be a number of at least {low}{upper}, not {v!r}"
                    )
                    return
        if "min" in value and "max" in value and value["min"] > value["max"]:
            self.fail(at, f"min {value['min']} is above max {value['max']}")

    def event(self, at: str, value: Any) -> None:
        if not isinstance(value, dict):
            self.fail(at, f"must be {{type: .., hours: .., without_purchase: ..}}, not {value!r}")
            return
        for key in set(value) - {"type", "hours", "without_purchase"}:
            self.fail(f"{at}.{key}", "unknown field; known: type, hours, without_purchase")
        if value.get("type") not in EVENT_TYPES:
            self.fail(
                f"{at}.type",
                f"unknown event type {value.get('type')!r}; known: {', '.join(EVENT_TYPES)}",
            )
        hours = value.get("hours")
        if not _is_int(hours) or not 1 <= hours <= 24 * 90:
            self.fail(
                f"{at}.hours", f"must be a whole number of hours from 1 to 2160, not {hours!r}"
            )
        if not isinstance(value.get("without_purchase", False), bool):
            self.fail(f"{at}.without_purchase", "must be true or false")

    def fields(self, where: str, channel: str, fields: Any) -> None:
        if (
            not isinstance(fields, list)
            or not fields
            or not all(isinstance(f, str) for f in fields)
        ):
            self.fail(where, f"must be a non-empty list of field names, not {fields!r}")
            return
        for name in sorted({f for f in fields if fields.count(f) > 1}):
            self.fail(where, f"{name!r} is listed twice")
        for name in fields:
            if name not in EXPORT_FIELDS:
                self.fail(where, f"unknown field {name!r}; known: {', '.join(EXPORT_FIELDS)}")
            elif channel == "customer_match" and name not in ("email_sha256", "phone_sha256"):
                self.fail(
                    where,
                    f"{name!r} cannot leave in a customer_match file: "
                    "only email_sha256 and phone_sha256 may",
                )
            elif (allowed := EXPORT_FIELDS[name]) is not None and channel not in allowed:
                self.fail(where, f"{name!r} is only for customer_match campaigns")
        contact = CONTACT_FIELD.get(channel)
        if contact and contact not in fields:
            self.fail(where, f"a {channel} campaign must export {contact!r}, its address")
        if channel == "customer_match" and "email_sha256" not in fields:
            self.fail(where, "a customer_match campaign must export 'email_sha256'")

    def campaign(self, n: int, entry: Any) -> Campaign | None:
        if not isinstance(entry, dict):
            self.fail(f"entry {n}", "must be a campaign (id: .., name: .., ...)")
            return None
        cid = entry.get("id")
        where = f"campaign {cid!r} (entry {n})" if cid else f"entry {n}"
        if cid is not None and (not isinstance(cid, str) or not CAMPAIGN_ID.fullmatch(cid)):
            self.fail(
                f"{where}, field id",
                "1 to 64 lower-case letters, digits and _, nothing else (it names the "
                "campaign's folder and its Dagster asset)",
            )
        for key in entry:
            if key not in REQUIRED and key not in OPTIONAL:
                self.fail(
                    f"{where}, field {key}",
                    f"unknown field; known: {', '.join(REQUIRED + OPTIONAL)}",
                )
        missing = [key for key in REQUIRED if key not in entry]
        for key in missing:
            self.fail(f"{where}, field {key}", "is missing")
        before = len(self.mistakes)
        channel = entry.get("channel")
        if "channel" in entry and channel not in CHANNELS:
            self.fail(
                f"{where}, field channel",
                f"unknown channel {channel!r}; known: {', '.join(CHANNELS)}",
            )
        if "name" in entry and (not isinstance(entry["name"], str) or not entry["name"].strip()):
            self.fail(f"{where}, field name", "must be a non-empty text")
        share = entry.get("control_share")
        if "control_share" in entry and (
            not _is_number(share) or not 0 <= share <= self.max_control_share
        ):
            self.fail(
                f"{where}, field control_share",
                f"must be a share from 0 to {self.max_control_share}, not {share!r}",
            )
        for key in ("priority", "cooldown_days"):
            if key in entry and (not _is_int(entry[key]) or entry[key] < 0):
                self.fail(
                    f"{where}, field {key}",
                    f"must be a whole number of at least 0, not {entry[key]!r}",
                )
        if "schedule" in entry and entry["schedule"] not in SCHEDULES:
            self.fail(
                f"{where}, field schedule",
                f"must be one of {', '.join(SCHEDULES)}, not {entry['schedule']!r}",
            )
        if "audience" in entry:
            self.audience(f"{where}, field audience", entry["audience"])
        if "fields" in entry and channel in CHANNELS:
            self.fields(f"{where}, field fields", channel, entry["fields"])
        if missing or len(self.mistakes) > before or not isinstance(cid, str):
            return None
        return Campaign(
            **{
                **entry,
                "fields": tuple(entry["fields"]),
                "control_share": float(entry["control_share"]),
            }
        )


def parse_catalogue(text: str, path: Path, settings: Settings) -> list[Campaign]:
    try:
        entries = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CatalogueError(path, [f"not valid YAML: {error}"]) from None
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(path, ["must be a list of campaigns (each starting with '- id: ...')"])
    checker = _Checker(settings)
    campaigns = [checker.campaign(n, entry) for n, entry in enumerate(entries, start=1)]
    ids = [e.get("id") for e in entries if isinstance(e, dict) and e.get("id")]
    for cid in sorted({i for i in ids if ids.count(i) > 1}, key=str):
        checker.fail(
            f"campaign {cid!r}", f"the id is used by {ids.count(cid)} campaigns; ids must be unique"
        )
    if checker.mistakes:
        raise CatalogueError(path, checker.mistakes)
    return [c for c in campaigns if c is not None]


def load_catalogue(path: Path | None = None, settings: Settings | None = None) -> list[Campaign]:
    settings = settings or load_settings()
    path = path or settings.campaign_catalogue
    if not path.exists():
        raise CatalogueError(path, ["the file does not exist (setting campaign_catalogue)"])
    return parse_catalogue(path.read_text(encoding="utf-8"), path, settings)


def main() -> None:
    try:
        campaigns = load_catalogue()
    except CatalogueError as error:
        print(error, file=sys.stderr)
        sys.exit(1)
    print(f"{load_settings().campaign_catalogue}: {len(campaigns)} campaigns, no mistakes.")
    for c in sorted(campaigns, key=lambda c: (c.channel, c.priority)):
        print(f"  {c.channel:<15} priority {c.priority:>3}  {c.schedule:<7} {c.id}: {c.name}")


if __name__ == "__main__":
    main()
