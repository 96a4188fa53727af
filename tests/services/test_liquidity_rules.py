"""Liquidity rules: the score and bands on hand-computed cases, the 90-day window edge, the
business date, and atomic node upserts under concurrent writers (real processes)."""

import multiprocessing
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest
from conftest import db_count

from valhalla_cli.errors import BadInput
from valhalla_cli.services import liquidity

TZ = "America/Toronto"


# score = 50 x min(1, rr / 0.60) + 50 x min(1, cr / 0.25), rounded half up
@pytest.mark.parametrize(
    ("sent", "responded", "closed", "score", "band"),
    [
        (9, 9, 9, None, "unknown"),  # fewer than 10 events: no score
        (0, 0, 0, None, "unknown"),
        (10, 6, 0, 50, "warm"),  # 50 + 0
        (10, 0, 0, 0, "cold"),
        (10, 10, 5, 100, "hot"),  # both targets exceeded: each half capped at 50
        (20, 6, 2, 45, "cold"),  # rr 0.30 -> 25; cr 0.10 -> 20
        (16, 6, 2, 56, "warm"),  # rr 0.375 -> 31.25; cr 0.125 -> 25; 56.25 -> 56
        (40, 15, 5, 56, "warm"),  # the same rates
        (12, 9, 1, 67, "warm"),  # rr 0.75 -> 50 (capped); cr 1/12 -> 16.67; 66.67 -> 67
        (10, 3, 2, 65, "warm"),  # 25 + 40
        (10, 6, 2, 90, "hot"),  # 50 + 40
        (10, 5, 1, 62, "warm"),  # 41.67 + 20 = 61.67 -> 62
        (15, 6, 1, 47, "cold"),  # 33.33 + 13.33 = 46.67 -> 47
        (10, 4, 1, 53, "warm"),  # 33.33 + 20 = 53.33 -> 53
    ],
)
def test_score_on_hand_computed_cases(sent, responded, closed, score, band):
    assert liquidity.score_of(sent, responded, closed) == (score, band)


def test_half_rounds_up_exactly_and_band_edges():
    assert liquidity.score_of(40, 18, 5) == (63, "warm")  # 37.5 + 25 = 62.5 -> 63
    assert liquidity.score_of(50, 18, 13) == (80, "hot")  # 30 + 50 = 80: hot at 80
    assert liquidity.score_of(1000, 354, 300) == (80, "hot")  # 29.5 + 50 = 79.5 -> 80
    assert liquidity.score_of(1000, 352, 300) == (79, "warm")  # 29.33 + 50 -> 79
    # 0.594 / 0.60 = 0.99 exactly: 49.5 -> 50 (exact rationals, no binary fractions).
    assert liquidity.score_of(1000, 594, 0) == (50, "warm")
    assert liquidity.score_of(1000, 592, 0) == (49, "cold")  # 49.33 -> 49
    assert liquidity.round_half_up(Fraction(125, 2)) == 63
    assert liquidity.round_half_up(Fraction(124, 2)) == 62


def test_window_is_90_business_dates_ending_with_the_date_of_at():
    at = datetime(2027, 1, 15, 4, 30, tzinfo=UTC)  # 2027-01-14 23:30 in Toronto
    first, last = liquidity.window_of(at, TZ)
    assert last == date(2027, 1, 14)
    assert first == date(2026, 10, 17)
    assert (last - first).days == 89


def _feedback(session, *, at, responded=True, closed=False, market="TORONTO", buyer="b",
              ref=None, ptype=None):
    return liquidity.record_feedback(
        session, province="ON", market=market, buyer=buyer, property_type=ptype,
        responded=responded, closed=closed, deal_ref=ref, at=at, actor="t",
        business_timezone=TZ)


def test_window_edge_and_unknown_band(db):
    at = datetime(2027, 1, 15, 17, 0, tzinfo=UTC)  # business date 2027-01-15
    first_day = date(2027, 1, 15) - timedelta(days=89)  # 2026-10-18
    noon = timedelta(hours=17)  # 12:00 in Toronto (EDT/EST both fine for a noon instant)
    with db.transaction(write=True) as session:
        # 9 events inside the window (one on its first day), one the day before it.
        _feedback(session, at=datetime.combine(first_day, datetime.min.time(), UTC) + noon,
                  closed=True)
        for i in range(8):
            _feedback(session, at=at - timedelta(days=i), responded=i % 2 == 0)
        _feedback(session, at=datetime.combine(first_day - timedelta(days=1),
                                               datetime.min.time(), UTC) + noon)
    with db.transaction() as session:
        view = liquidity.score(session, province="ON", market="TORONTO", property_type="SFR",
                               at=at, business_timezone=TZ)
    assert (view.sent, view.responded, view.closed) == (9, 5, 1)
    assert (view.score, view.band) == (None, "unknown")
    with db.transaction(write=True) as session:
        _feedback(session, at=at)  # the 10th in the window
    with db.transaction() as session:
        view = liquidity.score(session, province="ON", market="TORONTO", property_type="SFR",
                               at=at, business_timezone=TZ)
        # One day later the first-day event leaves the window.
        later = liquidity.score(session, province="ON", market="TORONTO", property_type="SFR",
                                at=at + timedelta(days=1), business_timezone=TZ)
    # 10 sent, 6 responded, 1 closed: rr 0.6 -> 50; cr 0.1 -> 20: 70 warm
    assert (view.sent, view.responded, view.closed, view.score, view.band) == (10, 6, 1, 70,
                                                                              "warm")
    assert (later.sent, later.score, later.band) == (9, None, "unknown")
    assert db_count(db, "SELECT COUNT(*) FROM buyer_feedback_event") == 11
    assert db_count(db, "SELECT SUM(sent) FROM buyer_liquidity_node") == 11
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'buyer_feedback'") == 11
    assert db_count(db, "SELECT SUM(value) FROM kpi_event WHERE metric = 'buyer_feedback'") == 7


