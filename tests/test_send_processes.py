"""`valhalla send` as real processes against the Twilio double (both engines): overlapping runs,
the kill switch engaged during a run, and `kill -9` at random points followed by reconcile —
never more than one accepted text per task attempt."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import REPO, db_count, run_valhalla
from twilio_double import TwilioDouble

# Real `valhalla send` processes racing, engaged and killed: tens of seconds a test.
pytestmark = pytest.mark.slow

AT = "2027-01-15T10:00:00-05:00"
LATER = "2027-01-15T10:01:00-05:00"
ENV = {"VALHALLA_BUSINESS_NAME": "Maple Home Buyers",
       "VALHALLA_BUSINESS_CALLBACK": "+14165550100"}


def phone(i: int) -> str:
    return f"+1416555{i:04d}"


@pytest.fixture
def double():
    with TwilioDouble() as running:
        running.now = lambda: datetime(2027, 1, 15, 15, 1, tzinfo=UTC)
        yield running


def _texts_due(db_url: str, tmp_path: Path, count: int) -> None:
    rows = ["lead_id,province,phone,consent,consent_at,start_at"]
    rows += [f"L-{i},ON,{phone(i)},express,2027-01-01T09:00,{AT}" for i in range(count)]
    (tmp_path / "ladders.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for args in (("golive", "enable", "--reason", "t"),
                 ("ladder", "import", str(tmp_path / "ladders.csv"), "--at", AT)):
        result = run_valhalla(*args, db_url=db_url, env=ENV)
        assert result.exit_code == 0, result.stderr
    assert db_count_url(db_url, "SELECT COUNT(*) FROM followup_task WHERE step = 1") == count


def db_count_url(db_url: str, sql: str) -> int:
    from valhalla_cli.bootstrap import open_database

    db = open_database(db_url)
    try:
        return db_count(db, sql)
    finally:
        db.dispose()


def _config(tmp_path: Path, double: TwilioDouble, per_second: float) -> Path:
    path = tmp_path / f"send-{per_second}.toml"
    path.write_text(double.config(max_per_second=per_second), encoding="utf-8")
    return path


def _start(db_url: str, config: Path, *args: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "valhalla_cli", "--config", str(config), "--db", db_url,
            "send", *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, **ENV})


def test_four_overlapping_runs_over_40_due_texts_send_40_requests_one_per_task(
        db_url, tmp_path, double):
    _texts_due(db_url, tmp_path, 40)
    config = _config(tmp_path, double, 1000)
    runs = [_start(db_url, config, "--at", LATER, "--worker", f"w{i}") for i in range(4)]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (_out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
        assert "Traceback" not in err
    assert len(double.creates()) == 40
    assert sorted(double.per_number()) == sorted(phone(i) for i in range(40))
    assert set(double.per_number().values()) == {1}
    assert db_count_url(db_url, "SELECT COUNT(*) FROM followup_task WHERE step = 1 AND "
                        "status = 'done'") == 40
    assert db_count_url(db_url, "SELECT COUNT(*) FROM outbound_message WHERE "
                        "state = 'accepted'") == 40
    lines = [line for out, _ in outputs for line in out.splitlines() if line.strip()]
    assert len(lines) == 40


def test_the_kill_switch_engaged_during_a_run_of_20_stops_every_request_after_it(
        db_url, tmp_path, double):
    _texts_due(db_url, tmp_path, 20)
    run = _start(db_url, _config(tmp_path, double, 4), "--at", LATER)
    deadline = time.monotonic() + 120
    while len(double.creates()) < 3:
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    engaged = run_valhalla("golive", "kill-switch", "engage", "--reason", "test",
                           db_url=db_url)
    engaged_at = time.time()  # the switch was committed before the command returned
    assert engaged.exit_code == 0, engaged.stderr
    _out, err = run.communicate(timeout=120)
    assert run.returncode == 1, err
    assert "kill" in err
    sent = double.creates()
    assert 3 <= len(sent) < 20
    assert all(request.at < engaged_at for request in sent)
    done = db_count_url(db_url, "SELECT COUNT(*) FROM followup_task WHERE step = 1 AND "
                        "status = 'done'")
    assert done == len(sent)
    # the unsent claims went back, their attempt not counted
    assert db_count_url(db_url, "SELECT COUNT(*) FROM followup_task WHERE step = 1 AND "
                        "status = 'pending' AND attempt = 0") == 20 - done


def test_kill_9_at_random_points_then_reconcile_never_sends_a_task_attempt_twice(
        db_url, tmp_path, double):
    seed = int(os.environ.get("VALHALLA_TEST_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    count = 12
    _texts_due(db_url, tmp_path, count)
    config = _config(tmp_path, double, 15)
    for round_ in range(3):
        run = _start(db_url, config, "--at", LATER, "--worker", f"killed-{round_}")
        time.sleep(rng.uniform(0.3, 2.5))
        run.send_signal(signal.SIGKILL)
        run.communicate(timeout=60)
    # the survivors: a normal run, reconcile once the lost answers are old enough, and a run
    # after the killed runs' leases (15 min) expired
    for args in (("send", "--at", LATER),
                 ("send", "reconcile", "--at", "2027-01-15T10:12:00-05:00"),
                 ("send", "--at", "2027-01-15T10:17:00-05:00"),
                 ("send", "reconcile", "--at", "2027-01-15T10:30:00-05:00"),
                 ("send", "--at", "2027-01-15T10:31:00-05:00")):
        result = run_valhalla("--config", str(config), *args, db_url=db_url, env=ENV)
        assert result.exit_code == 0, (seed, args, result.stderr)
    per_number = double.per_number()
    assert set(per_number.values()) == {1}, (seed, per_number)
    assert sorted(per_number) == sorted(phone(i) for i in range(count)), seed
    assert db_count_url(db_url, "SELECT COUNT(*) FROM followup_task WHERE step = 1 AND "
                        "status = 'done'") == count, seed
    assert db_count_url(db_url, "SELECT COUNT(*) FROM outbound_message WHERE "
                        "state = 'sending'") == 0, seed
    # one accepted message per task, carrying the double's sid
    assert db_count_url(db_url, "SELECT COUNT(*) FROM outbound_message WHERE state = "
                        "'accepted'") == count, seed
