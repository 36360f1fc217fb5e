"""The weekly report: the numbers on the page are the marts', every chart is drawn, and the
page opens offline in a real browser."""

import math
import shutil
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.demo import materialize_with_campaign_history
from dagster_project.report.build import format_value, iso_week_name, unusual, write_report
from dagster_project.resources import open_warehouse
from dagster_project.sample_shop.generator import ShopConfig, generate
from dagster_project.settings import SHOP_CONFIG, load_settings

SECTIONS = ["headline", "lifecycle", "value", "retention", "campaigns", "health"]


def test_a_change_is_unusual_beyond_two_standard_deviations_of_the_earlier_changes():
    earlier = [0.01, -0.01, 0.01, -0.01]  # population standard deviation 0.01
    assert unusual(0.025, earlier, 2.0) and unusual(-0.025, earlier, 2.0)
    assert not unusual(0.015, earlier, 2.0)
    assert not unusual(0.5, earlier[:2], 2.0)  # two earlier weeks are too few to judge
    assert not unusual(0.5, [0.0, 0.0, 0.0], 2.0)  # no spread: nothing to compare with
    assert format_value(0.34560053, True) == "34.6%" and format_value(159.6703, False) == "159.67"


class Page(HTMLParser):
    """What a report page shows: the text of every cell of the rows marked with a data-
    attribute, keyed by that attribute's value, the ids' text, and the SVGs per section."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[tuple[str, ...], list[str]] = {}
        self.ids: dict[str, str] = {}
        self.svgs: dict[str, int] = {}
        self._row: tuple[str, ...] | None = None
        self._id: str | None = None
        self._section = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self._section = attrs["id"]
        if tag == "svg":
            self.svgs[self._section] = self.svgs.get(self._section, 0) + 1
        if tag == "tr":
            marks = tuple(v for k, v in attrs.items() if k.startswith("data-"))
            self._row = marks or None
            if marks:
                self.rows[marks] = []
        if tag == "td" and self._row:
            self.rows[self._row].append("")
        if "id" in attrs and tag == "span":
            self._id = attrs["id"]

    def handle_endtag(self, tag):
        if tag == "span":
            self._id = None
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._id:
            self.ids[self._id] = data.strip()
        if self._row and self.rows[self._row]:
            cells = self.rows[self._row]
            cells[-1] = (cells[-1] + " " + data.strip()).strip()


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A small shop run as `make demo` runs it: every asset, the campaigns of 16 and 8 days
    before the last day and of the last day (a Sunday, so the report's week holds D's
    sends), then the evaluation and the weekly report."""
    data = tmp_path_factory.mktemp("report") / "data"
    data.mkdir()
    (data / SHOP_CONFIG).write_text(
        "demo_campaign_history_days: 16\ndemo_campaign_history_step_days: 8\n", encoding="utf-8"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRM_DATA_DIR", str(data))  # dbt reads it from the environment
        settings = load_settings(data)
        start = settings.first_partition_date
        days = 150 + (6 - (start + timedelta(days=149)).weekday())  # the last day a Sunday
        generate(ShopConfig(customers=500, days=days, bad_row_share=0.01), data)
        results = materialize_with_campaign_history(settings, dg.DagsterInstance.ephemeral())
        assert all(r.success for r in results)
    return settings


@pytest.mark.slow
def test_the_page_shows_the_marts_numbers_and_draws_every_chart(shop):
    path = shop.data_dir / "reports" / "latest.html"
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    with open_warehouse(shop, read_only=True) as conn:
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
        groups = conn.execute(
            "select rfm_group, count(*) from marts.customer_rfm group by all"
        ).fetchall()
        tiers = conn.execute(
            "select member_tier, count(*), count(*) filter (where has_downgrade_risk) "
            "from marts.customer_lifecycle where member_tier is not null group by all"
        ).fetchall()
        clv = [
            v for (v,) in conn.execute(
                "select v.predicted_clv from scores.customer_value as v join marts.customer_facts "
                "as f using (customer_id) where f.purchase_days > 0 and v.predicted_clv is not null"
            ).fetchall()
        ]  # fmt: skip
        campaigns = conn.execute(
            "select campaign_id from marts.campaign_evaluation where is_window_complete"
        ).fetchall()
        loaded = conn.execute(
            "select entity, sum(rows_loaded), sum(rows_quarantined) from raw.file_ledger "
            "where partition_date between ? and ? group by all",
            [week, week + timedelta(days=6)],
        ).fetchall()
    assert path.read_text() == (path.parent / f"{iso_week_name(week)}.html").read_text()
    assert len(kpis) == 10  # KPIs 1-5 for new buyers, 6-10 for returning buyers
    for code, ctype, value, is_rate in kpis:
        assert page.rows[(code, ctype)][1].split()[0] == format_value(value, is_rate)
    assert stages and {s: page.rows[(s,)][1] for s, _ in stages} == {
        stage: f"{n:,}" for stage, n in stages
    }
    assert {g: page.rows[(g,)][1] for g, _ in groups} == {g: f"{n:,}" for g, n in groups}
    assert {t: page.rows[(t,)][1:] for t, _, _ in tiers} == {
        t: [f"{n:,}", f"{r:,}"] for t, n, r in tiers
    }
    # the top decile by hand: the ceil(n / 10) highest predictions over the sum of all
    top = sorted(clv, reverse=True)[: math.ceil(len(clv) / 10)]
    assert len(clv) > 100 and page.ids["top-decile-share"] == f"{sum(top) / sum(clv):.1%}"
    assert campaigns  # the send of 16 days before D has a complete response window
    for entity, rows_loaded, rows_quarantined in loaded:
        assert page.rows[(entity,)][3:5] == [f"{rows_loaded:,}", f"{rows_quarantined:,}"]
    assert sum(q for _, _, q in loaded) > 0  # the shop's 1% bad rows are in the week too
    # the checks that warned, from the run's own record (the shop's bad rows warn)
    assert "plausibility_expectations" in path.read_text(encoding="utf-8")
    # a sparkline per KPI, and every section has its charts
    assert page.svgs == {
        "headline": 10, "lifecycle": 2, "value": 3, "retention": 3, "campaigns": 2, "health": 1,
    }  # fmt: skip
    # self-contained: nothing is fetched from anywhere
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text and "https://" not in text
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', ""
    )


