"""Read the week's figures from the marts, chart them, and write the page."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import jinja2

from dagster_project.ingest.loader import one
from dagster_project.settings import Settings

TEMPLATES = Path(__file__).parent
LABELS = {
    "en": {
        "title": "Weekly CRM report",
        "week": "Week",
        "headline": "KPIs of the week",
        "new": "new buyers",
        "returning": "returning buyers",
        "kpi": "KPI",
        "value": "value",
        "of": "of",
        "change": "week on week",
        "trend": "last {weeks} weeks",
        "unusual": "beyond the usual weekly change",
        "lifecycle": "Customers per lifecycle stage, last {weeks} weeks",
        "stage": "stage",
        "customers": "customers",
    },
    "zh": {
        "title": "CRM 周报",
        "week": "周",
        "headline": "本周关键指标",
        "new": "新客",
        "returning": "老客",
        "kpi": "指标",
        "value": "数值",
        "of": "/",
        "change": "周环比",
        "trend": "近 {weeks} 周",
        "unusual": "超出平常的周波动",
        "lifecycle": "近 {weeks} 周各生命周期阶段客户数",
        "stage": "阶段",
        "customers": "客户数",
    },
}


@dataclass(frozen=True)
class Kpi:
    number: int
    code: str
    customer_type: str
    is_rate: bool
    value: float | None
    numerator: float | None
    denominator: float | None
    change: float | None
    history: list[tuple[date, float | None]]  # the trend weeks, oldest first, this week last
    is_unusual: bool  # the change is beyond report_noise_sigmas of the earlier weekly changes

    @property
    def shown(self) -> str:
        return format_value(self.value, self.is_rate)

    @property
    def shown_change(self) -> str:
        if self.change is None:
            return "–"
        arrow = "▲" if self.change > 0 else "▼" if self.change < 0 else "="
        amount = f"{abs(self.change) * 100:.1f} pt" if self.is_rate else f"{abs(self.change):,.2f}"
        return f"{arrow} {amount}"


def format_value(value: float | None, is_rate: bool) -> str:
    """How the page writes a KPI: a rate as a percentage with one decimal, else with two."""
    if value is None:
        return "–"
    return f"{value * 100:.1f}%" if is_rate else f"{value:,.2f}"


def latest_week(conn: duckdb.DuckDBPyConnection) -> date | None:
    """The newest complete ISO week of the weekly KPI sheet (its Monday)."""
    (week,) = one(
        conn, "select max(iso_week_start) from marts.kpi_weekly_monitor where is_complete"
    )
    return week


def unusual(change: float | None, earlier: list[float], sigmas: float) -> bool:
    """A change is unusual when it lies further from 0 than `sigmas` standard deviations of the
    earlier weeks' changes (at least three of them are needed to judge)."""
    if change is None or len(earlier) < 3:
        return False
    spread = statistics.pstdev(earlier)
    return spread > 0 and abs(change) > sigmas * spread


def read_kpis(conn: duckdb.DuckDBPyConnection, week: date, settings: Settings) -> list[Kpi]:
    weeks = int(settings.vars["report_trend_weeks"])
    sigmas = float(settings.vars["report_noise_sigmas"])
    rows = conn.execute(
        """
        select kpi_number, kpi_code, customer_type, is_rate, iso_week_start, kpi_value,
            numerator, denominator, change
        from marts.kpi_weekly_monitor
        where customer_type in ('new', 'returning') and is_complete
            and iso_week_start between ? and ?
        order by kpi_number, iso_week_start
        """,
        [week - timedelta(weeks=weeks - 1), week],
    ).fetchall()
    series: dict[tuple, list[tuple]] = {}
    for number, code, ctype, is_rate, start, value, num, den, change in rows:
        series.setdefault((number, code, ctype, is_rate), []).append(
            (start, value, num, den, change)
        )
    kpis = []
    for (number, code, ctype, is_rate), points in series.items():
        last = points[-1]
        if last[0] != week:
            continue
        earlier = [p[4] for p in points[:-1] if p[4] is not None]
        kpis.append(
            Kpi(
                number=number, code=code, customer_type=ctype, is_rate=bool(is_rate),
                value=last[1], numerator=last[2], denominator=last[3], change=last[4],
                history=[(p[0], p[1]) for p in points],
                is_unusual=unusual(last[4], earlier, sigmas),
            )
        )  # fmt: skip
    return kpis


