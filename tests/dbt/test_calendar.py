"""The calendar spans any history: a customer known since 1985 (a shop that moved its
whole customer base in, with earliest_plausible_date set to 1980) still gets this week's KPIs."""

from datetime import date

from dagster_project.resources import open_warehouse
from tests.dbt.helpers import empty_raw_tables, query, run_dbt


def test_the_calendar_covers_forty_years_and_the_weekly_kpis_reach_d(settings):
    empty_raw_tables(settings)
    with open_warehouse(settings) as conn:
        conn.execute(
            "insert into raw.customers (customer_id, registered_at, updated_at, _source_file, "
            "_row_number, _loaded_at) values ('old', '1985-06-01 02:00:00', "
            "'2026-11-01 02:00:00', 'hand', 1, '2026-11-01 03:00:00')"
        )
    run_dbt(settings, "build", "--exclude", "test_type:unit", as_of="2026-11-30")
    # 1985-06-01 to 2026-11-30: 41 years of 365 days, 10 leap days (1988 to 2024) and the
    # 183 days from 1 June to 30 November: 14,965 + 10 + 183 = 15,158 days
    assert query(
        settings,
        "select count(*), min(calendar_date), max(calendar_date) "
        "from intermediate.int_calendar_days",
    ) == [(15_158, date(1985, 6, 1), date(2026, 11, 30))]
    # the week of D (Monday 30 November) is there, for all customers and both types
    assert query(
        settings,
        "select customer_type from marts.kpi_weekly where iso_week_start = '2026-11-30' order by 1",
    ) == [("all",), ("new",), ("returning",)]
