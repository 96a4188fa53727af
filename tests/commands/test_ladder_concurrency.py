"""Exactly-once hand-out with real processes, on SQLite and PostgreSQL."""

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import REPO, db_count, run_valhalla, run_workers

pytestmark = pytest.mark.slow

START = datetime(2027, 1, 18, 15, 0, tzinfo=UTC)  # Monday 10:00 in Toronto


def _config():
    from valhalla_cli.services.ladder import ladder_config
    from valhalla_cli.settings import LadderSettings

    return ladder_config(LadderSettings())


def _identity():
    from valhalla_cli.services.template import Identification

    return Identification("Maple Home Buyers", "+14165550100")


def _seed_ladders(db, count: int) -> None:
    from valhalla_cli.services.ladder import CreateRequest, create_many

    with db.transaction(write=True) as session:
        # a number and express consent each: the SPEC 17 rules let every task go out
        requests = [CreateRequest(lead_id=f"lead-{n:05d}", province="ON",
                                  phone=f"+1416555{n:04d}", consent="express")
                    for n in range(count)]
        outcomes = create_many(session, requests, config=_config(), at=START, actor="seed",
                               business_timezone="America/Toronto")
        assert all(o.created for o in outcomes)


def _dispatch_worker(url: str, name: str, barrier, queue) -> None:
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import ladder

    db = open_database(url)
    config = _config()
    with db.transaction() as session:  # connect and warm up before the race starts
        ladder.due(session, at=START + timedelta(minutes=1), limit=40, config=config,
                   business_timezone="America/Toronto")
    # SQLite has no queue for its write lock: a waiter's busy handler sleeps up to 100 ms
    # between tries, so a run that took the lock again 5 ms later could win every batch.
    pause = 0.1 if db.dialect == "sqlite" else 0.005
    barrier.wait()
    taken: list[int] = []
    while True:
        with db.transaction(write=True) as session:
            result = ladder.dispatch(session, at=START + timedelta(minutes=1), limit=40,
                                     lease=timedelta(minutes=15), worker=name, config=config,
                                     dry_run=False, enforce=False, actor=name,
                                     business_timezone="America/Toronto",
                                     identification=_identity())
        if not result.tasks:
            break
        taken.extend(t.task_id for t in result.tasks)
        time.sleep(pause)  # hand the batch to the sender, as a real run would, outside the lock
    db.dispose()
    queue.put((name, taken))


def test_four_overlapping_dispatchers_hand_out_each_of_1000_tasks_exactly_once(db, db_url):
    _seed_ladders(db, 1000)
    results = run_workers(_dispatch_worker, [(db_url, f"w{i}") for i in range(4)])
    handed = [task for _, taken in results for task in taken]
    assert len(handed) == 1000
    assert len(set(handed)) == 1000
    assert sum(1 for _, taken in results if taken) >= 2  # the runs really overlapped
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE status = 'claimed' "
                        "AND attempt = 1 AND step = 1") == 1000
    assert db_count(db, "SELECT COUNT(DISTINCT claim_token) FROM followup_task "
                        "WHERE status = 'claimed'") == 1000


def _one_run_worker(url: str, name: str, limit: int, barrier, queue) -> None:
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import ladder

    db = open_database(url)
    config = _config()
    with db.transaction() as session:
        # Warm up before the race (lazy imports, holiday calendars, zone data): on SQLite the
        # runs queue on BEGIN IMMEDIATE, and eight cold starts in a row on a loaded machine
        # outlast the busy timeout.
        ladder.due(session, at=START + timedelta(minutes=1), limit=limit, config=config,
                   business_timezone="America/Toronto")
    barrier.wait()
    with db.transaction(write=True) as session:
        result = ladder.dispatch(session, at=START + timedelta(minutes=1), limit=limit,
                                 lease=timedelta(minutes=15), worker=name, config=config,
                                 dry_run=False, enforce=False, actor=name,
                                 business_timezone="America/Toronto",
                                 identification=_identity())
        if db.dialect == "postgresql":
            # Still inside the claim transaction, as a run on a slow link to the database would
            # be: every other run starts while this one holds its row locks. (SQLite runs queue
            # on BEGIN IMMEDIATE anyway; holding there would only test the busy timeout.)
            time.sleep(0.3)
    db.dispose()
    queue.put((name, [t.task_id for t in result.tasks]))


