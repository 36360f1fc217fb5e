"""The report's charts: Vega-Altair specifications rendered to inline SVG by vl-convert.

Every chart receives rows already aggregated by SQL (a few hundred points at most), so the
page stays small whatever the size of the shop."""

from __future__ import annotations

from datetime import date
from typing import Any

WIDE = 640


def svg(chart: Any) -> str:
    import vl_convert as vlc

    return str(vlc.vegalite_to_svg(chart.to_json()))


def _data(rows: list[dict[str, Any]]) -> Any:
    import altair as alt

    return alt.Data(values=[{k: _plain(v) for k, v in row.items()} for row in rows])


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def sparkline(history: list[tuple[date, float | None]]) -> str:
    import altair as alt

    points = [{"week": d, "value": v} for d, v in history if v is not None]
    chart = (
        alt.Chart(_data(points))
        .mark_line(point=True)
        .encode(
            x=alt.X("week:T", axis=None),
            y=alt.Y("value:Q", axis=None, scale=alt.Scale(zero=False)),
        )
        .properties(width=120, height=28)
        .configure_view(stroke=None)
    )
    return svg(chart)


def stage_area(rows: list[dict[str, Any]], labels: dict[str, str]) -> str:
    """Customers per stage at each week's end, stacked."""
    import altair as alt

    chart = (
        alt.Chart(_data(rows))
        .mark_area()
        .encode(
            x=alt.X("week:T", title=labels["week"]),
            y=alt.Y("customers:Q", stack="zero", title=labels["customers"]),
            color=alt.Color("stage:N", title=labels["stage"], sort=alt.SortField("order")),
            order=alt.Order("order:Q"),
        )
        .properties(width=WIDE, height=280)
    )
    return svg(chart)


def transition_matrix(rows: list[dict[str, Any]], labels: dict[str, str]) -> str:
    """The week's moves: from-stage rows, to-stage columns, customers in each cell."""
    import altair as alt

    base = alt.Chart(_data(rows)).encode(
        x=alt.X(
            "to:N",
            title=labels["to_stage"],
            sort=alt.SortField("to_order"),
            axis=alt.Axis(labelAngle=-40),
        ),
        y=alt.Y("from:N", title=labels["from_stage"], sort=alt.SortField("from_order")),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("customers:Q", title=labels["customers"], scale=alt.Scale(scheme="blues"))
    )
    text = base.mark_text(fontSize=11).encode(text=alt.Text("customers:Q", format=","))
    return svg(alt.layer(cells, text).properties(width=WIDE - 120, height=300))


def rfm_map(rows: list[dict[str, Any]], labels: dict[str, str]) -> str:
    """The eight RFM groups on a recency x frequency grid, one panel for high and one for low
    monetary value: the bubble's area is the group's customers, its colour their revenue."""
    import altair as alt

    base = alt.Chart().encode(
        x=alt.X(
            "r:N",
            title=labels["recency"],
            sort=[labels["high"], labels["low"]],
            axis=alt.Axis(labelAngle=0),
        ),
        y=alt.Y("f:N", title=labels["frequency"], sort=[labels["high"], labels["low"]]),
    )
    bubbles = base.mark_circle(opacity=0.85).encode(
        size=alt.Size("customers:Q", scale=alt.Scale(range=[100, 5000]), legend=None),
        color=alt.Color("revenue:Q", title=labels["revenue"], scale=alt.Scale(scheme="goldorange")),
    )
    names = base.mark_text(dy=-38, fontSize=11).encode(text="group:N")
    counts = base.mark_text(fontSize=11).encode(text=alt.Text("customers:Q", format=","))
    chart = (
        alt.layer(bubbles, names, counts, data=_data(rows))
        .properties(width=260, height=220)
        .facet(
            column=alt.Column("m:N", title=labels["monetary"], sort=[labels["high"], labels["low"]])
        )
    )
    return svg(chart)


def tier_bars(rows: list[dict[str, Any]], labels: dict[str, str]) -> str:
    """Customers per member tier, the part with a downgrade risk in its own colour."""
    import altair as alt

    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            y=alt.Y("tier:N", title=labels["tier"], sort=alt.SortField("order")),
            x=alt.X("customers:Q", title=labels["customers"]),
            color=alt.Color("risk:N", title=None),
        )
        .properties(width=WIDE - 160, height=140)
    )
    return svg(chart)


def clv_histogram(rows: list[dict[str, Any]], labels: dict[str, str]) -> str:
    import altair as alt

    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X("low:Q", bin="binned", title=labels["clv"]),
            x2="high:Q",
            y=alt.Y("customers:Q", title=labels["customers"]),
        )
        .properties(width=WIDE, height=200)
    )
    return svg(chart)


