"""Settings in layers: defaults, the shop config in the data folder, CRM_ variables."""

from pathlib import Path

import pytest

from dagster_project.settings import (
    DBT_KEYS,
    DBT_PROJECT_DIR,
    REPO_ROOT,
    SHOP_CONFIG,
    SettingsError,
    default_values,
    load_settings,
    settings_markdown,
)


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SHOP_CONFIG
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shop_config_overrides_a_default_and_a_variable_overrides_both(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_RESTATE_DAYS", raising=False)
    write_config(tmp_path, "store_timezone: Europe/London\nrestate_days: 20\n")
    settings = load_settings(tmp_path)
    assert settings.store_timezone == "Europe/London"  # the file, over Asia/Shanghai
    assert settings.vars["restate_days"] == 20
    assert settings.vars["stage_active_max_days"] == 45  # untouched: the default
    monkeypatch.setenv("CRM_RESTATE_DAYS", "19")
    assert load_settings(tmp_path).vars["restate_days"] == 19
    # a list in a variable is YAML, like the file
    monkeypatch.setenv("CRM_RFM_F_BREAKPOINTS", "[1, 3, 5, 7, 9]")
    assert load_settings(tmp_path).dbt_vars["rfm_f_breakpoints"] == [1, 3, 5, 7, 9]


def test_the_config_is_read_again_when_it_changes(tmp_path):
    path = write_config(tmp_path, "restate_days: 20\n")
    assert load_settings(tmp_path).vars["restate_days"] == 20
    path.write_text("restate_days: 21\n", encoding="utf-8")
    assert load_settings(tmp_path).vars["restate_days"] == 21


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rfm_windw_days: 30\n", "unknown setting 'rfm_windw_days' (did you mean 'rfm_window_days'?)"),
        ("restate_days: sixteen\n", "restate_days: Input should be a valid integer"),
        ("store_timezone: Mars/Olympus\n", "store_timezone: 'Mars/Olympus' is not an IANA time zone"),
        ("stage_active_max_days: 5\n", "stage_after_sale_max_days < stage_active_max_days < stage_silent_max_days < stage_sleeping_max_days must be in increasing order, got [7, 5, 90, 365]"),
        ("quarantine_error_share: 1.5\n", "quarantine_error_share: Input should be less than or equal to 1"),
        ("daily_schedule_time: '25:00'\n", "daily_schedule_time: String should match pattern"),
        ("member_tiers: [{tier: basic, min_net_revenue: 10}, {tier: gold, min_net_revenue: 5}]\n",
         "member_tiers' min_net_revenue must be in increasing order, got [10.0, 5.0]"),
        ("- just a list\n", "expected 'setting: value' lines, got list"),
    ],
)  # fmt: skip
def test_a_bad_setting_fails_naming_its_key_and_its_file(tmp_path, text, expected):
    path = write_config(tmp_path, text)
    with pytest.raises(SettingsError) as error:
        load_settings(tmp_path)
    assert str(error.value).startswith(f"{path}: ")
    assert expected in str(error.value)


def test_a_bad_variable_is_named_and_an_unknown_crm_variable_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_CONTACT_CAP_PER_DAY", "-1")
    with pytest.raises(SettingsError, match=r"^environment variable CRM_CONTACT_CAP_PER_DAY: "
                       r"contact_cap_per_day: Input should be greater than or equal to 0"):  # fmt: skip
        load_settings(tmp_path)
    monkeypatch.delenv("CRM_CONTACT_CAP_PER_DAY")
    monkeypatch.setenv("CRM_STORE_TIMEZNE", "UTC")
    with pytest.raises(SettingsError, match="CRM_STORE_TIMEZNE: unknown setting 'store_timezne'"):
        load_settings(tmp_path)


def test_dbt_gets_exactly_the_settings_its_models_read():
    """The split that keeps a schedule change from re-parsing dbt: a setting is handed to dbt
    if and only if a model or macro reads it with var()."""
    import re

    read = set()
    for path in DBT_PROJECT_DIR.glob("[mt]*/**/*.sql"):
        read |= set(re.findall(r"var\(\s*['\"]([a-z_0-9]+)['\"]", path.read_text()))
    read.discard("as_of_date")  # D is given per run, not a setting
    assert read == set(DBT_KEYS)
    assert set(load_settings(REPO_ROOT / "no-such-folder").dbt_vars) == DBT_KEYS


def test_the_settings_page_is_generated_from_the_defaults():
    page = (REPO_ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert page == settings_markdown(), "run: python -m dagster_project.settings > docs/settings.md"
    defaults = default_values()
    for key in defaults:
        assert f"| `{key}` |" in page
    assert "| `store_timezone` | `Asia/Shanghai` |" in page