def test_business_date_is_local(db):
    late = datetime(2027, 1, 15, 4, 30, tzinfo=UTC)  # 23:30 on the 14th in Toronto
    with db.transaction(write=True) as session:
        result = _feedback(session, at=late)
    assert result.business_date == date(2027, 1, 14)
    assert db_count(db, "SELECT COUNT(*) FROM buyer_liquidity_node WHERE business_date = "
                        "'2027-01-14'") == 1


def test_closed_without_response_is_bad_input():
    from valhalla_cli.services.liquidity.feedback import _check_outcome

    with pytest.raises(BadInput, match="--closed"):
        _check_outcome(False, True)
    with pytest.raises(BadInput, match="--responded"):
        _check_outcome(None, False)


_start_together = None  # a barrier, set in each pool process


def _share_barrier(barrier) -> None:
    global _start_together
    _start_together = barrier


def _writers(db_url: str, count: int, *, new_node_each_time: bool) -> None:
    """4 processes, connected and warmed up, start writing at the same moment."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4, initializer=_share_barrier, initargs=(ctx.Barrier(4),)) as pool:
        pool.map(_worker, [(db_url, w, count, new_node_each_time) for w in range(4)])


def _worker(args):
    url, worker, count, new_node_each_time = args
    from valhalla_cli.bootstrap import open_database

    db = open_database(url)
    with db.transaction() as session:
        liquidity.score(session, province="ON", market="TORONTO", property_type="SFR",
                        at=datetime(2027, 1, 15, tzinfo=UTC), business_timezone=TZ)
    _start_together.wait(timeout=60)
    first = datetime(2027, 1, 15, 17, 0, tzinfo=UTC)
    for i in range(count):
        at = first + timedelta(days=i) if new_node_each_time else first
        with db.transaction(write=True) as session:
            liquidity.record_feedback(
                session, province="ON", market="TORONTO", buyer=f"w{worker}-{i}",
                property_type="SFR", responded=i % 2 == 0, closed=i % 4 == 0,
                deal_ref=f"D-{i}", at=at, actor="t", business_timezone=TZ)
    db.dispose()


def test_concurrent_feedback_keeps_nodes_exact(db_url, db):
    """4 processes x 25 events on one node-day: the upsert never loses an increment."""
    _writers(db_url, 25, new_node_each_time=False)
    assert db_count(db, "SELECT sent FROM buyer_liquidity_node") == 100
    assert db_count(db, "SELECT responded FROM buyer_liquidity_node") == 52
    assert db_count(db, "SELECT closed FROM buyer_liquidity_node") == 28
    assert db_count(db, "SELECT COUNT(*) FROM buyer_feedback_event") == 100


def test_concurrent_writers_creating_the_same_nodes_add_up(db_url, db):
    """4 processes each open the same 150 node-days in the same order: every node-day is
    created by whichever writer comes first and incremented by the others, never refused."""
    _writers(db_url, 150, new_node_each_time=True)
    assert db_count(db, "SELECT COUNT(*) FROM buyer_liquidity_node") == 150
    assert db_count(db, "SELECT COUNT(*) FROM buyer_liquidity_node WHERE sent = 4") == 150
    assert db_count(db, "SELECT SUM(responded) FROM buyer_liquidity_node") == 300
    assert db_count(db, "SELECT SUM(closed) FROM buyer_liquidity_node") == 152


def test_the_node_key_is_the_upserts_only_unique_key(db):
    """PostgreSQL's ON CONFLICT arbitrates on one unique index: a second one on the table
    turns two writers creating the same node into a unique violation."""
    from sqlalchemy import inspect

    inspector = inspect(db.engine)
    keys = [inspector.get_pk_constraint("buyer_liquidity_node")["constrained_columns"]]
    keys += [u["column_names"] for u in inspector.get_unique_constraints("buyer_liquidity_node")]
    keys += [i["column_names"] for i in inspector.get_indexes("buyer_liquidity_node")
             if i["unique"]]
    assert keys == [["province", "market_key", "property_type", "business_date"]]
