"""One sample shop, loaded and built up to the customer facts and churn features, per session."""

import pytest

from dagster_project.sample_shop.generator import ShopConfig
from dagster_project.settings import Settings, load_settings
from tests.dbt.helpers import load_shop, run_dbt


@pytest.fixture(scope="session")
def shop_warehouse(tmp_path_factory) -> Settings:
    settings = load_settings(tmp_path_factory.mktemp("scores") / "data")
    load_shop(settings, ShopConfig(customers=5000, days=540))
    run_dbt(
        settings, "build", "--select", "+customer_facts", "+int_churn_features",
        "--indirect-selection", "cautious", "--exclude", "test_type:unit",
    )  # fmt: skip
    return settings
