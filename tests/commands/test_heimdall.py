"""`valhalla heimdall`: decisions, outcomes, scorecard, promotion gate, audit, bad input."""

from datetime import UTC, datetime, timedelta

import pytest
from conftest import db_count, snapshot_tables

from valhalla_cli.services import heimdall
from valhalla_cli.services.stats import wilson_lower_bound

AT = "2027-01-15T10:00:00-05:00"
T0 = datetime(2027, 1, 15, 15, tzinfo=UTC)


def _track_record(db, domain, successes, failures, *, at=T0, confidence=0.9):
    """Sandbox recommendations with outcomes, through the services."""
    with db.transaction(write=True) as session:
        for i in range(successes + failures):
            rec = heimdall.record(session, domain=domain, confidence=confidence,
                                  subject=f"s{i}", actor="model", at=at, enforce=True)
            heimdall.record_outcome(session, recommendation_id=rec.recommendation_id,
                                    success=i < successes, actor="ops",
                                    at=at + timedelta(hours=1), business_timezone="UTC")


def test_seeded_domains_are_sandbox_with_spec_thresholds(cli):
    rows = cli("heimdall", "policies", "--json").json
    assert [r["domain"] for r in rows] == ["buyer_matching", "followup_timing", "lead_scoring",
                                           "offer_pricing"]
    for r in rows:
        assert (r["mode"], r["min_confidence"], r["min_samples"], r["min_success_rate"],
                r["enabled"]) == ("sandbox", 0.80, 30, 0.70, True)


def test_record_rejects_below_min_confidence_and_shadows_in_sandbox(cli, db):
    low = cli("heimdall", "record", "lead_scoring", "--confidence", "0.79", "--subject", "l-1",
              "--at", AT, "--json")
    assert low.exit_code == 1
    assert low.json["decision"] == "reject" and low.json["reason"] == "below_min_confidence"
    assert "min_confidence" in low.stderr
    shadow = cli("heimdall", "record", "lead_scoring", "--confidence", "0.80", "--subject",
                 "l-1", "--payload", '{"score": 87}', "--at", AT, "--json")
    assert shadow.exit_code == 1
    body = shadow.json
    assert body["decision"] == "shadow" and body["mode"] == "sandbox"
    assert body["reason"] == "sandbox_mode"
    assert set(body) >= {"recommendation_id", "domain", "confidence", "mode", "decision"}
    assert body["recorded_at"] == "2027-01-15T15:00:00Z"
    assert db_count(db, "SELECT COUNT(*) FROM heimdall_recommendation") == 2


def test_act_only_in_production_while_live(cli, db):
    _track_record(db, "offer_pricing", 30, 0)
    assert cli("heimdall", "promote", "offer_pricing", "--reason", "shadow review",
               "--at", AT).exit_code == 0
    args = ("heimdall", "record", "offer_pricing", "--confidence", "0.95", "--subject", "o-1",
            "--at", AT, "--json")
    not_live = cli(*args)
    assert not_live.exit_code == 1
    assert not_live.json["decision"] == "shadow"
    assert not_live.json["reason"] == "golive_disabled"
    assert cli("golive", "enable", "--reason", "go").exit_code == 0
    act = cli(*args)
    assert act.exit_code == 0, act.stderr
    assert act.json["decision"] == "act" and act.json["mode"] == "production"
    assert act.json["reason"] is None
    cli("golive", "kill-switch", "engage", "--reason", "stop")
    killed = cli(*args)
    assert killed.exit_code == 1 and killed.json["reason"] == "kill_switch_engaged"
    # A production domain below min_confidence is still rejected.
    low = cli("heimdall", "record", "offer_pricing", "--confidence", "0.5", "--subject", "o-2",
              "--json")
    assert low.json["decision"] == "reject"


def test_enforcement_off_acts_with_a_warning(cli, db):
    _track_record(db, "buyer_matching", 30, 0)
    cli("heimdall", "promote", "buyer_matching", "--reason", "ok")
    result = cli("heimdall", "record", "buyer_matching", "--confidence", "0.9", "--subject", "b",
                 "--json", env={"VALHALLA_GOLIVE_ENFORCE": "0"})
    assert result.exit_code == 0 and result.json["decision"] == "act"
    assert "enforcement is off" in result.stderr


def test_disabled_domain_rejects(cli):
    cli("heimdall", "policy-set", "lead_scoring", "--disable", "--reason", "retraining")
    result = cli("heimdall", "record", "lead_scoring", "-c", "0.99", "-s", "x", "--json")
    assert result.exit_code == 1
    assert result.json["decision"] == "reject" and result.json["reason"] == "domain_disabled"