def cohort_heatmap(rows: list[dict[str, Any]], labels: dict[str, str]) -> str:
    import altair as alt

    base = alt.Chart(_data(rows)).encode(
        x=alt.X("months:O", title=labels["months_since_first"], axis=alt.Axis(labelAngle=0)),
        y=alt.Y("cohort:O", title=labels["cohort"]),
    )
    cells = base.mark_rect().encode(
        color=alt.Color(
            "share:Q",
            title=labels["active_share"],
            scale=alt.Scale(scheme="greens"),
            legend=alt.Legend(format=".0%"),
        )
    )
    text = base.mark_text(fontSize=9).encode(text=alt.Text("share:Q", format=".0%"))
    return svg(
        alt.layer(cells, text).properties(width=WIDE, height=18 * len({r["cohort"] for r in rows}))
    )


def ltv_curves(rows: list[dict[str, Any]], labels: dict[str, str]) -> str:
    import altair as alt

    chart = (
        alt.Chart(_data(rows))
        .mark_line(point=True)
        .encode(
            x=alt.X("months:Q", title=labels["months_since_first"], axis=alt.Axis(format="d")),
            y=alt.Y("ltv:Q", title=labels["ltv_per_customer"]),
            color=alt.Color("cohort:O", title=labels["cohort"], scale=alt.Scale(scheme="viridis")),
        )
        .properties(width=WIDE, height=260)
    )
    return svg(chart)


def channel_bars(rows: list[dict[str, Any]], labels: dict[str, str]) -> str:
    """CAC per acquisition channel; beside it LTV / CAC, once a channel has one."""
    import altair as alt

    height = 30 * max(len(rows), 1)
    y = alt.Y("channel:N", title=labels["channel"])
    cac = alt.Chart(_data(rows)).mark_bar().encode(y=y, x=alt.X("cac:Q", title=labels["cac"]))
    ratios = [r for r in rows if r["ltv_to_cac"] is not None]
    if not ratios:
        return svg(cac.properties(width=260, height=height))
    ratio = (
        alt.Chart(_data(ratios))
        .mark_bar(color="#1a7f37")
        .encode(y=y, x=alt.X("ltv_to_cac:Q", title=labels["ltv_to_cac"]))
    )
    one = alt.Chart(_data([{"x": 1}])).mark_rule(strokeDash=[4, 3]).encode(x="x:Q")
    return svg(
        alt.hconcat(
            cac.properties(width=260, height=height),
            alt.layer(ratio, one).properties(width=260, height=height),
        )
    )


def uplift_bars(rows: list[dict[str, Any]], labels: dict[str, str]) -> str:
    """Each campaign's uplift (treatment minus control response) with its confidence interval."""
    import altair as alt

    base = alt.Chart(_data(rows)).encode(y=alt.Y("campaign:N", title=labels["campaign"]))
    interval = base.mark_errorbar(ticks=True).encode(
        x=alt.X("low:Q", title=labels["uplift"], axis=alt.Axis(format="%")), x2="high:Q"
    )
    point = base.mark_point(filled=True, size=60, color="black").encode(x="uplift:Q")
    zero = alt.Chart(_data([{"x": 0}])).mark_rule(color="#b42318").encode(x="x:Q")
    chart = alt.layer(interval, point, zero).properties(
        width=WIDE - 160, height=28 * max(len(rows), 1)
    )
    return svg(chart)


def contacts_against_cap(rows: list[dict[str, Any]], cap: int, labels: dict[str, str]) -> str:
    """Per channel, how many customers got 1, 2, ... contacts in the week; the 7-day cap drawn."""
    import altair as alt

    bars = (
        alt.Chart()
        .mark_bar()
        .encode(
            x=alt.X(
                "contacts:Q", title=labels["contacts_per_customer"], scale=alt.Scale(domainMin=0)
            ),
            y=alt.Y("customers:Q", title=labels["customers"]),
        )
    )
    limit = alt.Chart().mark_rule(color="#b42318", strokeDash=[4, 3]).encode(x="cap:Q")
    chart = (
        alt.layer(bars, limit, data=_data([{**r, "cap": cap} for r in rows]))
        .properties(width=200, height=160)
        .facet(column=alt.Column("channel:N", title=labels["channel"]))
    )
    return svg(chart)


def quarantined_per_day(rows: list[dict[str, Any]], labels: dict[str, str]) -> str:
    """Rows quarantined per landing day of the week, stacked by entity."""
    import altair as alt

    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X("day:O", title=labels["landing_day"], axis=alt.Axis(labelAngle=0)),
            y=alt.Y("rows:Q", title=labels["quarantined_rows"]),
            color=alt.Color("entity:N", title=labels["entity"]),
        )
        .properties(width=WIDE - 200, height=200)
    )
    return svg(chart)
