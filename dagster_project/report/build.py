"""Read the week's figures from the marts, chart them, and write the page."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import jinja2

from dagster_project.ingest.loader import one
from dagster_project.quality.checks import CheckOutcome
from dagster_project.resources import table_exists
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
        "transitions": "Moves between stages this week",
        "transitions_note": "Rows: the stage at the start of a day; columns: the stage that day.",
        "from_stage": "from",
        "new_customer": "new customer",
        "to_stage": "to",
        "nothing": "Nothing to show for this week.",
        "value_title": "Customer value",
        "as_of": "State of the customers on {day} (the last build).",
        "rfm": "RFM groups: customers and their net revenue",
        "recency": "recency",
        "high": "high",
        "low": "low",
        "frequency": "frequency",
        "monetary": "monetary value",
        "group": "group",
        "revenue": "net revenue",
        "tiers": "Member tiers and customers at risk of a downgrade",
        "tier": "tier",
        "downgrade_risk": "downgrade risk",
        "no_downgrade_risk": "no downgrade risk",
        "clv_title": "Predicted customer lifetime value",
        "clv": "predicted CLV",
        "top_decile": "of the predicted value is held by the top 10% of the {buyers} buyers.",
        "clv_note": "The last bar holds every buyer above the 99th percentile ({p99}).",
        "no_clv": "No CLV prediction",
        "retention_title": "Retention",
        "cohorts": "Share of each acquisition month's buyers who bought again, by month",
        "cohort": "first purchase month",
        "months_since_first": "months since the first purchase",
        "active_share": "buying",
        "ltv_curves": "Cumulative net revenue per customer ({currency}), by acquisition month",
        "ltv_per_customer": "net revenue per customer",
        "channels_title": "Acquisition cost and lifetime value per channel",
        "channel": "channel",
        "spend": "spend",
        "new_buyers": "new buyers",
        "cac": "CAC",
        "ltv": "LTV",
        "ltv_to_cac": "LTV / CAC",
        "channels_note": "CAC over every acquisition month so far; LTV and LTV / CAC over the "
        "months whose LTV horizon has passed (– until one has). LTV / CAC above 1 (the dashed "
        "line) earns back what the buyers cost.",
        "campaigns_title": "Campaigns",
        "campaign": "campaign",
        "send_date": "last measured send",
        "treatment": "treatment response",
        "control": "control response",
        "uplift": "uplift",
        "uplift_note": "Uplift is treatment minus control response, with its 95% confidence "
        "interval; bold: the interval excludes 0.",
        "no_campaigns": "No send has a complete response window yet.",
        "contacts_title": "Contacts per customer and channel this week (7-day cap: {cap})",
        "contacts_per_customer": "contacts per customer",
        "contacts_note": "The dashed line is the 7-day cap; some stages have a stricter one.",
        "no_contacts": "No contact this week.",
        "health_title": "Data health",
        "entity": "entity",
        "files": "files",
        "rows_read": "rows read",
        "loaded": "loaded",
        "quarantined": "quarantined",
        "landing_day": "landing day",
        "quarantined_rows": "rows quarantined",
        "newest_day": "newest day loaded",
        "stale": "more than {days} days before the week's end",
        "reasons": "Why rows were quarantined",
        "none_quarantined": "No row of this week's landing days was quarantined.",
        "checks_title": "Checks that failed or warned (latest result of each)",
        "checks_unknown": "No check result is recorded here.",
        "checks_all_passed": "Every check passed.",
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
        "transitions": "本周阶段变化",
        "transitions_note": "行：当天开始时的阶段；列：当天的阶段。",
        "from_stage": "从",
        "new_customer": "新客户",
        "to_stage": "到",
        "nothing": "本周没有可显示的内容。",
        "value_title": "客户价值",
        "as_of": "客户状态截至 {day}（最近一次构建）。",
        "rfm": "RFM 分组：客户数与净收入",
        "recency": "最近购买",
        "high": "高",
        "low": "低",
        "frequency": "购买频次",
        "monetary": "消费金额",
        "group": "分组",
        "revenue": "净收入",
        "tiers": "会员等级与降级风险",
        "tier": "等级",
        "downgrade_risk": "有降级风险",
        "no_downgrade_risk": "无降级风险",
        "clv_title": "预测客户终身价值",
        "clv": "预测 CLV",
        "top_decile": "的预测价值来自 {buyers} 位购买客户中最高的 10%。",
        "clv_note": "最后一栏包含 99 分位数（{p99}）以上的所有客户。",
        "no_clv": "没有 CLV 预测",
        "retention_title": "留存",
        "cohorts": "各首购月份客户此后每月再次购买的比例",
        "cohort": "首购月份",
        "months_since_first": "距首购月数",
        "active_share": "购买比例",
        "ltv_curves": "按首购月份的人均累计净收入（{currency}）",
        "ltv_per_customer": "人均净收入",
        "channels_title": "各渠道获客成本与终身价值",
        "channel": "渠道",
        "spend": "投放",
        "new_buyers": "新购买客户",
        "cac": "获客成本",
        "ltv": "终身价值",
        "ltv_to_cac": "LTV / CAC",
        "channels_note": "获客成本含迄今所有首购月份；LTV 与 LTV / CAC 仅含 LTV 观察期已满的月份"
        "（尚无时为 –）。LTV / CAC 大于 1（虚线）即收回获客成本。",
        "campaigns_title": "营销活动",
        "campaign": "活动",
        "send_date": "最近一次已评估的发送",
        "treatment": "实验组响应率",
        "control": "对照组响应率",
        "uplift": "提升",
        "uplift_note": "提升 = 实验组响应率 − 对照组响应率，附 95% 置信区间；粗体：区间不含 0。",
        "no_campaigns": "还没有响应窗口已结束的发送。",
        "contacts_title": "本周每位客户各渠道触达次数（7 天上限：{cap}）",
        "contacts_per_customer": "每位客户触达次数",
        "contacts_note": "虚线为 7 天上限；部分阶段的上限更严格。",
        "no_contacts": "本周没有触达。",
        "health_title": "数据健康",
        "entity": "数据",
        "files": "文件",
        "rows_read": "读取行数",
        "loaded": "已加载",
        "quarantined": "已隔离",
        "landing_day": "数据日",
        "quarantined_rows": "隔离行数",
        "newest_day": "最新已加载日期",
        "stale": "早于周末 {days} 天以上",
        "reasons": "隔离原因",
        "none_quarantined": "本周数据日没有被隔离的行。",
        "checks_title": "未通过或告警的检查（各检查最近一次结果）",
        "checks_unknown": "此处没有记录检查结果。",
        "checks_all_passed": "所有检查均已通过。",
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


class Names:
    """Stage and RFM group names in the report's language: Chinese from the seeds, English
    from the code (after_sale is "after sale"); the order of the stages from the seed."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, language: str) -> None:
        self.chinese = language == "zh"
        stages = conn.execute(
            "select lifecycle_stage, name_zh, stage_order from reference.lifecycle_stages"
        ).fetchall()
        groups = conn.execute("select rfm_group, name_zh from reference.rfm_groups").fetchall()
        self.zh = {code: zh for code, zh, *_ in [*stages, *groups]}
        self.order = {stage: order for stage, _, order in stages}
        self.new_customer = LABELS[language]["new_customer"]

    def __call__(self, code: str) -> str:
        if code == NEW_CUSTOMER:
            return self.new_customer
        return self.zh.get(code, code) if self.chinese else code.replace("_", " ")

    def rank(self, stage: str) -> int:
        """Where a stage sorts: a new customer first, then the seed's stage order."""
        return 0 if stage == NEW_CUSTOMER else self.order.get(stage, len(self.order) + 1)