def test_outcome_is_recorded_once(cli, db):
    rec = cli("heimdall", "record", "lead_scoring", "-c", "0.9", "-s", "l", "--at", AT,
              "--json").json["recommendation_id"]
    first = cli("heimdall", "outcome", str(rec), "--success", "--at", "2027-01-16T10:00",
                "--json")
    assert first.exit_code == 0 and first.json["changed"] is True
    assert first.json["recommendation"]["outcome"] == "success"
    again = cli("heimdall", "outcome", str(rec), "--success", "--at", "2027-01-17", "--json")
    assert again.exit_code == 0 and again.json["changed"] is False
    other = cli("heimdall", "outcome", str(rec), "--failure", "--at", "2027-01-17", "--json")
    assert other.exit_code == 1
    assert other.json["reason"] == "outcome_already_recorded"
    assert other.json["recommendation"]["outcome"] == "success"
    assert "once" in other.stderr
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'heimdall' "
                        "AND action = 'outcome'") == 1
    # The daily roll-up counts it on the business day of the outcome (Toronto).
    assert db_count(db, "SELECT samples FROM heimdall_scorecard WHERE domain = 'lead_scoring' "
                        "AND mode = 'sandbox' AND day = '2027-01-16'") == 1


def test_scorecard_counts_sandbox_outcomes_at_or_above_min_confidence(cli, db):
    _track_record(db, "lead_scoring", 28, 2)
    _track_record(db, "lead_scoring", 0, 5, confidence=0.5)  # below the gate: not counted
    with db.transaction(write=True) as session:  # recorded but never scored: not counted
        heimdall.record(session, domain="lead_scoring", confidence=0.9, subject="open",
                        actor="m", at=T0, enforce=True)
    rows = cli("heimdall", "scorecard", "--domain", "lead_scoring", "--json").json
    assert len(rows) == 1
    card = rows[0]
    assert (card["samples"], card["successes"]) == (30, 28)
    assert card["success_rate"] == pytest.approx(28 / 30)
    assert card["wilson_lower"] == pytest.approx(0.8173, abs=5e-5)
    assert card["eligible"] is True
    assert card["production"] == {"samples": 0, "successes": 0, "success_rate": None,
                                  "wilson_lower": 0.0, "eligible": False}
    everything = cli("heimdall", "scorecard", "--json").json
    assert len(everything) == 4
    # Roll-ups: 30 gated outcomes on one day (the 5 low-confidence ones are not counted).
    assert db_count(db, "SELECT SUM(samples) FROM heimdall_scorecard") == 30
    assert db_count(db, "SELECT SUM(successes) FROM heimdall_scorecard") == 28


def test_scorecard_days_window_ends_at_at(cli, db):
    _track_record(db, "lead_scoring", 3, 1, at=datetime(2027, 1, 1, 15, tzinfo=UTC))
    _track_record(db, "lead_scoring", 5, 0, at=datetime(2027, 1, 10, 15, tzinfo=UTC))
    def card(*extra):
        return cli("heimdall", "scorecard", "-d", "lead_scoring", *extra, "--json").json[0]
    assert card()["samples"] == 9
    assert card("--days", "7", "--at", "2027-01-12T12:00")["samples"] == 5
    assert card("--days", "30", "--at", "2027-01-12T12:00")["samples"] == 9
    assert card("--days", "7", "--at", "2027-01-05T12:00")["samples"] == 4
    # The window ends at --at: outcomes after it are left out.
    assert card("--days", "1", "--at", "2027-01-10T10:30")["samples"] == 0


def test_promotion_refused_under_min_samples(cli, db):
    _track_record(db, "lead_scoring", 19, 1)
    result = cli("heimdall", "promote", "lead_scoring", "--reason", "looks good", "--json")
    assert result.exit_code == 1
    body = result.json
    assert body["refused"] is True and body["reason"] == "too_few_samples"
    assert (body["samples"], body["min_samples"]) == (20, 30)
    assert body["wilson_lower"] == pytest.approx(wilson_lower_bound(19, 20), abs=1e-6)
    assert "20 sandbox samples (need 30)" in result.stderr
    assert cli("heimdall", "policies", "--json").json[2]["mode"] == "sandbox"
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE action = 'promote'") == 0


def test_promotion_refused_when_lower_bound_below_rate(cli, db):
    _track_record(db, "lead_scoring", 24, 6)  # 80 % observed, lower bound 0.657 < 0.70
    result = cli("heimdall", "promote", "lead_scoring", "--reason", "r", "--json")
    assert result.exit_code == 1
    assert result.json["reason"] == "below_min_success_rate"
    assert result.json["wilson_lower"] == pytest.approx(0.6575, abs=5e-4)
    assert result.json["mode"] == "sandbox"


