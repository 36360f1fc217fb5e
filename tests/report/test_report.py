"""The weekly report: the numbers on the page are the marts', and every chart is an SVG."""

from datetime import timedelta
from html.parser import HTMLParser

import pytest

from dagster_project.report.build import format_value, iso_week_name, unusual, write_report
from dagster_project.resources import open_warehouse
from dagster_project.sample_shop.generator import ShopConfig
from dagster_project.settings import load_settings
from tests.dbt.helpers import load_shop, run_dbt


def test_a_change_is_unusual_beyond_two_standard_deviations_of_the_earlier_changes():
    earlier = [0.01, -0.01, 0.01, -0.01]  # population standard deviation 0.01
    assert unusual(0.025, earlier, 2.0) and unusual(-0.025, earlier, 2.0)
    assert not unusual(0.015, earlier, 2.0)
    assert not unusual(0.5, earlier[:2], 2.0)  # two earlier weeks are too few to judge
    assert not unusual(0.5, [0.0, 0.0, 0.0], 2.0)  # no spread: nothing to compare with
    assert format_value(0.34560053, True) == "34.6%" and format_value(159.6703, False) == "159.67"


class Page(HTMLParser):
    """The KPI values, stage counts and SVG charts of a report page."""

    def __init__(self) -> None:
        super().__init__()
        self.kpis: dict[tuple[str, str], str] = {}
        self.stages: dict[str, str] = {}
        self.svgs = 0
        self._row: dict[str, str] = {}
        self._in: str | None = None
        self._cells = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg":
            self.svgs += 1
        if tag == "tr":
            self._row, self._cells = attrs, 0
        if tag == "span" and attrs.get("class") == "value":
            self._in = "value"
        if tag == "td":
            self._cells += 1
            if "data-stage" in self._row and self._cells == 2:
                self._in = "stage"

    def handle_data(self, data):
        if self._in == "value":
            self.kpis[(self._row["data-kpi"], self._row["data-customer-type"])] = data.strip()
        elif self._in == "stage":
            self.stages[self._row["data-stage"]] = data.strip()
        self._in = None


@pytest.mark.slow
def test_the_page_shows_the_marts_numbers_and_every_chart(tmp_path):
    settings = load_settings(tmp_path / "data")
    load_shop(settings, ShopConfig(customers=600, days=150))
    run_dbt(
        settings, "build", "--select", "+kpi_weekly_monitor", "+kpi_stage_counts",
        "--indirect-selection", "cautious", "--exclude", "test_type:unit",
    )  # fmt: skip
    with open_warehouse(settings, read_only=True) as conn:
        path = write_report(conn, settings)
        (week,) = conn.execute(
            "select max(iso_week_start) from marts.kpi_weekly_monitor where is_complete"
        ).fetchone()
        kpis = conn.execute(
            "select kpi_code, customer_type, kpi_value, is_rate from marts.kpi_weekly_monitor "
            "where iso_week_start = ? and customer_type in ('new', 'returning')",
            [week],
        ).fetchall()
        stages = conn.execute(
            "select dimension_value, customers from marts.kpi_stage_counts "
            "where dimension = 'lifecycle_stage' and calendar_date = ?",
            [week + timedelta(days=6)],
        ).fetchall()
    assert path.name == f"{iso_week_name(week)}.html"
    assert (path.parent / "latest.html").read_text() == path.read_text()
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    assert len(kpis) == 10 and len(page.kpis) == 10  # KPIs 1-5 new, 6-10 returning
    for code, ctype, value, is_rate in kpis:
        assert page.kpis[(code, ctype)] == format_value(value, is_rate), (code, ctype)
    assert stages and page.stages == {stage: f"{n:,}" for stage, n in stages}
    assert page.svgs == 10 + 1  # a sparkline per KPI and the lifecycle chart
    # self-contained: nothing is fetched from anywhere
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text and "http://" not in text.replace(
        "http://www.w3.org", ""
    ) and "https://" not in text  # fmt: skip