@pytest.mark.parametrize(("runs", "limit"), [(4, 120), (8, 50)])
def test_overlapping_single_dispatch_runs_never_come_back_short(db, db_url, runs, limit):
    """Runs started together hand out min(sum of limits, due) tasks between them, each once."""
    _seed_ladders(db, 300)
    results = run_workers(_one_run_worker, [(db_url, f"r{i}", limit) for i in range(runs)])
    handed = [task for _, taken in results for task in taken]
    assert len(handed) == 300, sorted(len(taken) for _, taken in results)
    assert len(set(handed)) == 300
    assert all(len(taken) <= limit for _, taken in results)
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE status = 'claimed' "
                        "AND attempt = 1 AND step = 1") == 300
    assert db_count(db, "SELECT COUNT(DISTINCT claim_token) FROM followup_task "
                        "WHERE status = 'claimed'") == 300
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE status = 'pending' "
                        "AND ready AND step = 1") == 0


def _create_worker(url: str, barrier, queue) -> None:
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import ladder

    db = open_database(url)
    barrier.wait()
    with db.transaction(write=True) as session:
        result = ladder.create(session, lead_id="lead-race", province="ON", market=None,
                               owner=None, lead_score=None, at=START, actor="racer",
                               config=_config(), business_timezone="America/Toronto",
                               phone="+14165550100")
    db.dispose()
    queue.put((result.ladder_id, result.created))


def test_concurrent_creates_make_one_ladder_per_lead(db, db_url):
    results = run_workers(_create_worker, [(db_url,)] * 6, check_exit=False)
    assert len({ladder_id for ladder_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 5 + [True]
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE lead_id = 'lead-race'") == 6


KILLED_WORKER = """
import sys, time
from datetime import datetime, timedelta, timezone
from valhalla_cli.bootstrap import open_database
from valhalla_cli.services import ladder
from valhalla_cli.services.ladder import ladder_config
from valhalla_cli.services.template import Identification
from valhalla_cli.settings import LadderSettings

db = open_database(sys.argv[1])
at = datetime.fromisoformat(sys.argv[2])
commit = sys.argv[3] == "commit"
session_cm = db.transaction(write=True)
session = session_cm.__enter__()
result = ladder.dispatch(session, at=at, limit=100, lease=timedelta(minutes=15), worker="doomed",
                         config=ladder_config(LadderSettings()), dry_run=False, enforce=False,
                         actor="doomed", business_timezone="America/Toronto",
                         identification=Identification("Maple", "+14165550100"))
if commit:
    session_cm.__exit__(None, None, None)
print(len(result.tasks), flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("phase", ["after_commit", "before_commit"])
def test_dispatch_killed_with_sigkill_loses_no_task(db, db_url, phase):
    _seed_ladders(db, 5)
    at = START + timedelta(minutes=1)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER, db_url, at.isoformat(),
         "commit" if phase == "after_commit" else "hold"],
        stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ})
    try:
        assert proc.stdout.readline().strip() == "5"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    env = {"VALHALLA_GOLIVE_ENFORCE": "0", "VALHALLA_BUSINESS_NAME": "Maple",
           "VALHALLA_BUSINESS_CALLBACK": "+14165550100"}
    args = ("ladder", "dispatch", "--format", "jsonl", "--limit", "100")
    if phase == "before_commit":
        # The claim never committed: the tasks are still pending, first attempt.
        again = run_valhalla(*args, "--at", at.isoformat(), db_url=db_url, env=env)
        assert sorted(c["attempt"] for c in _lines(again.stdout)) == [1] * 5
        return
    soon = run_valhalla(*args, "--at", (at + timedelta(minutes=5)).isoformat(), db_url=db_url,
                        env=env)
    assert soon.exit_code == 0 and soon.stdout == ""  # leases still held by the dead run
    later = run_valhalla(*args, "--at", (at + timedelta(minutes=16)).isoformat(),
                         db_url=db_url, env=env)
    claims = _lines(later.stdout)
    assert len(claims) == 5 and {c["attempt"] for c in claims} == {2}
    assert len({c["task_id"] for c in claims}) == 5


def _lines(text: str) -> list[dict]:
    import json

    return [json.loads(line) for line in text.splitlines() if line.strip()]
