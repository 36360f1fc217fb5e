"""Every setting of crm-mart, its default, and how a shop overrides it.

Three layers, later ones winning: the defaults below (the one place they are written), the
shop config `$CRM_DATA_DIR/crm-mart.yml`, and environment variables `CRM_<SETTING>`. The
settings dbt reads (`DbtVars`) are handed to every dbt invocation as `--vars`; the rest
(`PipelineSettings`) only the Python side sees, so changing a schedule or a check's chunk
size does not make dbt parse its project again. docs/settings.md is generated from here
(`python -m dagster_project.settings`).
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
DEFAULT_DATA_DIR = REPO_ROOT / "data"
SHOP_CONFIG = "crm-mart.yml"  # the shop config, in the data folder
ENV_PREFIX = "CRM_"
DATA_DIR_ENV = "CRM_DATA_DIR"
# the as-of day D given to dbt (int_as_of_date reads it): an environment variable, not a dbt
# var, because dbt parses the whole project again when a var changes (3-4 s a run), and only
# the files that read an environment variable when it changes
AS_OF_ENV = "CRM_AS_OF_DATE"
# the marts' file is attached to the warehouse under this name (dbt/profiles.yml attaches it
# for dbt), and its schema marts is on the search path: `marts.x` reads it
MARTS_CATALOG = "marts_db"
BUILT_IN_CATALOGUE = REPO_ROOT / "dagster_project" / "activate" / "campaigns.yml"


class SettingsError(ValueError):
    """A setting that cannot be used: the message names the key, where it was set, and why."""


def setting(default: Any, doc: str, section: str | None = None, **constraints: Any) -> Any:
    """A setting's default, its one-line documentation, and the section it opens in the docs."""
    extra: dict[str, Any] | None = {"section": section} if section else None
    return Field(default, description=doc, json_schema_extra=extra, **constraints)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemberTier(_Strict):
    tier: str
    min_net_revenue: float = Field(ge=0)


class PreChurnBand(_Strict):
    kpi: str
    min_days: int = Field(ge=0)
    max_days: int | None = Field(default=None, ge=0)


class RiskBand(_Strict):
    band: str
    min_probability: float = Field(ge=0, le=1)


def _increasing(name: str, values: Sequence[float]) -> None:
    if any(b <= a for a, b in pairwise(values)):
        raise ValueError(f"{name} must be in increasing order, got {values}")


class SourceTable(_Strict):
    """How one of the shop's tables maps to a contract entity (docs/sources.md)."""

    table: str  # the shop's table
    cursor: str  # its column that every insert and update sets (the pull's cursor)
    # contract column: the shop's column, or an SQL expression over the table's columns
    columns: dict[str, str]
    # contract column: {the shop's value: the contract's}; other values pass as they are
    values: dict[str, dict[str, str]] = Field(default_factory=dict)


class DatabaseSource(_Strict):
    """A shop database pulled through dlt's SQL-database source (docs/sources.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    kind: Literal["database"]
    url: str  # SQLAlchemy URL without the password, e.g. postgresql://crm@db:5432/shop
    password_env: str | None = None  # the environment variable that holds the password
    db_schema: str | None = Field(None, alias="schema")
    chunk_size: int = Field(50_000, gt=0)  # rows per batch read and written
    tables: dict[str, SourceTable]

    @model_validator(mode="after")
    def _maps_the_contract(self) -> DatabaseSource:
        from dagster_project.ingest.contract import ENTITIES

        for entity, mapping in self.tables.items():
            if entity not in ENTITIES:
                raise ValueError(f"tables: {entity!r} is no entity of the data contract")
            known = [c.name for c in ENTITIES[entity].columns]
            unknown = [c for c in [*mapping.columns, *mapping.values] if c not in known]
            if unknown:
                raise ValueError(f"tables.{entity}: {unknown} are no columns of {entity}")
            missing = [c for c in ENTITIES[entity].required_columns if c not in mapping.columns]
            if missing:
                raise ValueError(f"tables.{entity}: the required columns {missing} are not mapped")
        return self


class EventStreamSource(_Strict):
    """A folder of JSON-lines event files in the Segment/RudderStack shape (track, page,
    identify calls), sessionised into the contract's sessions and events (docs/sources.md)."""

    kind: Literal["event_stream"]
    path: str  # a folder, or an fsspec URL (s3://bucket/prefix with s3fs installed)
    file_glob: str = "**/*.jsonl*"  # which files under it, read in the order they were written
    session_gap_minutes: int = Field(30, gt=0)  # a longer pause starts a new session
    # an event's name (track calls; "identify" for identify calls): its contract event_type;
    # a page call is a page_view, any other name is kept as "other" and counted
    event_types: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_types(self) -> EventStreamSource:
        from dagster_project.ingest.contract import ENTITIES

        (event_type,) = [c for c in ENTITIES["events"].columns if c.name == "event_type"]
        unknown = sorted(set(self.event_types.values()) - set(event_type.values))
        if unknown:
            raise ValueError(f"event_types: {unknown} are no event types of the data contract")
        return self


