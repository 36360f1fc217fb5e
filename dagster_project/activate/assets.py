"""Campaign assets: the day's audiences, then one export asset per campaign of the catalogue.

`activate/campaign_audience` applies the catalogue to the customer marts of day D (consent,
control arm, cooldown, frequency caps, priorities). Each `exports/<campaign_id>` asset then
checks its treatment file with great-expectations (a blocking asset check) and publishes it
with its manifest and contact-log rows, or publishes nothing and says why.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from dagster_project.activate import export
from dagster_project.activate.audience import (
    as_of_date,
    emptied_by_consent,
    funnel_text,
    select_audiences,
)
from dagster_project.activate.catalogue import Campaign
from dagster_project.ingest.loader import one
from dagster_project.resources import Warehouse, retry_only_transient
from dagster_project.score.assets import RISK_KEY
from dagster_project.transform.assets import model_key

GROUP = "campaigns"
AUDIENCE_KEY = dg.AssetKey(["activate", "campaign_audience"])
CONTACT_LOG_KEY = dg.AssetKey(["activate", "contact_log"])
LOG_CHECK_NAME = "contact_log_matches_files"
CONSENT_CHECK_NAME = "qualified_customers_have_consent"
CHECK_NAME = "audience_passes_checks"
# the Python campaign assets (the dbt model campaign_evaluation shares their UI group)
CAMPAIGN_ASSETS = dg.AssetSelection.assets(
    AUDIENCE_KEY, CONTACT_LOG_KEY
) | dg.AssetSelection.key_prefixes("exports")

# The dbt models a campaign day reads, rebuilt as of that day (the rest of the marts keep D).
# The stage history and the activity days hold every day: their readers take the days up to D.
CUSTOMER_MART_MODELS = (
    "int_as_of_date",
    "int_purchase_days",
    "int_known_customers",
    "int_customer_favourite_category",
    "customer_facts",
    "customer_rfm",
    "customer_lifecycle",
)


# what a campaign day runs: the customer marts as of that day, then the campaign assets
CAMPAIGN_DAY_SELECTION = (
    dg.AssetSelection.assets(*(model_key(m) for m in CUSTOMER_MART_MODELS)) | CAMPAIGN_ASSETS
)

campaign_day_job = dg.define_asset_job(
    "campaign_day",
    selection=CAMPAIGN_DAY_SELECTION,
    description=(
        "Campaigns of one day: the customer marts as of that day (op config "
        "crm_dbt_models.as_of_date), the audiences and every export. Run it over past days, "
        "oldest first, to backfill the contact log."
    ),
)


def _funnel_table(funnel: list[tuple]) -> str:
    lines = [
        "| campaign | due | qualified | consented | after cooldown | within caps | selected "
        "| treatment | control |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for _, cid, _, due, *counts in funnel:
        lines.append(
            f"| {cid} | {'yes' if due else 'no'} | " + " | ".join(f"{n:,}" for n in counts) + " |"
        )
    return "\n".join(lines)


def build_campaign_assets(campaigns: list[Campaign]) -> list[Any]:
    """The audience asset and one export asset per campaign (the catalogue is already valid)."""

    @dg.asset(
        key=AUDIENCE_KEY,
        group_name=GROUP,
        kinds={"duckdb"},
        deps=[
            model_key(name)
            for name in (
                "customer_facts",
                "customer_lifecycle",
                "customer_rfm",
                "int_events_by_person",
                "int_orders_by_person",
            )
        ]
        + [RISK_KEY],  # the churn_risk condition
        description=(
            "Members (treatment and control) of every campaign due on the marts' day D, after "
            "consent, cooldown, frequency caps and priorities; and the funnel of each rule. "
            "It reads the contact log of the days before D for cooldowns and caps (an edge the "
            "graph cannot draw: D's sends are logged after this asset)."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                CONSENT_CHECK_NAME,
                asset=AUDIENCE_KEY,
                description="WARN when a due campaign's qualified customers all lack consent for "
                "its channel (its file would be empty), with the funnel's counts.",
            )
        ],
    )
    @retry_only_transient
    def campaign_audience(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator[Any]:
        settings = warehouse.get_settings()
        with warehouse.connect() as conn:
            day, funnel = select_audiences(conn, settings, campaigns)
        for _, cid, _, due, *counts in funnel:
            if due:
                context.log.info(f"{cid}: {funnel_text(counts)}")
        no_consent = emptied_by_consent(funnel)
        for line in no_consent:
            context.log.warning(line)
        yield dg.AssetCheckResult(
            check_name=CONSENT_CHECK_NAME,
            passed=not no_consent,
            severity=dg.AssetCheckSeverity.WARN,
            description="\n".join(no_consent) or "every due campaign has customers with consent",
            metadata={"send_date": str(day), "campaigns_without_consent": len(no_consent)},
        )
        yield dg.MaterializeResult(
            metadata={
                "send_date": str(day),
                "funnel": dg.MetadataValue.md(_funnel_table(funnel)),
                "members": sum(f[-1] + f[-2] for f in funnel),
            }
        )

    exports = [_export_asset(c) for c in campaigns]
    return [campaign_audience, *exports, _contact_log_asset(campaigns, exports)]


def _contact_log_asset(
    campaigns: list[Campaign], exports: list[dg.AssetsDefinition]
) -> dg.AssetsDefinition:
    @dg.asset(
        key=CONTACT_LOG_KEY,
        group_name=GROUP,
        kinds={"duckdb"},
        deps=[e.key for e in exports],
        description=(
            "Every treatment and control member of every published send (campaign_id, "
            "customer_id, arm, send_date, channel, logged_at). Each export writes its send's "
            "rows in the transaction that publishes its file; this asset then records day D's "
            "sends (one materialization per send day, with the counts) and checks them against "
            "the published files. Campaign evaluation reads it; the next days' audiences read "
            "it for cooldowns and caps."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                LOG_CHECK_NAME,
                asset=CONTACT_LOG_KEY,
                blocking=True,
                description="Every send of D in the contact log has its published file, and "
                "each file's treatment and control counts equal the logged rows.",
            )
        ],
    )
    @retry_only_transient
    def contact_log(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator[Any]:
        settings = warehouse.get_settings()
        with warehouse.connect() as conn:
            day = as_of_date(conn)
            sends = export.logged_sends(conn, day)
            (total,) = one(conn, f"select count(*) from {export.SCHEMA}.contact_log")
        mismatches = export.log_mismatches(settings, day, [c.id for c in campaigns], sends)
        yield dg.AssetCheckResult(
            check_name=LOG_CHECK_NAME,
            passed=not mismatches,
            metadata={
                "send_date": str(day),
                "mismatches": dg.MetadataValue.md(
                    "\n".join(f"- {m}" for m in mismatches) or "none"
                ),
            },
        )
        contacts = sum(s.treatment + s.control for s in sends)
        context.log.info(
            f"Contact log of {day}: {len(sends)} send(s), {contacts:,} contacts; "
            f"{total:,} rows in all"
        )
        table = "\n".join(
            ["| campaign | channel | treatment | control |", "|---|---|---|---|"]
            + [
                f"| {s.campaign_id} | {s.channel} | {s.treatment:,} | {s.control:,} |"
                for s in sends
            ]
        )
        yield dg.MaterializeResult(
            metadata={
                "send_date": str(day),
                "sends": len(sends),
                "contacts": contacts,
                "sends_of_the_day": dg.MetadataValue.md(table),
                "log_rows": total,
            }
        )

    return contact_log


def _export_asset(campaign: Campaign) -> dg.AssetsDefinition:
    key = dg.AssetKey(["exports", campaign.id])

    @dg.asset(
        key=key,
        group_name=GROUP,
        kinds={"csv"},
        deps=[AUDIENCE_KEY],
        description=(
            f"{campaign.name} ({campaign.channel}, {campaign.schedule}): the audience file of D."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                blocking=True,
                description="great-expectations on the treatment file before it is published: "
                "unique customers, a valid address for the channel, consent, no control member, "
                "row count.",
            )
        ],
    )
    @retry_only_transient
    def campaign_export(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator[Any]:
        settings = warehouse.get_settings()
        with warehouse.connect() as conn:
            day = as_of_date(conn)
            prepared = export.prepare(conn, settings, campaign, day)
            if not prepared.is_due:
                yield dg.AssetCheckResult(
                    check_name=CHECK_NAME,
                    passed=True,
                    metadata={"send_date": str(day), "due": False},
                )
                context.log.info(
                    f"{campaign.id}: not due on {day} ({campaign.schedule}), nothing to publish"
                )
                yield dg.MaterializeResult(metadata={"send_date": str(day), "due": False})
                return
            outcome = export.check(prepared)
            yield dg.AssetCheckResult(
                check_name=CHECK_NAME,
                passed=outcome.success,
                metadata={
                    "send_date": str(day),
                    "rows": len(prepared.frame),
                    "failures": dg.MetadataValue.md(
                        "\n".join(f"- {f}" for f in outcome.failures) or "none"
                    ),
                },
            )
            if not outcome.success:
                raise dg.Failure(
                    description=(
                        f"Campaign {campaign.id}, send day {day}: the audience file broke its "
                        "checks, so nothing was published and no contact was logged:\n"
                        + "\n".join(f"  - {f}" for f in outcome.failures)
                    )
                )
            manifest = export.publish(conn, settings, prepared, outcome)
        folder = export.day_folder(settings, campaign.id, day)
        context.log.info(
            f"{campaign.id}: {manifest['row_count']:,} customers in {folder / 'audience.csv'}"
        )
        yield dg.MaterializeResult(
            metadata={
                "send_date": str(day),
                "rows": manifest["row_count"],
                "control": manifest["control_count"],
                "path": dg.MetadataValue.path(str(folder / "audience.csv")),
            }
        )

    return campaign_export
