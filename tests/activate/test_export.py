"""Publishing audience files: fields, hashing, manifest, checks, atomic rename, contact log."""

import csv
import hashlib
import json
from datetime import date

import dagster as dg
import pytest

from dagster_project.activate import export
from dagster_project.activate.assets import build_campaign_assets
from dagster_project.activate.audience import select_audiences
from dagster_project.resources import Warehouse, open_warehouse
from tests.activate.marts import build_marts, customer
from tests.activate.test_audience import campaign

D = date(2026, 6, 10)
# sha256 of the normalised addresses, worked out with `printf %s test@example.com | sha256sum`
TEST_EMAIL_SHA256 = "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"
PHONE_SHA256 = "ec61f3c620a98bdead8c1f1f0ae747abd1b62a0c2dba4fd4bc22cf0d1d8653e5"  # +8613800138000


def read_csv(path):
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def run_day(conn, settings, customers, *campaigns):
    build_marts(conn, customers, D)
    select_audiences(conn, settings, list(campaigns))
    published = {}
    for c in campaigns:
        prepared = export.prepare(conn, settings, c, D)
        outcome = export.check(prepared)
        assert outcome.success, outcome.failures
        published[c.id] = export.publish(conn, settings, prepared, outcome)
    return published


def contact_log(conn):
    return conn.execute(
        "select campaign_id, customer_id, arm, send_date from activate.contact_log order by all"
    ).fetchall()


def test_only_the_campaign_fields_of_treatment_members_leave(conn, settings):
    customers = [customer(f"k{i}", member_tier="gold") for i in range(40)]
    c = campaign(control_share=0.25, fields=("customer_id", "email", "member_tier"))
    manifest = run_day(conn, settings, customers, c)["c"]
    folder = settings.exports_dir / "c" / D.isoformat()
    rows = read_csv(folder / "audience.csv")
    assert list(rows[0]) == ["customer_id", "email", "member_tier"]
    control = {r[1] for r in contact_log(conn) if r[2] == "control"}
    assert 0 < len(control) < 40
    assert {r["customer_id"] for r in rows} == {f"k{i}" for i in range(40)} - control
    # the manifest's counts and checksum are those of the file
    assert manifest == json.loads((folder / "manifest.json").read_text())
    assert manifest["row_count"] == len(rows) == 40 - len(control)
    assert manifest["control_count"] == len(control)
    digest = hashlib.sha256((folder / "audience.csv").read_bytes()).hexdigest()
    assert manifest["files"]["audience.csv"]["sha256"] == digest
    assert manifest["data_quality"]["success"] is True
    assert manifest["pipeline_version"] == "0.1.0"
    assert sorted(p.name for p in folder.iterdir()) == ["audience.csv", "manifest.json"]


def test_customer_match_files_carry_only_hashes_of_normalised_addresses(conn, settings):
    # the marts' email_key is the address normalised by dbt (normalize_email, unit-tested
    # there); the file hashes that key, not the address as written
    c = campaign(channel="customer_match", fields=("email_sha256", "phone_sha256"))
    a = customer("a", email=" Test@Example.COM ", email_key="test@example.com")
    run_day(conn, settings, [a], c)
    rows = read_csv(settings.exports_dir / "c" / D.isoformat() / "audience.csv")
    assert rows == [{"email_sha256": TEST_EMAIL_SHA256, "phone_sha256": PHONE_SHA256}]


def test_rerunning_a_day_replaces_its_files_and_contact_log_rows(conn, settings):
    customers = [customer("a"), customer("b")]
    run_day(conn, settings, customers, campaign(cooldown_days=30))
    first = contact_log(conn)
    run_day(conn, settings, customers, campaign(cooldown_days=30))
    assert contact_log(conn) == first == [("c", "a", "treatment", D), ("c", "b", "treatment", D)]
    assert len(read_csv(settings.exports_dir / "c" / D.isoformat() / "audience.csv")) == 2
    assert list((settings.exports_dir / ".staging").iterdir()) == []


