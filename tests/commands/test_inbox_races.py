"""Texts of one lead arriving at once, with real processes on both engines: one item, every
text recorded, the ladder paused once."""

import multiprocessing
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import db_count

pytestmark = pytest.mark.slow

AT = datetime(2027, 1, 15, 15, 0, tzinfo=UTC)
RUNS = 8
PHONE = "+14165550199"


def _inbound_worker(url: str, index: int, barrier, queue) -> None:
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import lead

    db = open_database(url)
    with db.transaction() as session:
        session.connection()
    barrier.wait()
    try:
        with db.transaction(write=True) as session:
            answer = lead.inbound(session, phone=PHONE,
                                  body="not interested" if index == 3 else f"reply {index}",
                                  at=AT + timedelta(seconds=index), actor=f"w{index}",
                                  business_name="Maple").action
            if db.dialect == "postgresql":
                time.sleep(0.2)
    except Exception as exc:
        answer = f"error: {type(exc).__name__}: {exc}"
    db.dispose()
    queue.put(answer)


def test_texts_arriving_together_open_one_item_and_keep_the_most_severe_kind(cli, db):
    made = cli("ladder", "create", "L-1", "--province", "ON", "--phone", PHONE, "--at",
               "2027-01-15T10:00:00-05:00")
    assert made.exit_code == 0, made.stderr
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(RUNS), ctx.Queue()
    procs = [ctx.Process(target=_inbound_worker, args=(cli.url, i, barrier, queue))
             for i in range(RUNS)]
    for p in procs:
        p.start()
    answers = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert answers == ["recorded"] * RUNS
    assert db_count(db, "SELECT COUNT(*) FROM inbox_item") == 1
    assert db_count(db, "SELECT COUNT(*) FROM inbox_item WHERE kind = 'refusal' AND "
                        "status = 'open'") == 1
    assert db_count(db, "SELECT COUNT(*) FROM inbound_message WHERE lead_id = 'L-1'") == RUNS
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE status = 'paused'") == 6
