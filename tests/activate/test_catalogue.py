"""The campaign catalogue: the shipped playbook loads; every kind of mistake is named."""

from pathlib import Path

import pytest

from dagster_project.activate.catalogue import CatalogueError, load_catalogue, parse_catalogue
from dagster_project.settings import load_settings

GOOD = """
- id: repurchase_45d
  name: 45-day repurchase nudge
  channel: email
  audience: {lifecycle_stage: [silent], days_since_last_purchase: {min: 40, max: 50}}
  control_share: 0.1
  priority: 20
  cooldown_days: 14
  fields: [customer_id, email]
  schedule: daily
"""


ID_RULE = (
    "1 to 64 lower-case letters, digits and _, nothing else (it names the campaign's folder "
    "and its Dagster asset)"
)
HOSTILE = Path(__file__).resolve().parents[1] / "data" / "hostile"


def parse(text: str):
    return parse_catalogue(text, Path("campaigns.yml"), load_settings())


def test_the_shipped_playbook_is_a_valid_catalogue():
    campaigns = load_catalogue()
    assert {c.id for c in campaigns} == {
        "after_sale_review", "repurchase_45d", "winback_90d", "winback_140d",
        "member_upgrade_nudge", "downgrade_warning", "birthday_care", "abandoned_cart_24h",
        "registered_7d_no_purchase", "churned_reactivation", "important_value_lookalike",
    }  # fmt: skip
    lookalike = next(c for c in campaigns if c.id == "important_value_lookalike")
    assert lookalike.channel == "customer_match"
    assert lookalike.audience == {"rfm_group": ["important_value"]}


def test_a_good_campaign_is_read_as_written():
    (campaign,) = parse(GOOD)
    assert campaign.fields == ("customer_id", "email")
    assert campaign.audience["days_since_last_purchase"] == {"min": 40, "max": 50}
    assert campaign.control_share == 0.1


def test_every_mistake_is_reported_with_its_campaign_and_field():
    bad = (
        GOOD
        + """
- id: Win-Back!
  name: Win back
  channel: email
  audience: {lifecycle_stage: [slient], rfm_group: [vip], spend_band: [high]}
  control_share: 0.7
  priority: 1
  cooldown_days: 7
  fields: [customer_id, email, first_name]
  schedule: daily
  colour: red
- id: repurchase_45d
  name: Lookalike
  channel: customer_match
  audience: {days_since_last_purchase: {min: 9, max: 3}}
  control_share: 0
  priority: 2
  cooldown_days: 0
  fields: [email_sha256, email]
  schedule: monthly
"""
    )
    with pytest.raises(CatalogueError) as caught:
        parse(bad)
    assert sorted(caught.value.mistakes) == sorted([
        f"campaign 'Win-Back!' (entry 2), field id: {ID_RULE}",
        "campaign 'Win-Back!' (entry 2), field colour: unknown field; known: id, name, channel, audience, control_share, priority, cooldown_days, fields, schedule, description",
        "campaign 'Win-Back!' (entry 2), field control_share: must be a share from 0 to 0.5, not 0.7",
        "campaign 'Win-Back!' (entry 2), field audience.lifecycle_stage: unknown value 'slient'; known: after_sale, active, silent, sleeping, churned, prospect_unpaid, prospect_cart, prospect_engaged, prospect_browsing, registered_dormant",
        "campaign 'Win-Back!' (entry 2), field audience.rfm_group: unknown value 'vip'; known: important_value, important_develop, important_keep, important_retain, general_value, general_develop, general_keep, general_retain",
        "campaign 'Win-Back!' (entry 2), field audience.spend_band: unknown condition; known conditions: amount_to_next_tier, birthday_in_next_days, churn_risk, customer_type, days_since_last_purchase, days_since_registration, event_in_last_hours, favourite_category, has_downgrade_risk, lifecycle_stage, member_tier, rfm_group",
        "campaign 'Win-Back!' (entry 2), field fields: unknown field 'first_name'; known: customer_id, shop_customer_id, push_customer_id, email, phone, member_tier, favourite_category, lifecycle_stage, customer_type, rfm_group, days_since_last_purchase, birth_date, gender, city_tier, email_sha256, phone_sha256",
        "campaign 'repurchase_45d' (entry 3), field schedule: must be one of daily, weekly, not 'monthly'",
        "campaign 'repurchase_45d' (entry 3), field audience.days_since_last_purchase: min 9 is above max 3",
        "campaign 'repurchase_45d' (entry 3), field fields: 'email' cannot leave in a customer_match file: only email_sha256 and phone_sha256 may",
        "campaign 'repurchase_45d': the id is used by 2 campaigns; ids must be unique",
    ])  # fmt: skip
    assert "nothing was run" in str(caught.value)


def test_missing_fields_and_a_missing_address_are_mistakes():
    text = """
- id: sms_nudge
  name: SMS nudge
  channel: sms
  audience: {event_in_last_hours: {type: add_to_basket, hours: 0}}
  fields: [customer_id]
"""
    with pytest.raises(CatalogueError) as caught:
        parse(text)
    where = "campaign 'sms_nudge' (entry 1), field"
    assert sorted(caught.value.mistakes) == sorted([
        f"{where} control_share: is missing",
        f"{where} priority: is missing",
        f"{where} cooldown_days: is missing",
        f"{where} schedule: is missing",
        f"{where} audience.event_in_last_hours.type: unknown event type 'add_to_basket'; known: page_view, product_view, search, favorite, add_to_cart, remove_from_cart, inquiry, checkout_start, login, signup, review, other",
        f"{where} audience.event_in_last_hours.hours: must be a whole number of hours from 1 to 2160, not 0",
        f"{where} fields: a sms campaign must export 'phone', its address",
    ])  # fmt: skip


def test_a_file_that_is_not_a_list_of_campaigns_says_so():
    with pytest.raises(CatalogueError, match="must be a list of campaigns"):
        parse("id: x\n")
    with pytest.raises(CatalogueError, match="not valid YAML"):
        parse("- id: [unclosed\n")


def test_an_id_ending_in_a_newline_or_too_long_for_a_folder_is_refused_before_anything_runs():
    # the catalogue check (make check-campaigns) and loading the definitions both call this
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(HOSTILE / "campaigns_bad_ids.yml")
    assert caught.value.mistakes == [
        f"campaign 'repurchase_45d\\n' (entry 1), field id: {ID_RULE}",
        f"campaign '{'a' * 300}' (entry 2), field id: {ID_RULE}",
    ]