class ShopifyExportSource(_Strict):
    """A folder of Shopify order exports (CSV: one row per line item, the order's fields on
    its first line), read as the contract's orders and order lines (docs/sources.md)."""

    kind: Literal["shopify_export"]
    path: str  # a folder, or an fsspec URL
    file_glob: str = "**/*.csv"


class DbtVars(_Strict):
    """The settings dbt's models read: handed to dbt as --vars."""

    store_timezone: str = setting(
        "Asia/Shanghai",
        "Every day boundary in every metric is a day in this IANA time zone.",
        section="The store",
    )
    reporting_currency: str = setting(
        "CNY",
        "ISO 4217 code of every amount in the marts; other currencies convert at their day's "
        "rate (landing/exchange_rates/).",
        pattern=r"^[A-Z]{3}$",
    )
    return_window_days: int = setting(
        14,
        "A sale returned in full within this many days of its payment is not a purchase "
        "(14: the EU's right of withdrawal). Below restate_days.",
        ge=0,
    )
    duckdb_memory_limit: str = setting(
        "3GB",
        "DuckDB's memory ceiling (it spills to disk beyond it), for dbt and the pipeline.",
        pattern=r"(?i)^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
    )
    deal_promotion_types: list[str] = setting(
        ["flash_sale", "group_buy"], "Promotion types that count as 'bought on a deal'."
    )
    rfm_window_days: int = setting(
        365, "Window of F and M, in days; R is over all history.", section="RFM", gt=0
    )
    rfm_f_breakpoints: list[int] = setting(
        [1, 2, 3, 4, 6], "Purchase days in the window at which F scores 1, 2, 3, 4, 5 start."
    )
    rfm_group_center: Literal["mean", "median"] = setting(
        "mean", "High or low R, F and M is judged against the buyers' mean or median."
    )
    stage_after_sale_max_days: int = setting(
        7, "Days since the last purchase up to which a buyer is after_sale.",
        section="Lifecycle stages", ge=0,
    )  # fmt: skip
    stage_active_max_days: int = setting(45, "... up to which a buyer is active.", gt=0)
    stage_silent_max_days: int = setting(90, "... up to which a buyer is silent.", gt=0)
    stage_sleeping_max_days: int = setting(
        365, "... up to which a buyer is sleeping; beyond it, churned.", gt=0
    )
    prospect_window_days: int = setting(
        30, "Window, in days, of the prospect stages' browsing and cart activity.", gt=0
    )
    tier_window_days: int = setting(
        365, "Net revenue over this many days decides the member tier.",
        section="Member tiers", gt=0,
    )  # fmt: skip
    member_tiers: list[MemberTier] = setting(
        [
            MemberTier(tier="basic", min_net_revenue=0),
            MemberTier(tier="silver", min_net_revenue=500),
            MemberTier(tier="gold", min_net_revenue=2000),
            MemberTier(tier="diamond", min_net_revenue=8000),
        ],
        "Lowest first; the highest tier whose min_net_revenue is reached wins.",
    )
    downgrade_horizon_days: int = setting(
        30, "Revenue ageing out of the tier window within this many days is a downgrade risk.",
        gt=0,
    )  # fmt: skip
    kpi_repeat_window_days: int = setting(
        45, "KPI 1 (repeat purchase rate) and KPI 5 (customer quality): window in days.",
        section="KPIs", gt=0,
    )  # fmt: skip
    kpi_pre_churn_bands: list[PreChurnBand] = setting(
        [
            PreChurnBand(kpi="pre_churn_45_90", min_days=46, max_days=90),
            PreChurnBand(kpi="pre_churn_90_140", min_days=91, max_days=140),
            PreChurnBand(kpi="sleeping_140_plus", min_days=141, max_days=None),
        ],
        "KPIs 2-4: days since the last purchase at the start of a week.",
    )
    second_purchase_window_days: int = setting(
        45, "Second-purchase conversion: days after the first purchase.", gt=0
    )
    retention_horizons_days: list[int] = setting(
        [30, 90, 180, 365], "Horizons of the cohort retention KPIs, in days."
    )
    new_user_churn_days: int = setting(
        30, "A new customer with no visit and no purchase this many days has churned.", gt=0
    )
    attribution_window_days: int = setting(
        14, "A purchase within this many days of a campaign send counts for it.", gt=0
    )
    lifetime_bins_days: list[int] = setting(
        [0, 1, 30, 90, 180, 365, 730], "Lower bounds of the customer-lifetime histogram, days."
    )
    ltv_days: int = setting(365, "Horizon of the historic LTV in CAC and LTV/CAC, days.", gt=0)
    restate_days: int = setting(
        16,
        "Incremental models recompute this many trailing days: data for a day may arrive "
        "this late (refunds: up to 15 days).",
        ge=1,
    )
    uplift_confidence_z: float = setting(
        1.96, "z of a campaign uplift's confidence interval (1.96: 95%).", gt=0
    )
    churn_label_days: int = setting(
        90, "Churned = no purchase in this many days after a cutoff (churn model and label).",
        gt=0,
    )  # fmt: skip

    phone_default_country: str = setting(
        "CN",
        "ISO 3166 country of a phone written without +country code when its row names no "
        "country (orders, customers without one): decides the calling code in E.164.",
        section="Identity", pattern=r"^[A-Z]{2}$",
    )  # fmt: skip
    identity_blocked_emails: list[str] = setting(
        [
            "info@",
            "test@",
            "admin@",
            "sales@",
            "support@",
            "service@",
            "orders@",
            "noreply@",
            "no-reply@",
        ],
        "Shared or role addresses that never join two identifiers into one person: 'info@' "
        "is a local part at any domain, '@myshop.com' a whole domain (add the shop's own), "
        "anything else one address. Compared after normalisation.",
    )
    identity_max_customer_ids: int = setting(
        3,
        "A person holds at most this many shop customer ids: an email or phone linked to "
        "more is shared and joins nobody, and a group that would exceed it is split.",
        gt=0,
    )
    identity_max_emails: int = setting(5, "... at most this many emails (the same rules).", gt=0)
    identity_max_phones: int = setting(
        5, "... at most this many phone numbers (the same rules).", gt=0
    )
    identity_max_anonymous_ids: int = setting(
        10,
        "... at most this many anonymous ids (browsers, devices): beyond it, the devices "
        "with the fewest logged-in visits are not joined.",
        gt=0,
    )

    @field_validator("store_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone (e.g. Europe/London, Asia/Shanghai)"
            ) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DbtVars:
        stages = ("after_sale", "active", "silent", "sleeping")
        _increasing(
            " < ".join(f"stage_{stage}_max_days" for stage in stages),
            [getattr(self, f"stage_{stage}_max_days") for stage in stages],
        )
        f = self.rfm_f_breakpoints
        if len(f) != 5 or f[0] != 1:
            raise ValueError(f"rfm_f_breakpoints needs 5 values starting at 1, got {f}")
        _increasing("rfm_f_breakpoints", f)
        _increasing("member_tiers' min_net_revenue", [t.min_net_revenue for t in self.member_tiers])
        _increasing("retention_horizons_days", self.retention_horizons_days)
        _increasing("lifetime_bins_days", self.lifetime_bins_days)
        if self.return_window_days >= self.restate_days:
            raise ValueError(
                "return_window_days must be below restate_days: a full return must reach "
                "the days the daily build restates"
            )
        for band in self.kpi_pre_churn_bands:
            if band.max_days is not None and band.max_days < band.min_days:
                raise ValueError(f"kpi_pre_churn_bands: {band.kpi} ends before it starts")
        return self