NEW_CUSTOMER = "(none)"  # customer_stage_transitions' from-stage of a customer new that day


def read_transitions(conn: duckdb.DuckDBPyConnection, week: date) -> list[tuple[str, str, int]]:
    """(from stage, to stage, customers) of the moves during the week, all days together."""
    return [
        (a, b, int(n))
        for a, b, n in conn.execute(
            """
            select from_stage, to_stage, sum(customers) from marts.customer_stage_transitions
            where transition_date between ? and ? group by all order by all
            """,
            [week, week + timedelta(days=6)],
        ).fetchall()
    ]


@dataclass(frozen=True)
class RfmGroup:
    group: str
    r_high: bool
    f_high: bool
    m_high: bool
    customers: int
    revenue: float


def read_rfm(conn: duckdb.DuckDBPyConnection) -> list[RfmGroup]:
    """Customers and net revenue (M) of the eight groups, as of the last build."""
    return [
        RfmGroup(g, r, f, m, int(n), float(revenue))
        for g, r, f, m, n, revenue in conn.execute(
            """
            select g.rfm_group, g.is_r_high, g.is_f_high, g.is_m_high, count(c.customer_id),
                coalesce(sum(c.monetary), 0)
            from reference.rfm_groups as g
            left join marts.customer_rfm as c on c.rfm_group = g.rfm_group
            group by g.rfm_group, g.is_r_high, g.is_f_high, g.is_m_high
            order by not g.is_m_high, not g.is_r_high, not g.is_f_high
            """
        ).fetchall()
    ]


