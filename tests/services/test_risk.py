"""Risk guard rules: exact arithmetic, engine and GLOBAL caps, breaches, go-live, idempotency,
and real-process concurrency against one database (SQLite file and PostgreSQL)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from conftest import db_count, run_workers, settings_for

from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.inputs import parse_money_cents
from valhalla_cli.services import golive, golive_gate, risk

TZ = "America/Toronto"
AT = datetime(2027, 1, 15, 15, 0, tzinfo=UTC)  # 10:00 in Toronto
DAY = date(2027, 1, 15)


def _go_live(db, *, at: datetime = AT) -> None:
    with db.transaction(write=True) as session:
        golive_gate.enable(session, actor="ops", at=at, reason="test",
                           settings=settings_for(db.url))


def _reserve(db, engine: str, amount: str, ref: str, *, at: datetime = AT, enforce: bool = True):
    with db.transaction(write=True) as session:
        return risk.reserve(session, engine=engine, amount=amount, ref=ref, at=at, actor="t",
                            business_timezone=TZ, enforce=enforce)


def _settle(db, ref: str, pnl: str, *, at: datetime = AT):
    with db.transaction(write=True) as session:
        return risk.settle(session, ref=ref, pnl=pnl, at=at, actor="t", business_timezone=TZ)


def _release(db, ref: str, *, at: datetime = AT):
    with db.transaction(write=True) as session:
        return risk.release(session, ref=ref, at=at, actor="t", business_timezone=TZ)


def _snapshot(db, day: date = DAY) -> risk.Snapshot:
    with db.transaction() as session:
        return risk.snapshot(session, day=day)


def _engine(snap: risk.Snapshot, name: str) -> risk.EngineSnapshot:
    return next(e for e in snap.engines if e.engine == name)


def _policy_set(db, engine: str, cap: str | None, enabled: bool | None = None):
    with db.transaction(write=True) as session:
        return risk.policy_set(session, engine=engine, daily_cap=cap, enabled=enabled, at=AT,
                               actor="ops", business_timezone=TZ)


def _settings(db_url: str):
    from valhalla_cli.settings import resolve_settings

    return resolve_settings(db=db_url)


def _runbook(db, db_url: str, at: datetime = AT):
    with db.transaction() as session:
        return risk.runbook_check(session, _settings(db_url), at)


# ----------------------------------------------------------------------------------- pure rules

def test_engine_names_are_normalised_and_validated():
    assert risk.normalize_engine(" Acquisitions ") == "acquisitions"
    assert risk.normalize_engine("global") == "GLOBAL"
    for bad in ("", "9lives", "has space", "x" * 41, "semi;colon"):
        with pytest.raises(BadInput):
            risk.normalize_engine(bad)


def test_amounts_are_exact_cents_and_malformed_amounts_are_bad_input():
    assert parse_money_cents("0.10", field="a") == 10
    assert parse_money_cents("25000", field="a") == 2_500_000
    assert parse_money_cents("-500.25", field="p", allow_negative=True, allow_zero=True) == -50025
    for bad in ("-1", "0", "abc", "1.005", "NaN", "inf", "", "1e12"):
        with pytest.raises(BadInput):
            parse_money_cents(bad, field="a", allow_zero=False)


def test_headroom_and_utilization():
    assert risk.headroom_cents(100, 30) == 70
    assert risk.headroom_cents(100, 130) == 0
    assert risk.utilization_pct(2_500_000, 625_000) == 25.0
    assert risk.utilization_pct(0, 10) is None


# ----------------------------------------------------------------------------------- reserve

def test_reservations_add_up_exactly_in_cents(db):
    _go_live(db)
    for i, amount in enumerate(["0.10", "0.20", "1234.56", "0.01"]):
        assert _reserve(db, "marketing", amount, f"m{i}").result.status == "reserved"
    snap = _snapshot(db)
    marketing = _engine(snap, "marketing")
    assert marketing.reserved == Decimal("1234.87")
    assert marketing.exposure == Decimal("1234.87")
    assert marketing.headroom == Decimal("13765.13")
    assert marketing.utilization_pct == pytest.approx(8.23, abs=0.01)
    assert _engine(snap, "GLOBAL").reserved == Decimal("1234.87")
    assert db_count(db, "SELECT reserved_cents FROM risk_ledger WHERE engine='GLOBAL'") == 123487


def test_engine_cap_binds_at_exactly_the_cap(db):
    _go_live(db)
    first = _reserve(db, "dispositions", "9999.99", "d1").result
    assert (first.status, first.engine_headroom, first.global_headroom) == (
        "reserved", Decimal("0.01"), Decimal("40000.01"))
    over = _reserve(db, "dispositions", "0.02", "d2")
    assert over.result.status == "denied"
    assert over.result.reason == "cap_exceeded" and over.result.binding_cap == "dispositions"
    assert over.result.reservation_id is None
    assert "dispositions" in over.message and "10000.00" in over.message
    assert _reserve(db, "dispositions", "0.01", "d3").result.status == "reserved"
    assert _engine(_snapshot(db), "dispositions").headroom == Decimal("0.00")
    # a denial stores no reservation, records the binding cap, and leaves the ledger alone
    assert db_count(db, "SELECT COUNT(*) FROM risk_reservation WHERE ref = 'd2'") == 0
    assert db_count(db, "SELECT COUNT(*) FROM risk_event WHERE kind = 'deny' "
                        "AND binding_cap = 'dispositions' AND ref = 'd2'") == 1
    assert db_count(db, "SELECT reserved_cents FROM risk_ledger WHERE engine = 'dispositions'") \
        == 1_000_000


def test_global_cap_binds_and_the_engine_increment_is_rolled_back(db):
    _go_live(db)
    _policy_set(db, "legal", "5000")
    assert _reserve(db, "acquisitions", "25000", "a").result.status == "reserved"
    assert _reserve(db, "marketing", "15000", "m").result.status == "reserved"
    assert _reserve(db, "dispositions", "9000", "d").result.status == "reserved"
    denied = _reserve(db, "legal", "1000.01", "l1")
    assert denied.result.status == "denied"
    assert denied.result.binding_cap == "GLOBAL"
    assert denied.result.engine_headroom == Decimal("5000.00")
    assert denied.result.global_headroom == Decimal("1000.00")
    snap = _snapshot(db)
    assert _engine(snap, "legal").reserved == Decimal("0.00")  # not left half-reserved
    assert _engine(snap, "GLOBAL").exposure == Decimal("49000.00")
    assert _reserve(db, "legal", "1000", "l2").result.status == "reserved"
    assert _engine(_snapshot(db), "GLOBAL").headroom == Decimal("0.00")


def test_ref_is_idempotent_and_a_conflicting_ref_is_bad_input(db):
    _go_live(db)
    first = _reserve(db, "acquisitions", "2500", "emd-1").result
    again = _reserve(db, "acquisitions", "2500.00", "emd-1").result
    assert again.replayed is True and first.replayed is False
    assert again.reservation_id == first.reservation_id
    assert _engine(_snapshot(db), "acquisitions").reserved == Decimal("2500.00")
    for engine, amount in (("acquisitions", "2600"), ("marketing", "2500")):
        with pytest.raises(BadInput, match="already holds"):
            _reserve(db, engine, amount, "emd-1")
    assert db_count(db, "SELECT COUNT(*) FROM risk_event WHERE kind = 'reserve'") == 1
    # a settled ref still answers with its reservation and reserves nothing more
    _settle(db, "emd-1", "0")
    replay = _reserve(db, "acquisitions", "2500", "emd-1").result
    assert replay.reservation_status == "settled" and replay.replayed
    assert _engine(_snapshot(db), "acquisitions").reserved == Decimal("0.00")


def test_denied_ref_is_evaluated_afresh_later(db):
    _go_live(db)
    _reserve(db, "dispositions", "9000", "big")
    assert _reserve(db, "dispositions", "2000", "retry").result.status == "denied"
    _release(db, "big")
    assert _reserve(db, "dispositions", "2000", "retry").result.status == "reserved"


def test_unknown_engine_and_global_are_bad_input(db):
    _go_live(db)
    with pytest.raises(NotFound):
        _reserve(db, "lottery", "10", "x")
    with pytest.raises(BadInput, match="reserve against an engine"):
        _reserve(db, "GLOBAL", "10", "x")
    with pytest.raises(BadInput):
        _reserve(db, "marketing", "10", "   ")
    assert db_count(db, "SELECT COUNT(*) FROM risk_event") == 0


def test_kill_switch_and_disabled_golive_refuse_with_who_and_why(db):
    denied = _reserve(db, "marketing", "10", "k1")
    assert denied.result.status == "denied" and denied.result.reason == "golive_disabled"
    _go_live(db)
    with db.transaction(write=True) as session:
        golive.engage_kill_switch(session, actor="carol", at=AT, reason="duplicate wires",
                                  enforce=True)
    killed = _reserve(db, "marketing", "10", "k2")
    assert killed.result.reason == "kill_switch_engaged"
    assert "carol" in killed.message and "duplicate wires" in killed.message
    assert "2027-01-15 15:00" in killed.message
    # even with enforcement off the kill switch is an emergency stop
    assert _reserve(db, "marketing", "10", "k3", enforce=False).result.reason == \
        "kill_switch_engaged"
    assert db_count(db, "SELECT COUNT(*) FROM risk_reservation") == 0
    assert db_count(db, "SELECT COUNT(*) FROM risk_ledger") == 0


def test_enforcement_off_warns_and_proceeds(db):
    outcome = _reserve(db, "marketing", "10", "dev", enforce=False)
    assert outcome.result.status == "reserved"
    assert outcome.warning and "enforcement is off" in outcome.warning


def test_disabled_engine_refuses_every_reservation(db):
    _go_live(db)
    _policy_set(db, "marketing", None, enabled=False)
    refused = _reserve(db, "marketing", "1", "x")
    assert (refused.result.reason, refused.result.binding_cap) == ("engine_disabled", "marketing")
    _policy_set(db, "GLOBAL", None, enabled=False)
    refused = _reserve(db, "acquisitions", "1", "y")
    assert (refused.result.reason, refused.result.binding_cap) == ("engine_disabled", "GLOBAL")


def test_business_day_is_the_date_in_the_business_time_zone(db):
    _go_live(db)
    late = datetime(2027, 1, 16, 3, 0, tzinfo=UTC)  # 22:00 on the 15th in Toronto
    assert _reserve(db, "marketing", "10", "late", at=late).result.day == DAY
    early = datetime(2027, 1, 16, 5, 30, tzinfo=UTC)  # 00:30 on the 16th
    assert _reserve(db, "marketing", "10", "early", at=early).result.day == date(2027, 1, 16)


# ----------------------------------------------------------------------------------- settle

def test_settle_moves_exposure_to_the_settlement_day(db):
    _go_live(db)
    _reserve(db, "acquisitions", "5000", "emd")
    next_day = AT + timedelta(days=1)
    settled = _settle(db, "emd", "-1200.50", at=next_day).result
    assert (settled.status, settled.closed_day) == ("settled", date(2027, 1, 16))
    assert settled.realized_loss == Decimal("1200.50") and settled.pnl == Decimal("-1200.50")
    day1, day2 = _snapshot(db), _snapshot(db, date(2027, 1, 16))
    assert _engine(day1, "acquisitions").exposure == Decimal("0.00")
    assert _engine(day2, "acquisitions").realized_loss == Decimal("1200.50")
    assert _engine(day2, "GLOBAL").exposure == Decimal("1200.50")
    assert _engine(day2, "acquisitions").headroom == Decimal("23799.50")


def test_profit_is_reported_and_does_not_count_as_exposure(db):
    _go_live(db)
    _reserve(db, "dispositions", "3000", "dc")
    assert _settle(db, "dc", "750.25").result.realized_profit == Decimal("750.25")
    disp = _engine(_snapshot(db), "dispositions")
    assert (disp.realized_profit, disp.exposure, disp.realized_loss) == (
        Decimal("750.25"), Decimal("0.00"), Decimal("0.00"))


def test_settling_twice_or_after_release_is_refused(db):
    _go_live(db)
    _reserve(db, "marketing", "100", "a")
    _reserve(db, "marketing", "100", "b")
    assert not _settle(db, "a", "-10").result.refused
    twice = _settle(db, "a", "-10")
    assert twice.result.refused and twice.result.reason == "already_settled"
    assert "already settled" in twice.message
    assert not _release(db, "b").result.refused
    assert _settle(db, "b", "5").result.reason == "already_released"
    assert _release(db, "b").result.reason == "already_released"
    marketing = _engine(_snapshot(db), "marketing")
    assert (marketing.reserved, marketing.realized_loss) == (Decimal("0.00"), Decimal("10.00"))
    assert db_count(db, "SELECT COUNT(*) FROM risk_event WHERE kind IN ('settle','release')") == 2


def test_settle_needs_one_handle_and_a_time_after_the_reservation(db):
    _go_live(db)
    _reserve(db, "marketing", "100", "a")
    with db.transaction(write=True) as session, pytest.raises(BadInput):
        risk.settle(session, pnl="1", at=AT, actor="t", business_timezone=TZ)
    with db.transaction(write=True) as session, pytest.raises(NotFound):
        risk.settle(session, reservation_id=999, pnl="1", at=AT, actor="t",
                    business_timezone=TZ)
    with pytest.raises(BadInput, match="before reservation"):
        _settle(db, "a", "1", at=AT - timedelta(hours=1))
    with pytest.raises(BadInput):
        _settle(db, "a", "1.001")


def test_big_settled_loss_breaches_blocks_the_day_and_fails_the_runbook(db, db_url):
    _go_live(db)
    assert _runbook(db, db_url).status == "ok"
    _reserve(db, "acquisitions", "20000", "deal")
    _settle(db, "deal", "-31000", at=AT + timedelta(hours=2))  # never refused for headroom
    snap = _snapshot(db)
    assert [(b.engine, b.over) for b in snap.breaches] == [("acquisitions", Decimal("6000.00"))]
    acq = _engine(snap, "acquisitions")
    assert (acq.exposure, acq.headroom, acq.utilization_pct) == (
        Decimal("31000.00"), Decimal("0.00"), 124.0)
    blocked = _reserve(db, "acquisitions", "0.01", "more", at=AT + timedelta(hours=3))
    assert blocked.result.status == "denied" and blocked.result.binding_cap == "acquisitions"
    check = _runbook(db, db_url, AT + timedelta(hours=3))
    assert check.status == "fail" and "acquisitions over by 6000.00" in check.detail
    # the next business day starts clean
    tomorrow = AT + timedelta(days=1)
    assert _runbook(db, db_url, tomorrow).status == "ok"
    assert _reserve(db, "acquisitions", "100", "next", at=tomorrow).result.status == "reserved"


# ----------------------------------------------------------------------------------- policies

def test_policy_changes_are_validated_and_audited(db):
    with pytest.raises(BadInput, match="above GLOBAL"):
        _policy_set(db, "acquisitions", "50000.01")
    with pytest.raises(BadInput, match="below acquisitions"):
        _policy_set(db, "GLOBAL", "24999.99")
    with pytest.raises(BadInput, match="give its --daily-cap"):
        _policy_set(db, "legal", None)
    with pytest.raises(BadInput, match="nothing to change"):
        _policy_set(db, "marketing", None)
    with pytest.raises(BadInput):
        _policy_set(db, "marketing", "-1")
    assert db_count(db, "SELECT COUNT(*) FROM audit_event") == 0
    created = _policy_set(db, "Legal", "2000")
    assert (created.engine, created.created, created.daily_cap) == ("legal", True, Decimal("2000"))
    changed = _policy_set(db, "legal", "1500.50", enabled=False)
    assert changed.before == {"daily_cap": Decimal("2000.00"), "enabled": True}
    assert _policy_set(db, "legal", "1500.5").changed is False  # same values: no audit
    with db.transaction() as session:
        names = [p.engine for p in risk.policies(session)]
        entries = golive.audit.list_events(session, pack="risk")
    assert names == ["GLOBAL", "acquisitions", "dispositions", "legal", "marketing"]
    assert [(e.action, e.subject) for e in entries] == [
        ("policy_set", "legal"), ("policy_create", "legal")]
    assert entries[0].before == {"daily_cap": "2000.00", "enabled": True}
    assert entries[0].after == {"daily_cap": "1500.50", "enabled": False}
    assert db_count(db, "SELECT COUNT(*) FROM risk_event WHERE kind = 'policy'") == 2


def test_lowering_a_cap_keeps_reservations_and_shows_a_breach(db, db_url):
    _go_live(db)
    _reserve(db, "marketing", "10000", "camp")
    _policy_set(db, "marketing", "8000")
    snap = _snapshot(db)
    assert [(b.engine, b.over) for b in snap.breaches] == [("marketing", Decimal("2000.00"))]
    assert db_count(db, "SELECT COUNT(*) FROM risk_reservation WHERE status = 'open'") == 1
    assert _reserve(db, "marketing", "1", "more").result.status == "denied"
    assert _runbook(db, db_url).status == "fail"


def test_runbook_fails_on_bad_global_cap_or_engine_above_global(db, db_url):
    for engine in ("acquisitions", "marketing", "dispositions"):
        _policy_set(db, engine, "0")
    _policy_set(db, "GLOBAL", "0")
    check = _runbook(db, db_url)
    assert check.status == "fail" and "GLOBAL daily cap is 0.00" in check.detail
    _policy_set(db, "GLOBAL", "100")
    assert _runbook(db, db_url).status == "ok"
    # an engine above GLOBAL can only come from outside the commands (e.g. a manual edit)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE risk_policy SET daily_cap_cents = 20000 "
                             "WHERE engine = 'marketing'")
    check = _runbook(db, db_url)
    assert check.status == "fail" and "marketing 200.00" in check.detail


def test_snapshot_reads_only_its_day(db):
    _go_live(db)
    for offset in range(5):
        _reserve(db, "marketing", str(100 + offset), f"r{offset}",
                 at=AT + timedelta(days=offset))
    snap = _snapshot(db, date(2027, 1, 17))
    assert _engine(snap, "marketing").reserved == Decimal("102.00")
    assert _engine(snap, "acquisitions").reserved == Decimal("0.00")
    with db.transaction() as session:
        journal = risk.events(session, day=date(2027, 1, 17), engine="marketing")
        assert [e.ref for e in journal] == ["r2"]
        with pytest.raises(NotFound):
            risk.events(session, day=DAY, engine="lottery")


# ----------------------------------------------------------------------------------- concurrency

WORKERS = 8
PER_WORKER = 50
CAP = Decimal("25000.00")


def _reserve_worker(url: str, seed: int, barrier, queue) -> None:
    from valhalla_cli.bootstrap import open_database

    rng = random.Random(seed)
    tally = {"seed": seed, "reserved": 0, "denied": 0, "errors": []}
    mine: list[tuple[int, int]] = []
    try:
        database = open_database(url)
        barrier.wait(timeout=60)
        for i in range(PER_WORKER):
            cents = rng.randint(1, 150_000)
            with database.transaction(write=True) as session:
                outcome = risk.reserve(session, engine="acquisitions",
                                       amount=str(Decimal(cents) / 100), ref=f"w{seed}-{i}",
                                       at=AT, actor=f"w{seed}", business_timezone=TZ,
                                       enforce=True)
            if outcome.result.status == "reserved":
                tally["reserved"] += 1
                mine.append((outcome.result.reservation_id, cents))
            else:
                tally["denied"] += 1
            if mine and rng.random() < 0.3:  # churn: free room for the others
                rid, held = mine.pop(rng.randrange(len(mine)))
                with database.transaction(write=True) as session:
                    if rng.random() < 0.5:
                        risk.release(session, reservation_id=rid, at=AT, actor="w",
                                     business_timezone=TZ)
                    else:  # a loss of at most the amount keeps the day within the cap
                        pnl = Decimal(rng.randint(-held, held)) / 100
                        risk.settle(session, reservation_id=rid, pnl=str(pnl), at=AT,
                                    actor="w", business_timezone=TZ)
        database.dispose()
    except Exception as exc:  # reported to the parent, which fails the test
        tally["errors"].append(f"{type(exc).__name__}: {exc}")
    queue.put(tally)


def _run_workers(target, args_for) -> list[dict]:
    return run_workers(target, [args_for(n) for n in range(WORKERS)], start="fork",
                       timeout=120)


@pytest.mark.slow
def test_eight_processes_never_push_exposure_past_the_cap(db_url):
    from valhalla_cli.bootstrap import open_database

    db = open_database(db_url)
    _go_live(db)
    db.dispose()
    results = _run_workers(_reserve_worker, lambda n: (db_url, n))
    errors = [e for r in results for e in r["errors"]]
    assert errors == [], errors
    accepted = sum(r["reserved"] for r in results)
    denied = sum(r["denied"] for r in results)
    assert accepted + denied == WORKERS * PER_WORKER
    assert accepted > 0 and denied > 0

    db = open_database(db_url)
    try:
        count = db_count(db, "SELECT COUNT(*) FROM risk_event WHERE kind IN ('reserve','deny')")
        assert count == WORKERS * PER_WORKER
        assert db_count(db, "SELECT COUNT(*) FROM risk_event WHERE kind = 'reserve'") == accepted
        assert db_count(db, "SELECT COUNT(*) FROM risk_reservation") == accepted
        with db.transaction() as session:
            open_cents = risk.open_reserved_cents(session, day=DAY, engine="acquisitions")
            snap = risk.snapshot(session, day=DAY)
            journal = risk.events(session, day=DAY, engine="acquisitions")
        loss_cents = -db_count(db, "SELECT COALESCE(SUM(pnl_cents), 0) FROM risk_reservation "
                                   "WHERE status = 'settled' AND pnl_cents < 0")
        for name in ("acquisitions", "GLOBAL"):
            row = _engine(snap, name)
            assert row.reserved == Decimal(open_cents) / 100
            assert row.realized_loss == Decimal(loss_cents) / 100
            assert row.exposure <= CAP
        assert snap.breaches == []
        # Replay the journal in commit order: exposure never went past the cap at any point.
        running = Decimal(0)
        for event in journal:
            if event.kind == "reserve":
                running += event.amount
            elif event.kind in ("release", "settle"):
                running -= event.amount
                if event.pnl is not None and event.pnl < 0:
                    running -= event.pnl
            assert running <= CAP, event
        assert running == _engine(snap, "acquisitions").exposure
    finally:
        db.dispose()


def _same_ref_worker(url: str, n: int, barrier, queue) -> None:
    from valhalla_cli.bootstrap import open_database

    result = {"n": n, "errors": []}
    try:
        database = open_database(url)
        barrier.wait(timeout=60)
        with database.transaction(write=True) as session:
            outcome = risk.reserve(session, engine="marketing", amount="1234.56",
                                   ref="same-ref", at=AT, actor=f"p{n}",
                                   business_timezone=TZ, enforce=True)
        result.update(status=outcome.result.status, id=outcome.result.reservation_id,
                      replayed=outcome.result.replayed)
        database.dispose()
    except Exception as exc:
        result["errors"].append(f"{type(exc).__name__}: {exc}")
    queue.put(result)


@pytest.mark.slow
def test_racing_the_same_new_ref_yields_one_reservation(db_url):
    from valhalla_cli.bootstrap import open_database

    db = open_database(db_url)
    _go_live(db)
    db.dispose()
    results = _run_workers(_same_ref_worker, lambda n: (db_url, n))
    assert [r["errors"] for r in results] == [[]] * WORKERS
    assert {r["status"] for r in results} == {"reserved"}
    assert len({r["id"] for r in results}) == 1
    assert sorted(r["replayed"] for r in results) == [False] + [True] * (WORKERS - 1)
    db = open_database(db_url)
    try:
        assert db_count(db, "SELECT COUNT(*) FROM risk_reservation") == 1
        assert db_count(db, "SELECT COUNT(*) FROM risk_event") == 1
        assert db_count(db, "SELECT reserved_cents FROM risk_ledger WHERE engine = 'marketing'") \
            == 123456
        assert db_count(db, "SELECT reserved_cents FROM risk_ledger WHERE engine = 'GLOBAL'") \
            == 123456
    finally:
        db.dispose()