def read_stage_weeks(
    conn: duckdb.DuckDBPyConnection, week: date, weeks: int
) -> list[tuple[date, str, int]]:
    """(week end, stage, customers) at the end of each of the last `weeks` weeks."""
    ends = [week + timedelta(days=6) - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    return [
        (day, stage, int(n))
        for day, stage, n in conn.execute(
            """
            select calendar_date, dimension_value, customers from marts.kpi_stage_counts
            where dimension = 'lifecycle_stage' and list_contains(?, calendar_date)
            order by calendar_date, dimension_value
            """,
            [ends],
        ).fetchall()
    ]


def sparkline(history: list[tuple[date, float | None]]) -> str:
    import altair as alt

    points = [{"week": d.isoformat(), "value": v} for d, v in history if v is not None]
    chart = (
        alt.Chart(alt.Data(values=points))
        .mark_line(point=True)
        .encode(
            x=alt.X("week:T", axis=None),
            y=alt.Y("value:Q", axis=None, scale=alt.Scale(zero=False)),
        )
        .properties(width=120, height=28)
        .configure_view(stroke=None)
    )
    return _svg(chart)


def stage_area(stage_weeks: list[tuple[date, str, int]], labels: dict[str, str]) -> str:
    import altair as alt

    points = [{"week": d.isoformat(), "stage": s, "customers": n} for d, s, n in stage_weeks]
    chart = (
        alt.Chart(alt.Data(values=points))
        .mark_area()
        .encode(
            x=alt.X("week:T", title=labels["week"]),
            y=alt.Y("customers:Q", stack="zero", title=labels["customers"]),
            color=alt.Color("stage:N", title=labels["stage"]),
        )
        .properties(width=640, height=280)
    )
    return _svg(chart)


def _svg(chart: Any) -> str:
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(chart.to_json()))


def render(conn: duckdb.DuckDBPyConnection, settings: Settings, week: date) -> str:
    language = str(settings.vars["report_language"])
    labels = LABELS[language]
    weeks = int(settings.vars["report_stage_weeks"])
    kpis = read_kpis(conn, week, settings)
    stage_weeks = read_stage_weeks(conn, week, weeks)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True
    )
    return environment.get_template("weekly.html.j2").render(
        language=language,
        labels=labels,
        week=week,
        iso_week=iso_week_name(week),
        kpis=kpis,
        sparklines={(k.number, k.customer_type): sparkline(k.history) for k in kpis},
        trend_weeks=int(settings.vars["report_trend_weeks"]),
        stage_weeks=weeks,
        stage_chart=stage_area(stage_weeks, labels) if stage_weeks else "",
        stage_counts=[(s, n) for d, s, n in stage_weeks if d == week + timedelta(days=6)],
    )


def iso_week_name(week: date) -> str:
    year, number, _ = week.isocalendar()
    return f"{year}-W{number:02d}"


def write_report(
    conn: duckdb.DuckDBPyConnection, settings: Settings, week: date | None = None
) -> Path:
    """Write reports/<iso-week>.html and latest.html (a copy); returns the week's page."""
    newest = latest_week(conn)
    chosen = week or newest
    if chosen is None:
        raise RuntimeError("marts.kpi_weekly_monitor has no complete week yet: nothing to report")
    chosen = chosen - timedelta(days=chosen.weekday())  # the Monday of the week given
    folder = settings.data_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    page = render(conn, settings, chosen)
    path = folder / f"{iso_week_name(chosen)}.html"
    path.write_text(page, encoding="utf-8")
    if chosen == newest:
        (folder / "latest.html").write_text(page, encoding="utf-8")
    return path