def read_tiers(conn: duckdb.DuckDBPyConnection, settings: Settings) -> list[tuple[str, int, int]]:
    """(tier, customers, of them with a downgrade risk), lowest tier first."""
    counts = {
        tier: (int(n), int(risk))
        for tier, n, risk in conn.execute(
            """
            select member_tier, count(*), count(*) filter (where has_downgrade_risk)
            from marts.customer_lifecycle where member_tier is not null group by all
            """
        ).fetchall()
    }
    tiers = [str(t["tier"]) for t in settings.vars["member_tiers"]]
    return [(tier, *counts.get(tier, (0, 0))) for tier in tiers]


CLV_BINS = 20


@dataclass(frozen=True)
class Clv:
    buyers: int  # buyers with a predicted CLV
    top_decile_share: float | None  # of the predicted CLV, held by the top 10% of those buyers
    p99: float | None
    bins: list[tuple[float, float, int]]  # (from, to, buyers); the last bar holds the top 1%
    fallback: str | None  # why there is no prediction, from scores.model_fits


def read_clv(conn: duckdb.DuckDBPyConnection) -> Clv:
    """The buyers' predicted CLV: its distribution in CLV_BINS equal bars up to its 99th
    percentile, and the share of the total held by the top decile (ntile(10) by CLV: the
    ceil(n / 10) buyers of highest CLV). Customers who never bought (CLV 0) are left out."""
    if not table_exists(conn, "scores.customer_value"):
        return Clv(0, None, None, [], "not scored yet")
    conn.execute(  # a table, not a view: both queries below read it, the join runs once
        """
        create or replace temp table buyers_clv as
        select v.customer_id, v.predicted_clv from scores.customer_value as v
        join marts.customer_facts as f on f.customer_id = v.customer_id
        where f.purchase_days > 0 and v.predicted_clv is not null
        """
    )
    buyers, share, p99 = one(
        conn,
        """
        with ranked as (
            select predicted_clv as clv, ntile(10) over (order by predicted_clv desc) as decile
            from buyers_clv
        )
        select count(*), sum(clv) filter (where decile = 1) / nullif(sum(clv), 0),
            quantile_cont(clv, 0.99)
        from ranked
        """,
    )
    bins: list[tuple[float, float, int]] = []
    if buyers and p99 and p99 > 0:
        width = p99 / CLV_BINS
        bins = [
            (n * width, (n + 1) * width, int(count))
            for n, count in conn.execute(
                f"""
                select least(floor(predicted_clv / ?), {CLV_BINS - 1})::integer as n, count(*)
                from buyers_clv group by all order by n
                """,
                [width],
            ).fetchall()
        ]
    (fallback,) = one(
        conn,
        "select string_agg(model || ': ' || fallback, '; ') from scores.model_fits "
        "where fallback is not null",
    )
    return Clv(int(buyers), share, p99, bins, fallback)