def test_a_crash_between_writing_and_renaming_leaves_no_file_and_no_contact(
    conn, settings, monkeypatch
):
    build_marts(conn, [customer("a")], D)
    select_audiences(conn, settings, [campaign()])
    prepared = export.prepare(conn, settings, campaign(), D)

    def crash(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(export.os, "rename", crash)
    with pytest.raises(OSError, match="disk gone"):
        export.publish(conn, settings, prepared, export.check(prepared))
    assert not (settings.exports_dir / "c").exists() or not any(
        (settings.exports_dir / "c").rglob("*.csv")
    )
    assert list((settings.exports_dir / ".staging").iterdir()) == []
    assert contact_log(conn) == []


def test_the_checks_catch_an_opted_out_or_control_member_and_a_wrong_count(conn, settings):
    c = campaign(control_share=0.5)
    build_marts(conn, [customer(f"k{i}") for i in range(20)], D)
    select_audiences(conn, settings, [c])
    assert export.check(export.prepare(conn, settings, c, D)).success
    # tamper with the audience: an opted-out customer, and a control member as treatment
    conn.execute(
        "update marts.customer_facts set is_reachable_by_email = false where customer_id = 'k1'"
    )
    conn.execute(
        "update activate.campaign_audience set arm = 'treatment' where customer_id = ("
        "select min(customer_id) from activate.campaign_audience where arm = 'control')"
    )
    outcome = export.check(export.prepare(conn, settings, c, D))
    failed = {(r["expectation"], r["column"]) for r in outcome.results if not r["success"]}
    assert failed == {
        ("expect_column_values_to_be_in_set", "_has_consent"),
        ("expect_column_values_to_be_in_set", "_hash_arm"),
        ("expect_table_row_count_to_equal", None),
    }


def materialize(settings, campaigns):
    return dg.materialize(
        build_campaign_assets(campaigns),
        resources={"warehouse": Warehouse(data_dir=str(settings.data_dir))},
        raise_on_error=False,
    )


def test_the_dagster_assets_publish_each_campaign_and_a_failed_check_publishes_nothing(
    conn, settings
):
    good = campaign("good", {"lifecycle_stage": ["active"]})
    bad = campaign(
        "bad", {"lifecycle_stage": ["silent"]}, channel="sms", fields=("customer_id", "phone")
    )
    # 'x' has a phone number the checks refuse (not E.164): the sms file must not leave
    build_marts(
        conn, [customer("a"), customer("x", lifecycle_stage="silent", phone_e164="12345")], D
    )
    conn.close()
    result = materialize(settings, [good, bad])
    assert not result.success
    evaluations = [e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]  # fmt: skip
    checks = {f"{c.check_name}:{c.asset_key.path[-1]}": c.passed for c in evaluations}
    assert checks == {
        "audience_passes_checks:good": True,
        "audience_passes_checks:bad": False,
        "qualified_customers_have_consent:campaign_audience": True,
    }
    assert (settings.exports_dir / "good" / D.isoformat() / "audience.csv").exists()
    assert not (settings.exports_dir / "bad").exists()
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description
    assert (
        "Campaign bad, send day 2026-06-10" in message
        and "expect_column_values_to_match_regex on phone" in message
    )

    with open_warehouse(settings) as reopened:
        assert contact_log(reopened) == [("good", "a", "treatment", D)]


def test_the_contact_log_asset_counts_the_days_sends_and_checks_them_against_the_files(
    conn, settings
):
    c = campaign(control_share=0.25)
    customers = [customer(f"k{i}") for i in range(40)]
    manifest = run_day(conn, settings, customers, c)["c"]
    treatment, control = manifest["row_count"], manifest["control_count"]
    assert treatment + control == 40 and 0 < control < 40
    sends = export.logged_sends(conn, D)
    assert sends == [export.Send("c", "email", treatment, control)]
    assert export.log_mismatches(settings, D, ["c", "quiet"], sends) == []

    # a contact-log row lost after publication, and a logged send without its file
    conn.execute("delete from activate.contact_log where customer_id = 'k0'")
    conn.execute(
        "insert into activate.contact_log values "
        "('ghost', 'k1', 'treatment', ?, 'sms', current_timestamp)",
        [D],
    )
    sends = export.logged_sends(conn, D)
    lost = ("treatment", "control")[
        conn.execute(
            "select arm = 'control' from activate.campaign_audience where customer_id = 'k0'"
        ).fetchone()[0]
    ]
    in_log = (treatment - (lost == "treatment"), control - (lost == "control"))
    assert export.log_mismatches(settings, D, ["c"], sends) == [
        f"c, send day {D}: the published file has {treatment} treatment and {control} control "
        f"customers, the contact log {in_log[0]} and {in_log[1]}",
        f"ghost, send day {D}: 1 contact(s) in the log but no published file "
        f"({settings.exports_dir / 'ghost' / D.isoformat()} is missing)",
    ]

    # the asset: one materialization for the send day, its counts, and the blocking check
    conn.close()
    log_asset = build_campaign_assets([c])[-1]
    result = dg.materialize(
        [log_asset],
        resources={"warehouse": Warehouse(data_dir=str(settings.data_dir))},
        raise_on_error=False,
    )
    (materialization,) = result.asset_materializations_for_node(log_asset.op.name)
    assert materialization.metadata["send_date"].value == str(D)
    assert materialization.metadata["contacts"].value == 40  # 39 of c's and the ghost's
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "contact_log_matches_files" and not check.passed


def test_a_campaign_emptied_by_missing_consent_warns_with_its_funnel(conn, settings):
    # three customers qualify for the email campaign, none may be emailed
    build_marts(
        conn,
        [
            customer("a", is_reachable_by_email=False),
            customer("b", is_reachable_by_email=False),
            customer("c", is_reachable_by_email=False),
        ],
        D,
    )
    conn.close()
    result = materialize(settings, [campaign("mail")])
    assert result.success  # an empty file is published: a WARN, not a failure
    check = next(
        c for c in result.get_asset_check_evaluations()
        if c.check_name == "qualified_customers_have_consent"
    )  # fmt: skip
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description == (
        "mail (email): 3 qualified, 0 with consent, 0 after cooldown, 0 within caps, "
        "0 selected, 0 treatment, 0 control: nobody qualified has consent for email"
    )
    with open_warehouse(settings) as reopened:
        build_marts(reopened, [customer("a"), customer("b", is_reachable_by_email=False)], D)
    result = materialize(settings, [campaign("mail")])
    check = next(
        c for c in result.get_asset_check_evaluations()
        if c.check_name == "qualified_customers_have_consent"
    )  # fmt: skip
    assert check.passed