class PipelineSettings(_Strict):
    """The settings of ingestion, scores, campaigns, checks and schedules: dbt never sees them."""

    engine: Literal["duckdb", "spark"] = setting(
        "duckdb",
        "Where dbt builds the models: duckdb (in the warehouse file) or spark (Apache Spark "
        "through dbt-spark; docs/spark.md). Changing it makes dbt parse its project again.",
        section="Engine",
    )
    first_partition_date: date = setting(
        date(2024, 11, 1),
        "The first landing day (dt=) loaded; earlier days are listed as not loaded.",
        section="Ingestion",
    )
    future_tolerance_hours: int = setting(
        24, "A timestamp later than now plus this many hours is quarantined.", ge=0
    )
    earliest_plausible_date: date | None = setting(
        None,
        "A timestamp (or a spend day) before this day is quarantined. Empty: 20 years before "
        "first_partition_date. Birth dates are not bound by it.",
    )
    ingest_batch_mb: int = setting(
        256, "Landing files are read in batches of about this size.", gt=0
    )
    campaign_catalogue: str | None = setting(
        None,
        "The marketers' campaign file: a path, relative to the data folder or absolute. "
        "Empty: the built-in catalogue (dagster_project/activate/campaigns.yml).",
        section="Campaigns",
    )
    campaign_weekly_weekday: int = setting(
        1, "Weekly campaigns run on this ISO weekday (1 = Monday).", ge=1, le=7
    )
    contact_cap_per_day: int = setting(
        1, "Contacts per customer and channel per day, all campaigns together.", ge=0
    )
    contact_cap_per_7_days: int = setting(4, "... and in any 7 days.", ge=0)
    contact_cap_per_7_days_by_stage: dict[str, int] = setting(
        {"sleeping": 2, "churned": 1}, "Stricter 7-day ceilings for customers in these stages."
    )
    control_share_max: float = setting(
        0.5, "A campaign's control_share must lie between 0 and this.", ge=0, le=1
    )
    export_parquet: bool = setting(False, "Also write audience.parquet next to audience.csv.")
    demo_campaign_history_days: int = setting(
        16, "The demo runs the campaigns of past days too, back this many days ...", ge=0
    )
    demo_campaign_history_step_days: int = setting(
        2, "... every this-many-th day (1: every day; each day costs a dbt run).", ge=1
    )
    clv_horizon_days: int = setting(
        365, "Predicted CLV = expected purchases in this many days times spend.",
        section="Predictive scores", gt=0,
    )  # fmt: skip
    btyd_fit_sample: int = setting(
        200_000, "BG/NBD and Gamma-Gamma are fitted on at most this many buyers.", gt=0
    )
    report_language: Literal["en", "zh"] = setting(
        "en", "The weekly report's language: en (English) or zh (Chinese).",
        section="Weekly report",
    )  # fmt: skip
    report_trend_weeks: int = setting(
        12, "Weeks of each KPI's sparkline, and of the changes its weekly noise is judged on.",
        ge=4,
    )  # fmt: skip
    report_noise_sigmas: float = setting(
        2.0, "A KPI's week-on-week change beyond this many standard deviations of its earlier "
        "weekly changes is highlighted.", gt=0,
    )  # fmt: skip
    report_stage_weeks: int = setting(
        26, "Weeks of the lifecycle chart (customers per stage at each week's end).", ge=1
    )
    report_cohort_months: int = setting(
        12, "Acquisition months (cohorts) in the report's retention heatmap and LTV curves.", ge=1
    )
    btyd_min_buyers: int = setting(
        20, "Fewer buyers (BG/NBD) or repeat buyers (Gamma-Gamma) than this: the model is not "
        "fitted and its documented fallback is used.", ge=1,
    )  # fmt: skip
    btyd_parameter_bounds: list[float] = setting(
        [0.0001, 10000.0], "A fitted BG/NBD or Gamma-Gamma parameter outside these bounds (in "
        "the fit's units) is at the edge of its range: the model falls back.",
    )  # fmt: skip
    churn_tree_max_depth: int = setting(6, "Depth of the churn decision tree.", ge=1)
    churn_tree_min_leaf_share: float = setting(
        0.005, "A leaf of the churn tree holds at least this share of the training buyers ...",
        ge=0, le=1,
    )  # fmt: skip
    churn_tree_min_leaf_buyers: int = setting(50, "... and at least this many buyers.", ge=1)
    churn_train_sample: int = setting(
        300_000, "The churn tree learns from at most this many buyers per cutoff.", gt=0
    )
    churn_max_categories: int = setting(
        12, "The most common favourite categories get a 0/1 churn feature each.", ge=0
    )
    churn_risk_bands: list[RiskBand] = setting(
        [
            RiskBand(band="high", min_probability=0.8),
            RiskBand(band="medium", min_probability=0.5),
            RiskBand(band="low", min_probability=0.0),
        ],
        "Highest first: a churn probability at or above min_probability; the last starts at 0.",
    )
    gx_chunk_rows: int = setting(
        1_000_000, "Rows validated per pandas frame: big tables are checked in chunks.",
        section="Data-quality checks", gt=0,
    )  # fmt: skip
    gx_max_rows_per_run: int = setting(
        5_000_000, "More new raw rows than this: a sample of this size is validated.", gt=0
    )
    quarantine_warn_share: float = setting(
        0.01, "A file with a larger share of its rows quarantined: WARN.", ge=0, le=1
    )
    quarantine_error_share: float = setting(
        0.2, "... a larger share than this: ERROR, nothing downstream is built.", ge=0, le=1
    )
    quarantine_share_min_rows: int = setting(
        100, "Files with fewer rows are not judged on their quarantined share.", ge=0
    )
    order_total_warn_max: float = setting(100_000, "An order total above this: WARN.", gt=0)
    mart_max_row_drop_share: float = setting(
        0.5, "A mart losing more than this share of its rows since its last good run: ERROR.",
        ge=0, le=1,
    )  # fmt: skip
    freshness_max_days: int = setting(
        2,
        "The newest landing day loaded of an entity every shop delivers more than this many "
        "days before today: WARN (Dagster's freshness check on its raw asset).",
        ge=0,
    )
    daily_schedule_time: str = setting(
        "06:00", "The daily run (store time): the files up to yesterday, then everything else.",
        section="Production runs", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
    )  # fmt: skip
    weekly_kpi_schedule_time: str = setting(
        "07:00", "The weekly KPI run (store time), after the week has closed ...",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
    )  # fmt: skip
    weekly_kpi_weekday: int = setting(1, "... on this ISO weekday (1 = Monday).", ge=1, le=7)
    landing_sensor_interval_seconds: int = setting(
        300, "How often the sensor looks for new landing files.", ge=30
    )
    step_max_retries: int = setting(
        2,
        "A step failed by a locked file, a full disk or a lost connection is retried this "
        "many times; other errors fail at once.",
        ge=0,
    )
    step_retry_delay_seconds: int = setting(
        60, "... after this many seconds, doubling each time.", ge=0
    )
    sources: dict[str, DatabaseSource | EventStreamSource | ShopifyExportSource] = setting(
        {},
        "Systems the pipeline pulls from before loading, by name (docs/sources.md): each "
        "pull is written under pulled/<name>/ and loaded like a landing file.",
        section="Sources",
    )
    dbt_runs_kept: int = setting(
        30, "Folders of the newest dbt runs kept in $CRM_DATA_DIR/dbt/target/runs.", ge=1
    )

    @model_validator(mode="after")
    def _consistent(self) -> PipelineSettings:
        if self.quarantine_warn_share > self.quarantine_error_share:
            raise ValueError("quarantine_warn_share must not be above quarantine_error_share")
        probabilities = [b.min_probability for b in self.churn_risk_bands]
        if not probabilities or probabilities[-1] != 0:
            raise ValueError("churn_risk_bands: the last band must start at min_probability 0")
        _increasing("churn_risk_bands' min_probability (read from the last)", probabilities[::-1])
        bounds = self.btyd_parameter_bounds
        if len(bounds) != 2 or bounds[0] <= 0:
            raise ValueError(f"btyd_parameter_bounds needs two values above 0, got {bounds}")
        _increasing("btyd_parameter_bounds", bounds)
        earliest = self.earliest_plausible_date
        if earliest is not None and earliest > self.first_partition_date:
            raise ValueError("earliest_plausible_date must not be after first_partition_date")
        return self