def month_start(day: date, months_back: int = 0) -> date:
    month = day.year * 12 + day.month - 1 - months_back
    return date(month // 12, month % 12 + 1, 1)


def read_cohorts(
    conn: duckdb.DuckDBPyConnection, week: date, months: int
) -> list[tuple[date, int, float, float]]:
    """(cohort month, months since the first purchase, share active, cumulative net revenue
    per customer) of the last `months` cohorts, for the complete months up to the week's end."""
    end = week + timedelta(days=6)
    return conn.execute(
        """
        select cohort_month, months_since_first, active_share, cumulative_net_revenue_per_customer
        from marts.kpi_cohort_retention
        where is_complete and activity_month <= ? and cohort_month >= ?
        order by cohort_month, months_since_first
        """,
        [end, month_start(end, months - 1)],
    ).fetchall()


@dataclass(frozen=True)
class Channel:
    channel: str
    spend: float
    new_buyers: int
    cac: float | None
    ltv: float | None
    ltv_to_cac: float | None


def read_channels(conn: duckdb.DuckDBPyConnection, week: date) -> list[Channel]:
    """Per acquisition channel, over the acquisition months up to the week's end: spend, new
    buyers and CAC (spend / new buyers); LTV and LTV / CAC over the months whose LTV horizon
    has passed (their buyers' LTV over those months' spend per buyer)."""
    rows = conn.execute(
        """
        select channel, sum(spend), sum(new_buyers),
            sum(ltv * new_buyers) filter (where is_ltv_complete),
            sum(new_buyers) filter (where is_ltv_complete),
            sum(spend) filter (where is_ltv_complete)
        from marts.kpi_cac_ltv
        where cohort_month <= ? group by channel order by channel
        """,
        [week + timedelta(days=6)],
    ).fetchall()
    channels = []
    for channel, spend, buyers, value, complete_buyers, complete_spend in rows:
        cac = float(spend) / buyers if buyers else None
        ltv = float(value) / complete_buyers if complete_buyers and value is not None else None
        ratio = float(value) / float(complete_spend) if ltv is not None and complete_spend else None
        channels.append(Channel(channel, float(spend or 0), int(buyers or 0), cac, ltv, ratio))
    return channels


@dataclass(frozen=True)
class CampaignResult:
    campaign: str
    send_date: date
    treatment: int
    control: int
    treatment_rate: float | None
    control_rate: float | None
    uplift: float | None
    low: float | None
    high: float | None
    significant: bool | None


def read_campaigns(conn: duckdb.DuckDBPyConnection, week: date) -> list[CampaignResult]:
    """Each campaign's last send whose response window was complete by the week's end."""
    return [
        CampaignResult(*row)
        for row in conn.execute(
            """
            select campaign_id, send_date, treatment_customers::bigint,
                control_customers::bigint, treatment_rate, control_rate, uplift, uplift_ci_low,
                uplift_ci_high, is_uplift_significant
            from marts.campaign_evaluation
            where is_window_complete and send_date <= ?
            qualify row_number() over (partition by campaign_id order by send_date desc) = 1
            order by campaign_id
            """,
            [week + timedelta(days=6)],
        ).fetchall()
    ]


def read_contacts(conn: duckdb.DuckDBPyConnection, week: date) -> list[tuple[str, int, int]]:
    """(channel, contacts in the week, customers who got that many): the treatment arm's sends
    of the seven days, which no 7-day contact cap may exceed."""
    if not table_exists(conn, "activate.contact_log"):
        return []
    return [
        (channel, int(contacts), int(n))
        for channel, contacts, n in conn.execute(
            """
            with per_customer as (
                select channel, customer_id, count(*) as contacts from activate.contact_log
                where arm = 'treatment' and send_date between ? and ? group by all
            )
            select channel, contacts, count(*) from per_customer group by all order by all
            """,
            [week, week + timedelta(days=6)],
        ).fetchall()
    ]


@dataclass(frozen=True)
class Loads:
    entity: str
    files: int
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    newest_day: date | None  # the newest landing day loaded up to the week's end
    is_stale: bool  # more than freshness_max_days behind, for an entity every shop delivers


def read_loads(
    conn: duckdb.DuckDBPyConnection, week: date, settings: Settings
) -> tuple[list[Loads], list[tuple[date, str, int]], list[tuple[str, str, int]]]:
    """Per entity, the files and rows of the week's landing days; the rows quarantined per
    day and entity; the week's ten most frequent quarantine reasons with their rows."""
    from dagster_project.ingest.contract import ENTITIES

    end = week + timedelta(days=6)
    limit = int(settings.vars["freshness_max_days"])
    totals = {
        entity: rest
        for entity, *rest in conn.execute(
            """
            select entity,
                count(*) filter (where partition_date >= ?),
                coalesce(sum(rows_read) filter (where partition_date >= ?), 0),
                coalesce(sum(rows_loaded) filter (where partition_date >= ?), 0),
                coalesce(sum(rows_quarantined) filter (where partition_date >= ?), 0),
                max(partition_date)
            from raw.file_ledger
            where status = 'loaded' and partition_date <= ? group by entity
            """,
            [week, week, week, week, end],
        ).fetchall()
    }
    loads = []
    for entity, spec in ENTITIES.items():
        files, read, loaded, quarantined, newest = totals.get(entity, (0, 0, 0, 0, None))
        behind = (end - newest).days if newest else None
        stale = not spec.optional and (behind is None or behind > limit)
        loads.append(Loads(entity, files, read, loaded, quarantined, newest, stale))
    days = conn.execute(
        """
        select partition_date, entity, sum(rows_quarantined) from raw.file_ledger
        where status = 'loaded' and partition_date between ? and ? group by all order by all
        """,
        [week, end],
    ).fetchall()
    reasons = conn.execute(
        """
        select entity, reason, count(*) from raw.quarantine
        where partition_date between ? and ? group by all order by 3 desc, 1, 2 limit 10
        """,
        [week, end],
    ).fetchall()
    return loads, days, reasons


def render(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    week: date,
    checks: list[CheckOutcome] | None = None,
) -> str:
    from dagster_project.report import charts

    language = str(settings.vars["report_language"])
    labels = LABELS[language]
    name = Names(conn, language)
    weeks = int(settings.vars["report_stage_weeks"])
    week_end = week + timedelta(days=6)
    kpis = read_kpis(conn, week, settings)
    stage_weeks = read_stage_weeks(conn, week, weeks)
    transitions = read_transitions(conn, week)
    rfm = read_rfm(conn)
    tiers = read_tiers(conn, settings)
    clv = read_clv(conn)
    cohorts = read_cohorts(conn, week, int(settings.vars["report_cohort_months"]))
    channels = read_channels(conn, week)
    campaigns = read_campaigns(conn, week)
    contacts = read_contacts(conn, week)
    cap = int(settings.vars["contact_cap_per_7_days"])
    loads, load_days, reasons = read_loads(conn, week, settings)
    (as_of,) = one(conn, "select as_of_date from intermediate.int_as_of_date")
    high = {True: labels["high"], False: labels["low"]}
    at_risk, no_risk = labels["downgrade_risk"], labels["no_downgrade_risk"]
    figures = {
        "sparklines": {(k.number, k.customer_type): charts.sparkline(k.history) for k in kpis},
        "stages": charts.stage_area(
            [{"week": d, "stage": name(s), "order": name.rank(s), "customers": n}
             for d, s, n in stage_weeks],
            labels,
        ) if stage_weeks else "",
        "transitions": charts.transition_matrix(
            [{"from": name(a), "to": name(b), "from_order": name.rank(a),
              "to_order": name.rank(b), "customers": n} for a, b, n in transitions],
            labels,
        ) if transitions else "",
        "rfm": charts.rfm_map(
            [{"group": name(g.group), "r": high[g.r_high], "f": high[g.f_high],
              "m": high[g.m_high], "customers": g.customers, "revenue": g.revenue} for g in rfm],
            labels,
        ),
        "tiers": charts.tier_bars(
            [{"tier": tier, "order": i, "risk": risk, "customers": n}
             for i, (tier, total, risky) in enumerate(tiers)
             for risk, n in ((no_risk, total - risky), (at_risk, risky))],
            labels,
        ),
        "clv": charts.clv_histogram(
            [{"low": a, "high": b, "customers": n} for a, b, n in clv.bins], labels
        ) if clv.bins else "",
        "cohorts": charts.cohort_heatmap(
            [{"cohort": c.strftime("%Y-%m"), "months": m, "share": s} for c, m, s, _ in cohorts],
            labels,
        ) if cohorts else "",
        "ltv": charts.ltv_curves(
            [{"cohort": c.strftime("%Y-%m"), "months": m, "ltv": v} for c, m, _, v in cohorts],
            labels,
        ) if cohorts else "",
        "channels": charts.channel_bars(
            [{"channel": c.channel, "cac": c.cac, "ltv_to_cac": c.ltv_to_cac} for c in channels],
            labels,
        ) if channels else "",
        "uplift": charts.uplift_bars(
            [{"campaign": c.campaign, "uplift": c.uplift, "low": c.low, "high": c.high}
             for c in campaigns if c.low is not None],
            labels,
        ) if any(c.low is not None for c in campaigns) else "",
        "contacts": charts.contacts_against_cap(
            [{"channel": ch, "contacts": k, "customers": n} for ch, k, n in contacts], cap, labels
        ) if contacts else "",
        "loads": charts.quarantined_per_day(
            [{"day": d.strftime("%m-%d"), "entity": e, "rows": int(n)} for d, e, n in load_days],
            labels,
        ) if any(n for _, _, n in load_days) else "",
    }  # fmt: skip
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True
    )
    return environment.get_template("weekly.html.j2").render(
        language=language,
        labels=labels,
        name=name,
        week=week,
        week_end=week_end,
        as_of=as_of,
        iso_week=iso_week_name(week),
        kpis=kpis,
        figures=figures,
        trend_weeks=int(settings.vars["report_trend_weeks"]),
        stage_weeks=weeks,
        stage_counts=sorted(
            ((s, n) for d, s, n in stage_weeks if d == week_end),
            key=lambda p: name.rank(p[0]),
        ),
        transitions=transitions,
        rfm=rfm,
        tiers=tiers,
        clv=clv,
        channels=channels,
        campaigns=campaigns,
        contacts=contacts,
        cap=cap,
        loads=loads,
        reasons=reasons,
        checks=checks,
        freshness_max_days=int(settings.vars["freshness_max_days"]),
        currency=settings.reporting_currency,
    )


def iso_week_name(week: date) -> str:
    year, number, _ = week.isocalendar()
    return f"{year}-W{number:02d}"


def write_report(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    week: date | None = None,
    checks: list[CheckOutcome] | None = None,
) -> Path:
    """Write reports/<iso-week>.html and latest.html (a copy); returns the week's page.
    `checks` are the checks whose latest result did not pass (None: not known here)."""
    newest = latest_week(conn)
    chosen = week or newest
    if chosen is None:
        raise RuntimeError("marts.kpi_weekly_monitor has no complete week yet: nothing to report")
    chosen = chosen - timedelta(days=chosen.weekday())  # the Monday of the week given
    folder = settings.data_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    page = render(conn, settings, chosen, checks)
    path = folder / f"{iso_week_name(chosen)}.html"
    path.write_text(page, encoding="utf-8")
    if chosen == newest:
        (folder / "latest.html").write_text(page, encoding="utf-8")
    return path