@pytest.mark.slow
def test_the_chinese_page_names_stages_and_groups_as_the_seeds_do(shop):
    settings = load_settings(shop.data_dir)
    settings.vars["report_language"] = "zh"
    with open_warehouse(settings, read_only=True) as conn:
        path = write_report(conn, settings)
    text = path.read_text(encoding="utf-8")
    assert '<html lang="zh">' in text and "本周关键指标" in text
    assert "睡眠期" in text and "重要价值客户" in text  # sleeping, important_value in the seeds


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.slow
def test_the_report_renders_every_chart_in_headless_chromium_with_the_network_off(shop, tmp_path):
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: `make browser` installs it"
    path = shop.data_dir / "reports" / "latest.html"
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        try:
            context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
            page = context.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())
            for section in SECTIONS:
                shot = tmp_path / f"{section}.png"
                page.locator(f"#{section}").screenshot(path=shot)
                assert shot.stat().st_size > 10_000, section  # a real picture, not a blank
                sizes = page.locator(f"#{section} svg").evaluate_all(
                    "svgs => svgs.map(s => [s.getBoundingClientRect().width,"
                    " s.getBoundingClientRect().height, s.querySelectorAll('path, rect').length])"
                )
                assert sizes, f"no chart in #{section}"
                assert all(w > 0 and h > 0 and marks > 0 for w, h, marks in sizes), section
        finally:
            browser.close()
    assert errors == []
    assert requests == [path.as_uri()]  # the page alone: nothing else is fetched