MODELS: tuple[type[_Strict], ...] = (DbtVars, PipelineSettings)
DBT_KEYS = frozenset(DbtVars.model_fields)
KEYS = frozenset(DBT_KEYS | PipelineSettings.model_fields.keys())
RESERVED_ENV = frozenset({DATA_DIR_ENV, AS_OF_ENV})


def _default_vars() -> dict[str, Any]:
    return default_values()


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    # every setting, resolved through the layers, as plain values (what dbt receives)
    vars: dict[str, Any] = field(default_factory=_default_vars)

    @property
    def dbt_vars(self) -> dict[str, Any]:
        """The settings dbt reads, handed to it as --vars."""
        return {key: value for key, value in self.vars.items() if key in DBT_KEYS}

    @property
    def config_path(self) -> Path:
        return self.data_dir / SHOP_CONFIG

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def marts_path(self) -> Path:
        """The marts' own DuckDB file, attached to the warehouse as MARTS_CATALOG."""
        return self.data_dir / "marts.duckdb"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def dagster_home(self) -> Path:
        return self.data_dir / "dagster_home"

    @property
    def store_timezone(self) -> str:
        return str(self.vars["store_timezone"])

    @property
    def reporting_currency(self) -> str:
        return str(self.vars["reporting_currency"])

    def store_today(self) -> date:
        """Today in the store's time zone."""
        return datetime.now(ZoneInfo(self.store_timezone)).date()

    @property
    def first_partition_date(self) -> date:
        return date.fromisoformat(str(self.vars["first_partition_date"]))

    @property
    def future_tolerance_hours(self) -> int:
        return int(self.vars["future_tolerance_hours"])

    @property
    def earliest_plausible_date(self) -> date:
        chosen = self.vars["earliest_plausible_date"]
        if chosen:
            return date.fromisoformat(str(chosen))
        first = self.first_partition_date
        try:
            return first.replace(year=first.year - 20)
        except ValueError:  # 29 February
            return first.replace(year=first.year - 20, day=28)

    @property
    def engine(self) -> str:
        return str(self.vars["engine"])

    @property
    def spark_dir(self) -> Path:
        """Spark's tables, catalogue and the source tables handed to it (engine: spark)."""
        return self.data_dir / "spark"

    @property
    def duckdb_memory_limit(self) -> str:
        return str(self.vars["duckdb_memory_limit"])

    @property
    def ingest_batch_bytes(self) -> int:
        return int(self.vars["ingest_batch_mb"]) * 1024 * 1024

    @property
    def sources(self) -> dict[str, DatabaseSource | EventStreamSource | ShopifyExportSource]:
        kinds = {
            "database": DatabaseSource,
            "event_stream": EventStreamSource,
            "shopify_export": ShopifyExportSource,
        }
        return {name: kinds[v["kind"]](**v) for name, v in self.vars["sources"].items()}

    @property
    def pulled_dir(self) -> Path:
        """Where pulls from the sources are written, pulled/<source>/<entity>/dt=<day>/."""
        return self.data_dir / "pulled"

    @property
    def campaign_catalogue(self) -> Path:
        chosen = self.vars["campaign_catalogue"]
        return self.data_dir / chosen if chosen else BUILT_IN_CATALOGUE


