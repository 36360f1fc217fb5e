"""`make demo`: generate the sample shop, materialize every asset, print where everything is."""

import json
import sys
import time
from dataclasses import asdict

import dagster as dg

from dagster_project.definitions import all_assets, all_checks
from dagster_project.ingest.loader import RAW_SCHEMA
from dagster_project.resources import Warehouse
from dagster_project.sample_shop.generator import ShopConfig, generate
from dagster_project.settings import Settings, load_settings
from dagster_project.transform.assets import dbt_resource

DEMO_SHOP = ShopConfig(bad_row_share=0.002)


def ensure_sample_shop(settings: Settings, cfg: ShopConfig = DEMO_SHOP) -> None:
    """Generate the sample shop unless the same one is already in the landing zone."""
    marker = settings.landing_dir / "_sample_shop.json"
    wanted = {**asdict(cfg), "start": cfg.start.isoformat(), "end": cfg.end.isoformat()}
    if marker.exists() and json.loads(marker.read_text())["config"] == wanted:
        print(f"Sample shop already in {settings.landing_dir} (delete it to regenerate).")
        return
    started = time.perf_counter()
    summary = generate(cfg, settings.data_dir)
    print(
        f"Generated the sample shop ({cfg.customers:,} customers, {cfg.start} to {cfg.end}) "
        f"in {time.perf_counter() - started:.1f}s: "
        + ", ".join(f"{k} {v:,}" for k, v in summary["rows"].items())
    )


def landing_days(settings: Settings) -> tuple[str, str]:
    days = sorted(p.name[3:] for p in settings.landing_dir.glob("*/dt=*") if p.is_dir())
    if not days:
        raise SystemExit(f"No landing files under {settings.landing_dir}: nothing to load.")
    return days[0], days[-1]


def materialize_all(settings: Settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """One run over every partition day that has landing files, then everything downstream."""
    first, last = landing_days(settings)
    return dg.materialize(
        [*all_assets, *all_checks],
        instance=instance,
        resources={"warehouse": Warehouse(data_dir=str(settings.data_dir)), "dbt": dbt_resource},
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
        raise_on_error=False,
        # the asset's own summaries and any error, not Dagster's step-by-step debug log
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )


def summary(settings: Settings) -> str:
    import duckdb

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as conn:
        ledger = conn.execute(
            f"""
            select entity, count(*) filter (where status = 'loaded'),
                count(*) filter (where status = 'duplicate'),
                sum(rows_loaded), sum(rows_quarantined)
            from {RAW_SCHEMA}.file_ledger group by 1 order by 1
            """
        ).fetchall()
        (as_of,) = conn.execute("select as_of_date from intermediate.int_as_of_date").fetchone()
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
    lines = ["", "Raw ingestion (rows loaded / quarantined per entity):"]
    for entity, files, dups, loaded, quarantined in ledger:
        lines.append(
            f"  {entity:<16} {loaded:>10,} loaded  {quarantined:>7,} quarantined"
            f"  ({files} files{f', {dups} duplicate deliveries' if dups else ''})"
        )
    lines += ["", f"Customers per lifecycle stage on {as_of} (marts.customer_lifecycle):"]
    lines += [f"  {stage:<20} {n:>8,}  {zh}" for stage, zh, n in stages]
    lines += ["", "Buyers per RFM group (marts.customer_rfm):"]
    lines += [f"  {group:<20} {n:>8,}  {zh}" for group, zh, n in groups]
    if weekly:
        lines += ["", f"Weekly KPIs, week of {weekly[0][0]} (marts.kpi_weekly_monitor):"]
        for code, (number, values) in _kpis_by_code(weekly).items():
            lines.append(f"  KPI {number:<5} {code:<24} " + "  ".join(values))
    lines += [
        "",
        f"Warehouse:   {settings.warehouse_path}",
        "Marts:       schema marts: customer_facts, customer_rfm, customer_lifecycle,",
        "             customer_stage_history, customer_stage_transitions",
        f"Quarantine:  table {RAW_SCHEMA}.quarantine (reason, file, row, payload of every bad row)",
        f"Landing:     {settings.landing_dir}",
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


def main() -> None:
    settings = load_settings()
    ensure_sample_shop(settings)
    started = time.perf_counter()
    result = materialize_all(settings, dg.DagsterInstance.get())
    if not result.success:
        failures = [
            e.step_failure_data.error.message.strip()
            for e in result.all_events
            if e.is_step_failure and e.step_failure_data.error
        ]
        print("The demo run failed:\n" + "\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print(f"Materialized every asset in {time.perf_counter() - started:.1f}s.")
    print(summary(settings))


if __name__ == "__main__":
    main()
