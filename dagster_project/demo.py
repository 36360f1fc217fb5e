"""`crm-mart demo` (make demo): the sample shop, every asset, and where everything is."""

import logging
import time
from datetime import date, timedelta

import dagster as dg
import duckdb

from dagster_project.activate.assets import (
    CAMPAIGN_ASSETS,
    CAMPAIGN_DAY_SELECTION,
)
from dagster_project.activate.audience import funnel_text
from dagster_project.cli import CommandError, ensure_dagster_home, landing_days
from dagster_project.definitions import all_assets, all_checks
from dagster_project.ingest.loader import RAW_SCHEMA, one
from dagster_project.orchestration import (
    failure_log,
    progress_only,
    progress_run_config,
    say,
)
from dagster_project.publish import bi_marts, published_path
from dagster_project.report.assets import REPORT_KEY
from dagster_project.resources import Warehouse, open_warehouse, table_exists
from dagster_project.sample_shop.generator import (
    LandingInUse,
    ShopConfig,
    foreign_files,
    generate,
    generated_summary,
)
from dagster_project.score import FITS_TABLE, RISK_TABLE
from dagster_project.settings import Settings
from dagster_project.transform.assets import crm_dbt_evaluation, dbt_resource

DEMO_SHOP = ShopConfig(bad_row_share=0.002)


def ensure_sample_shop(settings: Settings, cfg: ShopConfig = DEMO_SHOP) -> None:
    """Generate the sample shop unless the same one is already in the landing zone. A landing
    zone holding any file the generator did not write stops the demo, unchanged."""
    if generated_summary(settings.landing_dir, cfg) is not None and not foreign_files(
        settings.landing_dir
    ):
        print(f"Sample shop already in {settings.landing_dir} (delete it to regenerate).")
        return
    started = time.perf_counter()
    try:
        summary = generate(cfg, settings.data_dir)
    except LandingInUse as error:
        raise CommandError(str(error)) from None
    print(
        f"Generated the sample shop ({cfg.customers:,} customers, {cfg.start} to {cfg.end}) "
        f"in {time.perf_counter() - started:.1f}s: "
        + ", ".join(f"{k} {v:,}" for k, v in summary["rows"].items())
    )