def test_promotion_allowed_at_or_above_the_rate_and_audited(cli, db):
    _track_record(db, "lead_scoring", 28, 2)
    bound = wilson_lower_bound(28, 30)
    # Just above the bound: refused.
    cli("heimdall", "policy-set", "lead_scoring", "--min-success-rate", repr(bound + 1e-9))
    assert cli("heimdall", "promote", "lead_scoring", "--reason", "r").exit_code == 1
    # Exactly at the bound: allowed.
    cli("heimdall", "policy-set", "lead_scoring", "--min-success-rate", repr(bound))
    result = cli("--actor", "carol", "heimdall", "promote", "lead_scoring", "--reason",
                 "30 shadow outcomes", "--at", AT, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["changed"] is True and result.json["mode"] == "production"
    again = cli("heimdall", "promote", "lead_scoring", "--reason", "again", "--json")
    assert again.exit_code == 0 and again.json["changed"] is False
    demoted = cli("heimdall", "demote", "lead_scoring", "--reason", "drift", "--json")
    assert demoted.exit_code == 0 and demoted.json["mode"] == "sandbox"
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT action, actor, reason, subject FROM audit_event WHERE pack = 'heimdall' "
            "AND action IN ('promote', 'demote') ORDER BY id").all()
    assert [tuple(r) for r in rows] == [
        ("promote", "carol", "30 shadow outcomes", "lead_scoring"),
        ("demote", "tester", "drift", "lead_scoring"),
    ]


def test_policy_set_is_audited_and_can_restore_a_missing_domain(cli, db):
    changed = cli("heimdall", "policy-set", "offer_pricing", "--min-confidence", "0.85",
                  "--min-samples", "50", "--reason", "tighter", "--json").json
    assert changed["min_confidence"] == 0.85 and changed["min_samples"] == 50
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'heimdall' "
                        "AND action = 'policy_set'") == 1
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM heimdall_policy WHERE domain = 'buyer_matching'")
    check = _check(cli, "heimdall")
    assert check["status"] == "fail" and "buyer_matching" in check["detail"]
    assert check["fix"] == "valhalla heimdall policy-set buyer_matching"
    assert cli("heimdall", "record", "buyer_matching", "-c", "0.9", "-s", "x").exit_code == 2
    cli("heimdall", "policy-set", "buyer_matching")
    assert _check(cli, "heimdall")["status"] == "ok"


def _check(cli, name):
    report = cli("runbook", "status", "--json").json
    return next(c for c in report["checks"] if c["name"] == name)


def test_runbook_fails_on_thresholds_out_of_range(cli, db):
    assert _check(cli, "heimdall")["status"] == "ok"
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE heimdall_policy SET min_success_rate = 1.5 "
                             "WHERE domain = 'lead_scoring'")
    check = _check(cli, "heimdall")
    assert check["status"] == "fail" and "min_success_rate" in check["detail"]
    assert cli("runbook", "status").exit_code == 1
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE heimdall_policy SET min_success_rate = 0.7, "
                             "min_samples = 0 WHERE domain = 'lead_scoring'")
    assert "min_samples" in _check(cli, "heimdall")["detail"]


def test_bad_input_changes_nothing(cli, db):
    rec = cli("heimdall", "record", "lead_scoring", "-c", "0.9", "-s", "l", "--at", AT,
              "--json").json["recommendation_id"]
    before = snapshot_tables(db)
    cases = [
        ("heimdall", "record", "no_such_domain", "-c", "0.9", "-s", "x"),
        ("heimdall", "record", "lead_scoring", "-c", "1.5", "-s", "x"),
        ("heimdall", "record", "lead_scoring", "-c", "-0.1", "-s", "x"),
        ("heimdall", "record", "lead_scoring", "-c", "nan", "-s", "x"),
        ("heimdall", "record", "lead_scoring", "-c", "high", "-s", "x"),
        ("heimdall", "record", "lead_scoring", "-c", "0.9", "-s", "x", "--payload", "{bad"),
        ("heimdall", "record", "lead_scoring", "-c", "0.9", "-s", "  "),
        ("heimdall", "record", "lead_scoring", "-c", "0.9", "-s", "x", "--at", "soon"),
        ("heimdall", "outcome", str(rec)),
        ("heimdall", "outcome", "999999", "--success"),
        ("heimdall", "outcome", "abc", "--success"),
        ("heimdall", "outcome", str(rec), "--success", "--at", "2027-01-14T10:00"),
        ("heimdall", "scorecard", "--days", "0"),
        ("heimdall", "scorecard", "--domain", "nope"),
        ("heimdall", "promote", "lead_scoring", "--reason", " "),
        ("heimdall", "promote", "nope", "--reason", "r"),
        ("heimdall", "demote", "lead_scoring"),
        ("heimdall", "policy-set", "lead_scoring", "--min-confidence", "1.2"),
        ("heimdall", "policy-set", "lead_scoring", "--min-samples", "0"),
        ("heimdall", "policy-set", "lead_scoring", "--min-success-rate", "-1"),
        ("heimdall", "policy-set", "Bad Domain!", "--min-samples", "10"),
        ("heimdall", "policies", "--format", "xml"),
    ]
    for args in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert snapshot_tables(db) == before