@cache
def default_values() -> dict[str, Any]:
    """Every setting at its default, as plain values."""
    return resolve({}, {})


def resolve(values: dict[str, Any], sources: dict[str, str]) -> dict[str, Any]:
    """Validate values (over the defaults) and return every setting as plain values; a
    mistake raises SettingsError naming the key and where it was set (sources[key])."""
    unknown = sorted(set(values) - KEYS)
    if unknown:
        raise SettingsError(
            "\n".join(
                f"{sources[key]}: unknown setting {key!r}{_did_you_mean(key)} "
                "(docs/settings.md lists them all)"
                for key in unknown
            )
        )
    resolved: dict[str, Any] = {}
    problems = []
    for model in MODELS:
        mine = {key: value for key, value in values.items() if key in model.model_fields}
        try:
            resolved |= model(**mine).model_dump(mode="json")
        except ValidationError as error:
            for e in error.errors():
                key = str(e["loc"][0]) if e["loc"] else None
                where = sources.get(key, "settings") if key else _whole_model_source(e, sources)
                path = ".".join(str(part) for part in e["loc"])
                message = str(e["msg"]).removeprefix("Value error, ")
                got = f" (got {e['input']!r})" if key and "input" in e else ""
                problems.append(f"{where}: {path + ': ' if path else ''}{message}{got}")
    if problems:
        raise SettingsError("\n".join(problems))
    return resolved


