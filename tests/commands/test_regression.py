"""`valhalla regression`: the tripwire on generated streams, throttles, release, levers."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from conftest import db_count, snapshot_tables

from valhalla_cli.services import kpi, regression
from valhalla_cli.services.levers import throttled_lever
from valhalla_cli.services.stats import window_figures

T0 = datetime(2027, 1, 1, tzinfo=UTC)
AT = "2027-03-01T00:00:00Z"


def _insert(db, metric, values, *, start=T0, step=timedelta(minutes=10)):
    rows = [{"metric": metric, "value": v, "occurred_at": start + i * step, "source": "test"}
            for i, v in enumerate(values)]
    with db.transaction(write=True) as session:
        kpi.insert_many(session, rows)
    return rows[-1]["occurred_at"] if rows else start


def _insert_times(db, metric, times):
    with db.transaction(write=True) as session:
        kpi.insert_many(session, [{"metric": metric, "value": 1.0, "occurred_at": t}
                                  for t in times])


def _by_metric(result):
    return {r["metric"]: r for r in result.json}


def _drop_0_8_to_0_6():
    return [1.0] * 160 + [0.0] * 40 + [1.0] * 30 + [0.0] * 20


def test_seeded_policies(cli):
    rows = cli("regression", "policies", "--json").json
    got = {r["metric"]: (r["statistic"], r["lever"], r["recent_window"], r["baseline_window"],
                         r["max_drop_pct"], r["confidence"], r["enabled"]) for r in rows}
    assert got == {
        "ladder_created": ("rate", "followups", 50, 200, 20.0, 0.99, True),
        "followup_completed": ("mean", "followups", 50, 200, 20.0, 0.99, True),
        "buyer_feedback": ("mean", "offers", 50, 200, 20.0, 0.99, True),
        "offer_generated": ("rate", "offers", 50, 200, 20.0, 0.99, True),
        # SPEC 21.6: a collapse of delivery throttles the ladder by itself
        "sms_delivered": ("mean", "followups", 50, 200, 20.0, 0.99, True),
    }


def test_fresh_install_is_insufficient_and_exits_zero(cli, db):
    before = snapshot_tables(db)
    result = cli("regression", "evaluate", "--at", AT, "--json")
    assert result.exit_code == 0
    assert {r["status"] for r in result.json} == {"insufficient_data"}
    assert snapshot_tables(db) == before


def test_mean_drop_throttles_blocks_the_lever_and_release_clears_it(cli, db):
    _insert(db, "followup_completed", _drop_0_8_to_0_6())
    with db.transaction() as session:
        assert throttled_lever(session, "followups") is None
    result = cli("--actor", "cron", "regression", "evaluate", "--at", AT, "--json")
    assert result.exit_code == 1
    row = _by_metric(result)["followup_completed"]
    assert row["status"] == "throttled" and row["lever"] == "followups"
    assert row["baseline"] == pytest.approx(0.8) and row["recent"] == pytest.approx(0.6)
    assert row["drop_pct"] == pytest.approx(25.0)
    assert row["z"] == pytest.approx(2.649, abs=1e-3)
    assert "followups" in result.stderr
    # The foundation's lever reader sees the throttle.
    with db.transaction() as session:
        throttle = throttled_lever(session, "followups")
        assert throttle is not None and throttle.metric == "followup_completed"
        assert throttle.drop_pct == pytest.approx(25.0)
        assert throttle.since == datetime(2027, 3, 1, tzinfo=UTC)
        assert throttled_lever(session, "offers") is None
    state = {s["lever"]: s for s in cli("regression", "state", "--json").json}
    assert state["followups"]["throttled"] is True
    assert state["followups"]["since"] == "2027-03-01T00:00:00Z"
    assert state["followups"]["statistic"] == "mean"
    assert "fell 25.0%" in state["followups"]["reason"]
    assert state["offers"]["throttled"] is False
    # Still throttled on the next run, whatever the data: exit 1 until a human releases.
    again = cli("regression", "evaluate", "--at", "2027-03-02T00:00:00Z", "--json")
    assert again.exit_code == 1
    assert _by_metric(again)["followup_completed"]["status"] == "still_throttled"
    assert _by_metric(again)["ladder_created"]["status"] == "insufficient_data"
    released = cli("--actor", "dana", "regression", "release", "followups", "--reason",
                   "provider fixed", "--at", "2027-03-02T12:00:00Z", "--json")
    assert released.exit_code == 0 and released.json["changed"] is True
    assert released.json["state"]["throttled"] is False
    assert released.json["state"]["released_by"] == "dana"
    with db.transaction() as session:
        assert throttled_lever(session, "followups") is None
    twice = cli("regression", "release", "followups", "--reason", "again", "--json")
    assert twice.exit_code == 0 and twice.json["changed"] is False
    with db.engine.connect() as conn:
        audit = conn.exec_driver_sql(
            "SELECT action, actor, subject, reason FROM audit_event WHERE pack = 'regression' "
            "ORDER BY id").all()
    assert [(a, b, c) for a, b, c, _ in audit] == [("throttle", "cron", "followups"),
                                                    ("release", "dana", "followups")]
    assert audit[1][3] == "provider fixed"


def test_after_release_only_a_fresh_window_rethrottles(cli, db):
    last = _insert(db, "followup_completed", _drop_0_8_to_0_6())
    assert cli("regression", "evaluate", "--at", AT).exit_code == 1
    cli("regression", "release", "followups", "--reason", "known, fixed", "--at", AT)
    # Same data: the acknowledged drop does not throttle again at once.
    after = cli("regression", "evaluate", "--at", "2027-03-02T00:00:00Z", "--json")
    assert after.exit_code == 0
    row = _by_metric(after)["followup_completed"]
    assert row["status"] == "ok" and row["drop_pct"] == pytest.approx(25.0)
    # 50 more poor events after the release: the recent window is wholly new, and throttles.
    # (The baseline is now the 200 events before them: mean 0.7; the new window's is 0.4.)
    _insert(db, "followup_completed", [1.0] * 20 + [0.0] * 30,
            start=datetime(2027, 3, 1, 1, tzinfo=UTC))
    assert last < datetime(2027, 3, 1, tzinfo=UTC)
    again = cli("regression", "evaluate", "--at", "2027-03-03T00:00:00Z", "--json")
    assert again.exit_code == 1
    assert _by_metric(again)["followup_completed"]["status"] == "throttled"


def test_offers_lever_and_dry_run(cli, db):
    _insert(db, "buyer_feedback", _drop_0_8_to_0_6())
    before = snapshot_tables(db)
    dry = cli("regression", "evaluate", "--at", AT, "--dry-run", "--json")
    assert dry.exit_code == 1  # would be throttled after the run
    assert _by_metric(dry)["buyer_feedback"]["status"] == "throttled"
    assert "dry run" in dry.stderr
    assert snapshot_tables(db) == before
    assert cli("regression", "evaluate", "--at", AT).exit_code == 1
    with db.transaction() as session:
        assert throttled_lever(session, "offers") is not None
        assert throttled_lever(session, "followups") is None


def test_insignificant_drop_needs_confidence_zero(cli, db):
    _insert(db, "buyer_feedback", [1.0] * 100 + [0.0] * 100 + [1.0] * 19 + [0.0] * 31)
    result = cli("regression", "evaluate", "--at", AT, "--json")
    row = _by_metric(result)["buyer_feedback"]
    assert result.exit_code == 0 and row["status"] == "ok"
    assert row["drop_pct"] == pytest.approx(24.0) and row["z"] == pytest.approx(1.541, abs=1e-3)
    cli("regression", "policy-set", "buyer_feedback", "--confidence", "0", "--reason",
        "plain 20% rule")
    off = cli("regression", "evaluate", "--at", AT, "--json")
    assert off.exit_code == 1
    assert _by_metric(off)["buyer_feedback"]["status"] == "throttled"


def test_249_events_are_insufficient_and_change_nothing(cli, db):
    _insert(db, "followup_completed", _drop_0_8_to_0_6()[1:])
    before = snapshot_tables(db)
    result = cli("regression", "evaluate", "--at", AT, "--json")
    assert result.exit_code == 0
    row = _by_metric(result)["followup_completed"]
    assert row["status"] == "insufficient_data" and row["drop_pct"] is None
    assert snapshot_tables(db) == before
    # Events after --at do not count either.
    _insert(db, "followup_completed", [0.0], start=datetime(2027, 3, 5, tzinfo=UTC))
    later = cli("regression", "evaluate", "--at", AT, "--json")
    assert _by_metric(later)["followup_completed"]["status"] == "insufficient_data"


def test_rate_that_halves_throttles_with_drop_pct_50(cli, db):
    times, t = [], T0
    for gap in [10] * 200 + [20] * 50:
        t += timedelta(minutes=gap)
        times.append(t)
    _insert_times(db, "ladder_created", [T0, *times])
    result = cli("regression", "evaluate", "--at", AT, "--json")
    assert result.exit_code == 1
    row = _by_metric(result)["ladder_created"]
    assert row["status"] == "throttled" and row["statistic"] == "rate"
    assert row["baseline"] == pytest.approx(6.0) and row["recent"] == pytest.approx(3.0)
    assert row["drop_pct"] == pytest.approx(50.0)
    assert row["z"] is None
    state = {s["lever"]: s for s in cli("regression", "state", "--json").json}
    assert state["followups"]["metric"] == "ladder_created"
    assert state["followups"]["z"] is None


def test_runbook_regression_check(cli, db):
    def check():
        report = cli("runbook", "status", "--json").json
        return next(c for c in report["checks"] if c["name"] == "regression")

    assert check()["status"] == "ok"
    _insert(db, "buyer_feedback", _drop_0_8_to_0_6())
    cli("regression", "evaluate", "--at", AT)
    failing = check()
    assert failing["status"] == "fail" and "offers" in failing["detail"]
    assert failing["fix"].startswith("valhalla regression release offers")
    assert cli("golive", "enable", "--reason", "try").exit_code == 1
    cli("regression", "release", "offers", "--reason", "checked")
    assert check()["status"] == "ok"
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM regression_policy WHERE metric = 'ladder_created'")
    missing = check()
    assert missing["status"] == "fail" and "ladder_created" in missing["detail"]
    assert missing["fix"] == "valhalla regression policy-set ladder_created"
    restored = cli("regression", "policy-set", "ladder_created", "--json").json
    assert (restored["statistic"], restored["lever"]) == ("rate", "followups")
    assert check()["status"] == "ok"
    cli("regression", "policy-set", "ladder_created", "--disable")
    assert check()["status"] == "warn"


def test_policy_set_validates_and_audits(cli, db):
    out = cli("regression", "policy-set", "followup_completed", "--recent", "30",
              "--baseline", "120", "--max-drop-pct", "15", "--reason", "tune", "--json").json
    assert (out["recent_window"], out["baseline_window"], out["max_drop_pct"]) == (30, 120, 15.0)
    new = cli("regression", "policy-set", "deals_closed", "--lever", "offers", "--statistic",
              "mean", "--json").json
    assert new["enabled"] is True and new["confidence"] == 0.99
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'regression' "
                        "AND action IN ('policy_set', 'policy_create')") == 2


def test_bad_input_changes_nothing(cli, db):
    before = snapshot_tables(db)
    cases = [
        ("regression", "evaluate", "--at", "tomorrow"),
        ("regression", "evaluate", "--format", "xml"),
        ("regression", "release", "brakes", "--reason", "r"),
        ("regression", "release", "followups", "--reason", ""),
        ("regression", "release", "followups"),
        ("regression", "policy-set", "followup_completed", "--statistic", "median"),
        ("regression", "policy-set", "followup_completed", "--lever", "brakes"),
        ("regression", "policy-set", "followup_completed", "--recent", "1"),
        ("regression", "policy-set", "followup_completed", "--baseline", "many"),
        ("regression", "policy-set", "followup_completed", "--max-drop-pct", "0"),
        ("regression", "policy-set", "followup_completed", "--max-drop-pct", "120"),
        ("regression", "policy-set", "followup_completed", "--confidence", "1"),
        ("regression", "policy-set", "followup_completed", "--confidence", "-0.5"),
        ("regression", "policy-set", "Bad Metric", "--confidence", "0.9"),
        ("regression", "policy-set", "new_metric", "--confidence", "0.9"),
        ("regression", "state", "--format", "yaml"),
        ("regression", "policies", "--format", "yaml"),
    ]
    for args in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert snapshot_tables(db) == before


def test_end_to_end_false_alarms_match_the_pure_rule(cli, db):
    """20 stable streams through the database agree with the pure function, and stay quiet."""
    rng = random.Random(20270115)
    expected = {}
    for i in range(20):
        metric = f"stable_{i:02d}"
        p = (0.2, 0.5, 0.8)[i % 3]
        values = [1.0 if rng.random() < p else 0.0 for _ in range(250)]
        _insert(db, metric, values)
        with db.transaction(write=True) as session:
            regression.set_policy(session, metric=metric, lever="offers", statistic="mean",
                                  actor="t", at=T0)
        events = [(T0 + k * timedelta(minutes=10), v) for k, v in enumerate(values)]
        expected[metric] = window_figures(events, statistic="mean", recent_window=50,
                                          baseline_window=200, max_drop_pct=20.0,
                                          confidence=0.99)
    result = cli("regression", "evaluate", "--at", AT, "--dry-run", "--json")
    rows = _by_metric(result)
    for metric, fig in expected.items():
        assert rows[metric]["drop_pct"] == pytest.approx(fig.drop_pct, abs=0.01)
        assert rows[metric]["status"] == ("throttled" if fig.tripped else "ok")
    fired = sum(r["status"] == "throttled" for m, r in rows.items() if m.startswith("stable"))
    assert fired <= 1