def _materialize(
    settings: Settings,
    instance: dg.DagsterInstance,
    selection: dg.AssetSelection,
    as_of_date: str | None = None,
    load_through: date | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize the selection as of D (None: the last day with data); a selection with
    the raw assets loads the landing files up to load_through."""
    return dg.materialize(
        [*all_assets, *all_checks],
        selection=selection,
        instance=instance,
        resources={"warehouse": Warehouse(data_dir=str(settings.data_dir)), "dbt": dbt_resource},
        raise_on_error=False,
        # warnings and errors, not Dagster's step-by-step debug log
        run_config=progress_run_config(
            date.fromisoformat(as_of_date) if as_of_date else None,
            progress=False,
            load=load_through is not None,
            through=load_through,
        ),
    )


def materialize_with_campaign_history(settings: Settings, instance: dg.DagsterInstance) -> list:
    """Ingestion and dbt; then the campaign_day job for the past days of the setting
    demo_campaign_history_days (so the contact log and campaign evaluation have numbers);
    then D's campaigns and the evaluation models. Returns the results of every run."""
    days = landing_days(settings)
    if not days:
        raise CommandError(f"no landing files under {settings.landing_dir}: nothing to load")
    first, last = days[0].isoformat(), days[-1].isoformat()
    evaluation = dg.AssetSelection.assets(crm_dbt_evaluation)
    # one run loads every landing day, and builds everything downstream
    say(f"Loading {first} to {last} and building everything downstream (a few minutes).")
    # the weekly report comes last, once the campaigns have sent and been evaluated
    report = dg.AssetSelection.assets(REPORT_KEY)
    everything = dg.AssetSelection.all() - CAMPAIGN_ASSETS - report
    results = [_materialize(settings, instance, everything, load_through=days[-1])]
    if not results[0].success:
        return results
    as_of = date.fromisoformat(last)
    history = range(
        int(settings.vars["demo_campaign_history_days"]),
        0,
        -int(settings.vars["demo_campaign_history_step_days"]),
    )
    started = time.perf_counter()
    # a past day rebuilds the customer marts only (cautious indirect selection), so the dbt
    # tests that also read the seeds do not run then and Dagster warns, once per day, that
    # the audience step is not gated on them; they ran in the full build above
    gating = logging.getLogger("dagster._core.execution.plan.active")
    level = gating.level
    gating.setLevel(logging.ERROR)
    try:
        for n, back in enumerate(history, start=1):
            day = (as_of - timedelta(days=back)).isoformat()
            results.append(_materialize(settings, instance, CAMPAIGN_DAY_SELECTION, as_of_date=day))
            if not results[-1].success:
                return results
            say(f"Campaigns of {day} done ({n} of {len(history)} past days).")
    finally:
        gating.setLevel(level)
    say(f"Ran the campaigns of {len(history)} past days in {time.perf_counter() - started:.1f}s.")
    # D again, the evaluation, and the BI publication of the marts as of D
    final = CAMPAIGN_DAY_SELECTION | evaluation | dg.AssetSelection.assets(bi_marts) | report
    results.append(_materialize(settings, instance, final))
    return results


def reconciliation_lines(
    conn: duckdb.DuckDBPyConnection, settings: Settings, months: int = 3
) -> list[str]:
    """The last months of marts.reconciliation_monthly, for a finance person: sales, returns,
    net, guests' share, and what ingestion quarantined or held back."""
    if not table_exists(conn, "marts.reconciliation_monthly"):
        return []
    rows = conn.execute(
        """
        select month_start, gross_sales, returns, net_sales, net_sales_guest,
            order_rows_quarantined + return_rows_quarantined,
            quarantined_order_amount + quarantined_return_amount, rows_without_rate
        from marts.reconciliation_monthly order by month_start desc limit ?
        """,
        [months],
    ).fetchall()
    currency = settings.reporting_currency
    lines = [
        "",
        f"Revenue per month, {currency} (marts.reconciliation_monthly, marts.kpi_revenue):",
    ]
    lines.append(
        f"  {'month':<8} {'gross':>14} {'returns':>12} {'net':>14} {'guests':>7}"
        f"  {'quarantined rows (amount)':>26}  without rate"
    )
    for month, gross, returns, net, guest_net, q_rows, q_amount, no_rate in reversed(rows):
        guests = f"{guest_net / net:.1%}" if net else "-"
        lines.append(
            f"  {month:%Y-%m}  {gross:>14,.2f} {returns:>12,.2f} {net:>14,.2f} {guests:>7}"
            f"  {q_rows:>12,} ({q_amount:>11,.2f})  {no_rate:>12,}"
        )
    return lines


def summary(settings: Settings) -> str:
    with open_warehouse(settings, read_only=True) as conn:
        ledger = conn.execute(
            f"""
            select entity, count(*) filter (where status = 'loaded'),
                count(*) filter (where status = 'duplicate'),
                sum(rows_loaded), sum(rows_quarantined)
            from {RAW_SCHEMA}.file_ledger where replaced_at is null group by 1 order by 1
            """
        ).fetchall()
        (as_of,) = one(conn, "select as_of_date from intermediate.int_as_of_date")
        stages = conn.execute(
            """
            select s.lifecycle_stage, s.name_zh, count(l.customer_id)
            from reference.lifecycle_stages as s
            left join marts.customer_lifecycle as l on l.lifecycle_stage = s.lifecycle_stage
            group by s.lifecycle_stage, s.name_zh, s.stage_order order by s.stage_order
            """
        ).fetchall()
        groups = conn.execute(
            """
            select g.rfm_group, g.name_zh, count(r.customer_id)
            from reference.rfm_groups as g
            left join marts.customer_rfm as r on r.rfm_group = g.rfm_group
            group by g.rfm_group, g.name_zh order by 3 desc
            """
        ).fetchall()
        weekly = conn.execute(
            """
            select iso_week_start, kpi_code, customer_type, kpi_number, kpi_value, is_rate
            from marts.kpi_weekly_monitor
            where iso_week_start = (
                select max(iso_week_start) from marts.kpi_weekly_monitor where is_complete
            )
            order by kpi_number, customer_type
            """
        ).fetchall()
        campaigns = conn.execute(
            """
            select campaign_id, channel, is_due, qualified, consented, after_cooldown,
                within_caps, selected, treatment, control
            from activate.campaign_funnel
            where send_date = (select max(send_date) from activate.campaign_funnel)
            order by channel, campaign_id
            """
        ).fetchall()
        evaluation = conn.execute(
            """
            select campaign_id, count(*), sum(treatment_customers), sum(control_customers),
                sum(treatment_converted) / nullif(sum(treatment_customers), 0),
                sum(control_converted) / nullif(sum(control_customers), 0),
                sum(incremental_net_revenue)
            from marts.campaign_evaluation where is_window_complete
            group by campaign_id order by campaign_id
            """
        ).fetchall()
        risk = (
            conn.execute(
                f"""
                select risk_band, count(*), avg(churn_probability)
                from {RISK_TABLE} group by 1 order by 3 desc
                """
            ).fetchall()
            if table_exists(conn, RISK_TABLE)
            else []
        )
        (clv,) = conn.execute("select sum(predicted_clv) from scores.customer_value").fetchall()
        fallbacks = conn.execute(
            f"select model, fallback from {FITS_TABLE} where not fitted order by model"
        ).fetchall()
        revenue = reconciliation_lines(conn, settings)
    lines = ["", "Raw ingestion (rows loaded / quarantined per entity):"]
    for entity, files, dups, loaded, quarantined in ledger:
        lines.append(
            f"  {entity:<16} {loaded:>10,} loaded  {quarantined:>7,} quarantined"
            f"  ({files} files{f', {dups} duplicate deliveries' if dups else ''})"
        )
    lines += revenue
    lines += ["", f"Customers per lifecycle stage on {as_of} (marts.customer_lifecycle):"]
    lines += [f"  {stage:<20} {n:>8,}  {zh}" for stage, zh, n in stages]
    lines += ["", "Buyers per RFM group (marts.customer_rfm):"]
    lines += [f"  {group:<20} {n:>8,}  {zh}" for group, zh, n in groups]
    if weekly:
        lines += ["", f"Weekly KPIs, week of {weekly[0][0]} (marts.kpi_weekly_monitor):"]
        for code, (number, values) in _kpis_by_code(weekly).items():
            lines.append(f"  KPI {number:<5} {code:<24} " + "  ".join(values))
    lines += ["", f"Scores on {as_of} (scores.customer_churn_risk, scores.customer_value):"]
    lines += [
        f"  churn risk {band:<8} {n:>8,} buyers, mean probability {p:.0%}" for band, n, p in risk
    ]
    horizon = settings.vars["clv_horizon_days"]
    if clv[0] is not None:
        lines.append(f"  predicted CLV of all customers over {horizon} days: {clv[0]:,.0f}")
    lines += [f"  {model} not fitted, fallback: {note}" for model, note in fallbacks]
    if not risk:
        lines.append("  no churn model: the history is shorter than twice churn_label_days")
    lines += ["", f"Campaigns of {as_of} (treatment customers in the file, control held out):"]
    for cid, channel, due, *counts in campaigns:
        treatment, control = counts[-2:]
        where = settings.exports_dir / cid / str(as_of) / "audience.csv"
        if not due:
            shown = "   not due today (weekly)"
        elif treatment == 0:  # an empty file: where the funnel lost them
            shown = f"      0 to send ({funnel_text(counts)})  {where}"
        else:
            shown = f"{treatment:>7,} to send {control:>6,} control  {where}"
        lines.append(f"  {cid:<27} {channel:<15}{shown}")
    if evaluation:
        lines += [
            "",
            "Campaign evaluation, sends whose attribution window has ended "
            "(marts.campaign_evaluation):",
        ]
        for cid, sends, nt, nc, rt, rc, revenue in evaluation:
            rates = (
                f"bought {rt:.1%} vs control {rc:.1%}"
                if rc is not None
                else f"bought {rt:.1%}, no control"
            )
            extra = f", incremental net revenue {revenue:,.0f}" if revenue is not None else ""
            lines.append(
                f"  {cid:<27} {sends:>3} sends, {nt:>6,} treated, {nc:>5,} control: {rates}{extra}"
            )
    lines += [
        "",
        f"Warehouse:   {settings.warehouse_path}",
        f"Marts:       {settings.marts_path} (schema marts, attached to the warehouse):",
        "             customer_facts, customer_rfm, customer_lifecycle,",
        "             customer_stage_history, customer_stage_transitions, kpi_*,",
        "             reconciliation_monthly, campaign_evaluation",
        "Scores:      schema scores of the same file: customer_value, customer_churn_risk,",
        "             churn_tree_leaves",
        f"Exports:     {settings.exports_dir}/<campaign>/<day>/ (audience.csv, manifest.json)",
        f"Report:      {settings.data_dir / 'reports' / 'latest.html'} (the weekly report, "
        "one page; crm-mart report)",
        "Contacts:    table activate.contact_log (treatment and control members of every send)",
        f"Quarantine:  table {RAW_SCHEMA}.quarantine (reason, file, row, payload of every bad row)",
        f"Landing:     {settings.landing_dir}",
        f"BI:          {published_path(settings)} (read-only copy of the marts, for BI tools)",
        f"Checks:      {settings.data_dir / 'quality'}/<suite>/latest.html "
        "(great-expectations results)",
        f"Failed runs: {failure_log(settings)} (when the run_failure sensor is on)",
        "Dagster UI:  make dagster  (then open http://127.0.0.1:3000)",
    ]
    return "\n".join(lines)


def _kpis_by_code(rows: list[tuple]) -> dict[str, tuple[str, list[str]]]:
    """KPIs 1-5 (all, new) and 6-10 (returning) of one week, one line per KPI."""
    kpis: dict[str, tuple[str, list[str]]] = {}
    for _, code, customer_type, number, value, is_rate in rows:
        shown = "n/a" if value is None else f"{value:.1%}" if is_rate else f"{value:,.1f}"
        numbers, values = kpis.get(code, ("", []))
        if customer_type == "returning":
            numbers = f"{numbers}/{number}"
        elif not numbers:
            numbers = str(number)
        kpis[code] = (numbers, [*values, f"{customer_type} {shown}"])
    return kpis


def failure_lines(result: dg.ExecuteInProcessResult) -> list[str]:
    """Each failed step of a run and its error, one line each."""
    return [
        f"{e.step_key}: {e.step_failure_data.error.message.strip()}"
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.error
    ]


def main(settings: Settings) -> None:
    """`crm-mart demo`: the sample shop, every asset, and where everything is."""
    ensure_sample_shop(settings)
    ensure_dagster_home(settings)
    started = time.perf_counter()
    with progress_only():
        results = materialize_with_campaign_history(settings, dg.DagsterInstance.get())
    if not results[-1].success:
        raise CommandError("the demo run failed:\n" + "\n".join(failure_lines(results[-1])))
    print(f"Materialized every asset in {time.perf_counter() - started:.1f}s.")
    print(summary(settings))
