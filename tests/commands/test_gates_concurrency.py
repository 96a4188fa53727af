"""Overlapping cron runs and operators, with real processes: one throttle, one outcome."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from conftest import REPO, db_count

from valhalla_cli.services import heimdall, kpi

pytestmark = pytest.mark.slow


def _spawn(db_url, *args):
    return subprocess.Popen([sys.executable, "-m", "valhalla_cli", "--db", db_url, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def test_overlapping_evaluations_throttle_once(db_url, db):
    t0 = datetime(2027, 1, 1, tzinfo=UTC)
    values = [1.0] * 160 + [0.0] * 40 + [1.0] * 30 + [0.0] * 20
    with db.transaction(write=True) as session:
        kpi.insert_many(session, [{"metric": "followup_completed", "value": v,
                                   "occurred_at": t0 + i * timedelta(minutes=5)}
                                  for i, v in enumerate(values)])
    procs = [_spawn(db_url, "regression", "evaluate", "--at", "2027-02-01T00:00:00Z")
             for _ in range(4)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert all(code == 1 for code, _ in results), results
    assert all("Traceback" not in err for _, err in results)
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'regression' "
                        "AND action = 'throttle'") == 1
    assert db_count(db, "SELECT COUNT(*) FROM regression_state WHERE throttled") == 1


def test_racing_outcomes_record_exactly_one(db_url, db):
    at = datetime(2027, 1, 15, 15, tzinfo=UTC)
    with db.transaction(write=True) as session:
        rec = heimdall.record(session, domain="lead_scoring", confidence=0.9, subject="x",
                              actor="m", at=at, enforce=True).recommendation_id
    flags = ["--success", "--failure"] * 2
    procs = [_spawn(db_url, "heimdall", "outcome", str(rec), flag, "--at", "2027-01-16")
             for flag in flags]
    codes = [p.wait(timeout=120) for p in procs]
    assert all("Traceback" not in p.stderr.read() for p in procs)
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE action = 'outcome'") == 1
    assert db_count(db, "SELECT SUM(samples) FROM heimdall_scorecard") == 1
    winner = "--success" if db_count(
        db, "SELECT COUNT(*) FROM heimdall_recommendation WHERE outcome = 'success'") else \
        "--failure"
    # The winner and its twin exit 0; the two with the other outcome are told "no" (exit 1).
    assert sorted(codes) == [0, 0, 1, 1]
    assert all(code == 0 for code, flag in zip(codes, flags, strict=True) if flag == winner)
