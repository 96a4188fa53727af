"""Writes that overlap, with real processes on both engines: no run fails, waits past its
turn or comes back short because another one held a lock (SPEC 15, PostgreSQL at team scale)."""

import multiprocessing
import time
from datetime import UTC, datetime

import pytest
from conftest import db_count

pytestmark = pytest.mark.slow

AT = datetime(2027, 1, 15, 15, 0, tzinfo=UTC)  # 10:00 in Toronto
RUNS = 8


def _write_worker(url: str, kind: str, index: int, amount: str, barrier, queue) -> None:
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import heimdall, liquidity, risk

    db = open_database(url)
    with db.transaction() as session:  # connect before the race starts
        session.connection()
    barrier.wait()
    try:
        with db.transaction(write=True) as session:
            if kind == "reserve":
                outcome = risk.reserve(session, engine="acquisitions", amount=amount,
                                       ref=f"race-{index}", at=AT, actor=f"r{index}",
                                       business_timezone="America/Toronto", enforce=False)
                answer = outcome.result.status
            elif kind == "record":
                answer = heimdall.record(session, domain="lead_scoring", confidence=0.9,
                                         subject=f"lead-{index}", actor=f"r{index}", at=AT,
                                         enforce=False).decision
            else:
                answer = liquidity.record_feedback(
                    session, province="ON", market="TORONTO", buyer=f"buyer-{index}",
                    property_type=None, responded=index % 2 == 0, closed=False,
                    deal_ref=f"D-{index}", at=AT, actor=f"r{index}",
                    business_timezone="America/Toronto").created
            if db.dialect == "postgresql":  # SQLite queues on BEGIN IMMEDIATE anyway
                time.sleep(0.2)  # hold the transaction's row locks while the others arrive
    except Exception as exc:  # the point of the test: report it instead of dying
        answer = f"error: {type(exc).__name__}: {exc}"
    db.dispose()
    queue.put(answer)


def _race(db_url: str, kind: str, amount: str = "0") -> list:
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(RUNS), ctx.Queue()
    procs = [ctx.Process(target=_write_worker, args=(db_url, kind, i, amount, barrier, queue))
             for i in range(RUNS)]
    for p in procs:
        p.start()
    answers = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert not [a for a in answers if str(a).startswith("error")], answers
    return answers


@pytest.mark.parametrize(("amount", "reserved"), [("3000", 8), ("4000", 6)])
def test_overlapping_reservations_fill_the_cap_exactly(db, db_url, amount, reserved):
    # acquisitions caps the day at 25 000: 8 x 3 000 all fit, 8 x 4 000 leave room for 6.
    answers = _race(db_url, "reserve", amount)
    assert sorted(answers) == sorted(["reserved"] * reserved + ["denied"] * (RUNS - reserved))
    cents = int(amount) * 100 * reserved
    assert db_count(db, "SELECT reserved_cents FROM risk_ledger WHERE engine = 'acquisitions'") \
        == cents
    assert db_count(db, "SELECT reserved_cents FROM risk_ledger WHERE engine = 'GLOBAL'") \
        == cents
    assert db_count(db, "SELECT COUNT(*) FROM risk_reservation WHERE status = 'open'") \
        == reserved


def test_overlapping_heimdall_records_all_land(db, db_url):
    answers = _race(db_url, "record")
    assert len(answers) == RUNS
    assert db_count(db, "SELECT COUNT(*) FROM heimdall_recommendation") == RUNS


def test_overlapping_feedback_on_one_node_counts_every_event(db, db_url):
    answers = _race(db_url, "feedback")
    assert answers == [True] * RUNS
    assert db_count(db, "SELECT COUNT(*) FROM buyer_feedback_event") == RUNS
    assert db_count(db, "SELECT SUM(sent) FROM buyer_liquidity_node") == RUNS
    assert db_count(db, "SELECT SUM(responded) FROM buyer_liquidity_node") == RUNS // 2
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'buyer_feedback'") == RUNS
