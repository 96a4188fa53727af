"""Corrections by hand under overlap, with real processes on both engines: a release racing the
worker's completion, and the same amendment sent several times, each take effect once."""

import multiprocessing
import time
from datetime import UTC, datetime

import pytest
from conftest import db_count

pytestmark = pytest.mark.slow

AT = datetime(2027, 1, 15, 15, 0, tzinfo=UTC)  # 10:00 in Toronto
RUNS = 6


def _worker(url: str, kind: str, index: int, task_id: int, token: str, barrier, queue) -> None:
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import ladder
    from valhalla_cli.settings import resolve_settings

    db = open_database(url)
    config = ladder.ladder_config(resolve_settings(db=url).ladder)
    with db.transaction() as session:  # connect before the race starts
        session.connection()
    barrier.wait()
    try:
        with db.transaction(write=True) as session:
            if kind == "amend":
                result = ladder.amend(session, task_id=task_id, outcome="contacted",
                                      reason=f"run {index}", at=AT, actor=f"r{index}")
                answer = "amended" if result.amended else (result.reason or "no-op")
            elif index % 2 == 0:
                released = ladder.release(session, task_id=task_id, reason=f"run {index}",
                                          at=AT, actor=f"r{index}")
                answer = "released" if released.released else (released.reason or "no-op")
            else:
                done = ladder.complete(session, task_id=task_id, outcome="sent",
                                       claim_token=token, note=None, at=AT,
                                       actor=f"r{index}", config=config)
                answer = "completed" if done.reason is None else done.reason
            if db.dialect == "postgresql":
                time.sleep(0.2)  # hold the row lock while the others arrive
    except Exception as exc:  # reported, not died of
        answer = f"error: {type(exc).__name__}: {exc}"
    db.dispose()
    queue.put(answer)


def _race(db_url: str, kind: str, task_id: int, token: str = "") -> list:
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(RUNS), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(db_url, kind, i, task_id, token, barrier, queue))
             for i in range(RUNS)]
    for p in procs:
        p.start()
    answers = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return answers


def _claimed(cli):
    assert cli("ladder", "create", "L-1", "--province", "ON", "--phone", "+14165550101",
               "--consent", "express", "--at", "2027-01-15T10:00").exit_code == 0
    assert cli("golive", "enable", "--reason", "race", "--at", "2027-01-15T10:00").exit_code == 0
    claims = cli("ladder", "dispatch", "--at", "2027-01-15T10:00", "--format", "jsonl").jsonl
    return claims[0]


def test_item5_release_racing_the_workers_completion_takes_effect_once(cli, db, monkeypatch):
    monkeypatch.setenv("VALHALLA_BUSINESS_NAME", "Maple Home Buyers")
    monkeypatch.setenv("VALHALLA_BUSINESS_CALLBACK", "+14165550100")
    claim = _claimed(cli)
    answers = _race(cli.url, "release", claim["task_id"], claim["claim_token"])
    assert not [a for a in answers if a.startswith("error")], answers
    released, completed = answers.count("released"), answers.count("completed")
    assert released + completed == 1, answers  # the first one wins; the rest see its result
    status = "pending" if released else "done"
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE id = :t AND status = :s",
                    t=claim["task_id"], s=status) == 1
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE action = 'release'") == released
    if released:  # the stale token cannot complete the released task, and nothing was sent
        assert set(answers) - {"released"} <= {"no-op", "lease_lost"}
        assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE outcome IS NOT NULL") == 0


def test_item6_the_same_amendment_sent_many_times_is_applied_once(cli, db, monkeypatch):
    monkeypatch.setenv("VALHALLA_BUSINESS_NAME", "Maple Home Buyers")
    monkeypatch.setenv("VALHALLA_BUSINESS_CALLBACK", "+14165550100")
    claim = _claimed(cli)
    assert cli("ladder", "complete", str(claim["task_id"]), "--outcome", "voicemail",
               "--at", "2027-01-15T10:01").exit_code == 0
    answers = _race(cli.url, "amend", claim["task_id"])
    assert sorted(answers) == ["amended"] + ["no-op"] * (RUNS - 1), answers
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE action = 'amend'") == 1
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE status = 'cancelled'") == 5