def _whole_model_source(error: Any, sources: dict[str, str]) -> str:
    """A rule between settings: name every layer that set one of the keys it mentions."""
    named = sorted({where for key, where in sources.items() if key in str(error["msg"])})
    return ", ".join(named) or "settings"


def _did_you_mean(key: str) -> str:
    close = difflib.get_close_matches(key, sorted(KEYS), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def read_shop_config(path: Path) -> dict[str, Any]:
    """The shop config's settings (empty when the file is absent)."""
    if not path.exists():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SettingsError(f"{path}: not valid YAML: {error}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise SettingsError(f"{path}: expected 'setting: value' lines, got {type(loaded).__name__}")
    return {str(key): value for key, value in loaded.items()}


def env_settings(environ: dict[str, str]) -> dict[str, tuple[str, Any]]:
    """CRM_<SETTING> environment variables: {setting: (variable, value parsed as YAML)}."""
    found = {}
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX) or name in RESERVED_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        found[key] = (f"environment variable {name}", value)
    return found


def data_dir_from_env() -> Path:
    """CRM_DATA_DIR, or data/ in the repo: every file the project writes lives below it."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).resolve()


def load_settings(data_dir: str | Path | None = None) -> Settings:
    """The settings of the shop in data_dir (default: $CRM_DATA_DIR): defaults, then its
    crm-mart.yml, then CRM_<SETTING> environment variables. Raises SettingsError."""
    folder = Path(data_dir).resolve() if data_dir else data_dir_from_env()
    return _load(folder, _config_stamp(folder / SHOP_CONFIG), tuple(sorted(_crm_env().items())))


def _crm_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}


def _config_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


@cache
def _load(folder: Path, _stamp: object, env: tuple[tuple[str, str], ...]) -> Settings:
    # cached on the config file's stamp and the CRM_ variables: read again when either changes
    config = folder / SHOP_CONFIG
    values = read_shop_config(config)
    sources = dict.fromkeys(values, str(config))
    for key, (variable, value) in env_settings(dict(env)).items():
        values[key], sources[key] = value, variable
    return Settings(data_dir=folder, vars=resolve(values, sources))


# --- docs/settings.md ---------------------------------------------------------------------


def _shown(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, list | dict):
        return "`" + yaml.safe_dump(value, default_flow_style=True, width=1000).strip() + "`"
    return f"`{value}`"


def settings_markdown() -> str:
    """The settings reference: every setting, its default and what it does, by section."""
    defaults = default_values()
    lines = [
        "# Settings",
        "",
        "<!-- generated by `python -m dagster_project.settings`: edit the defaults in",
        "     dagster_project/settings.py, then run it again -->",
        "",
        "Every setting has a default. A shop overrides any of them in its shop config,",
        f"`$CRM_DATA_DIR/{SHOP_CONFIG}` (`crm-mart init` writes one), and an environment",
        "variable `CRM_<SETTING>` (upper case, value in YAML) overrides both, for one run:",
        "",
        "```bash",
        "CRM_STORE_TIMEZONE=Europe/London crm-mart run",
        "```",
        "",
        "An unknown setting, a value of the wrong type or an impossible value stops the",
        "command before anything runs, naming the setting and the file or variable that set it.",
        "`crm-mart settings` prints every value in force and where it came from.",
    ]
    intro = {
        DbtVars: "## Business rules (dbt reads these)\n\nChanging one makes dbt parse its "
        "project again on the next `crm-mart run` (a few seconds, once); under a running "
        "Dagster deployment, run `crm-mart prepare` and reload it.",
        PipelineSettings: "## Pipeline (ingestion, scores, campaigns, checks, schedules)\n\n"
        "dbt never sees these: changing one does not touch the dbt project.",
    }
    for model in MODELS:
        lines += ["", intro[model]]
        for key, info in model.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if extra.get("section"):
                lines += ["", f"### {extra['section']}", "", "| setting | default | meaning |"]
                lines.append("|---|---|---|")
            lines.append(f"| `{key}` | {_shown(defaults[key])} | {info.description} |")
    return "\n".join(lines) + "\n"


def describe(settings: Settings) -> str:
    """Every setting in force for a data folder, and which layer set it."""
    config = read_shop_config(settings.config_path)
    env = env_settings(_crm_env())
    lines = [f"Settings of {settings.data_dir}:"]
    for key, value in settings.vars.items():
        where = env[key][0] if key in env else str(settings.config_path) if key in config else ""
        shown = _shown(value).strip("`")
        lines.append(f"  {key:<34} {shown}" + (f"   <- {where}" if where else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(settings_markdown())
