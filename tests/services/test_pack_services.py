"""The go-live, market, ladder, heimdall and regression rules called as a second face would:
services with a session and plain arguments, no CLI. Each test asserts the result objects and
the rows left in the database, on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import ChangesNothing, db_count, settings_for

from valhalla_cli.errors import BadInput
from valhalla_cli.services import (
    golive,
    golive_gate,
    heimdall,
    kpi,
    ladder,
    market,
    policies,
    regression,
    suppression,
)
from valhalla_cli.services.template import Identification
from valhalla_cli.settings import LadderSettings

AT = datetime(2027, 1, 15, 15, 0, tzinfo=UTC)  # Friday 10:00 in Toronto
TZ = "America/Toronto"
CONFIG = ladder.ladder_config(LadderSettings())


def _go_live(db) -> None:
    with db.transaction(write=True) as session:
        result = golive_gate.enable(session, actor="ops", at=AT, reason="pilot",
                                    settings=settings_for(db.url))
    assert result.changed and not result.refused


# --- go-live -------------------------------------------------------------------------------------

def test_enable_is_refused_by_the_service_while_the_runbook_fails(db):
    with db.transaction(write=True) as session:
        golive.add_checklist_item(session, key="dncl", title="DNCL active", actor="ops", at=AT)
    with ChangesNothing(db), db.transaction(write=True) as session:
        refused = golive_gate.enable(session, actor="ops", at=AT, reason="pilot",
                                     settings=settings_for(db.url))
    assert refused.refused and refused.reason == "runbook_not_ok"
    assert refused.failing_checks == ["golive"]
    assert refused.state.enabled is False
    with db.transaction(write=True) as session:
        golive.sign_checklist_item(session, key="dncl", note="renewed", actor="ops", at=AT)
    _go_live(db)
    with db.transaction() as session:
        assert golive.live_status(session, enforce=True).live is True
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'golive' "
                        "AND action = 'enable'") == 1


def test_the_kill_switch_stops_everything_even_with_enforcement_off(db):
    _go_live(db)
    with db.transaction(write=True) as session:
        golive.engage_kill_switch(session, actor="ops", at=AT, reason="incident", enforce=True)
    with db.transaction() as session:
        status = golive.live_status(session, enforce=False)
    assert status.live is False and status.reason == "kill_switch_engaged"


# --- market --------------------------------------------------------------------------------------

def test_a_market_policy_overrides_its_province_and_is_found_by_any_spelling(db):
    with db.transaction(write=True) as session:
        policies.policy_set(session, province="QC", market="Montréal", timezones=None,
                            windows=["SMS mon-fri 10:00-18:00"], channels=None,
                            min_lead_score=30, quiet_on_holidays=None, enabled=True, actor="ops",
                            at=AT)
    with db.transaction() as session:
        merged = policies.effective_policy(session, province="qc", market="MONTREAL")
    assert merged.market == "MONTRÉAL"
    assert merged.min_lead_score == 30 and merged.sources["min_lead_score"] == "market"
    assert merged.windows["SMS"]["mon"] == [["10:00", "18:00"]]
    assert merged.sources["windows"] == {"SMS": "market", "CALL": "province"}


def test_can_contact_answers_with_the_first_reason_and_the_next_opening(db):
    with db.transaction() as session:
        early = market.can_contact(session, province="ON", market=None, channel="CALL",
                                   at=AT - timedelta(hours=2),  # 08:00 Toronto
                                   business_timezone=TZ)
        open_now = market.can_contact(session, province="ON", market=None, channel="CALL",
                                      at=AT, business_timezone=TZ)
    assert early.allowed is False and early.reason == "outside_window"
    # 09:00 in every Ontario zone (Winnipeg is UTC-5 all year from 2026, IANA 2026f)
    assert early.next_open_at == datetime(2027, 1, 15, 14, 0, tzinfo=UTC)
    assert open_now.allowed is True and open_now.reason is None


def test_suppressing_a_lead_cancels_its_ladder_through_the_ladder_pack(db):
    with db.transaction(write=True) as session:
        made = ladder.create(session, lead_id="L-7", province="ON", market=None, owner=None,
                             lead_score=None, at=AT, actor="ops", config=CONFIG,
                             business_timezone=TZ)
    assert made.created and len(made.tasks) == 6
    with db.transaction(write=True) as session:
        entry = suppression.suppress(session, lead_id="L-7", phone=None, reason="replied STOP",
                                     actor="ops", at=AT)
    assert entry.created and entry.tasks_cancelled == 6
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE lead_id = 'L-7' "
                        "AND status = 'cancelled'") == 6
    with db.transaction() as session:
        assert market.can_contact(session, province="ON", market=None, channel="SMS", at=AT,
                                  business_timezone=TZ, lead_id="L-7").reason == "suppressed"


# --- ladder --------------------------------------------------------------------------------------

_IDENTITY = Identification("Maple Home Buyers", "+14165550100")


def _dispatch(session, *, at=AT, dry_run=False):
    return ladder.dispatch(session, at=at, limit=10, lease=CONFIG.lease, worker="w1",
                           config=CONFIG, dry_run=dry_run, enforce=True, actor="cron",
                           business_timezone=TZ, identification=_IDENTITY)


def test_dispatch_is_refused_until_live_then_claims_once_and_completes(db):
    with db.transaction(write=True) as session:
        ladder.create(session, lead_id="L-1", province="ON", market=None, owner="va1",
                      lead_score=None, at=AT, actor="ops", config=CONFIG, business_timezone=TZ,
                      phone="+14165550199", consent="express")
    with db.transaction(write=True) as session:
        refused = _dispatch(session)
    assert refused.refused and refused.reason == "golive_disabled" and refused.tasks == []
    _go_live(db)
    with db.transaction(write=True) as session:
        first = _dispatch(session)
    with db.transaction(write=True) as session:
        again = _dispatch(session)
    assert [t.step for t in first.tasks] == [1] and again.tasks == []
    claim = first.tasks[0]
    with db.transaction(write=True) as session:
        stale = ladder.complete(session, task_id=claim.task_id, outcome="sent",
                                claim_token="not-the-token", note=None,
                                at=AT + timedelta(minutes=3), actor="sender", config=CONFIG)
        done = ladder.complete(session, task_id=claim.task_id, outcome="sent",
                               claim_token=claim.claim_token, note=None,
                               at=AT + timedelta(minutes=3), actor="sender", config=CONFIG)
    assert stale.reason == "lease_lost"
    assert done.status == "done" and done.response_minutes == 3.0 and done.within_sla is True
    with db.transaction() as session:
        row = ladder.sla(session, at=AT, since=AT.date(), until=AT.date(), by=None,
                         business_timezone=TZ, config=CONFIG)[0]
    assert row.completed == 1 and row.within_30m_pct == 100.0


def test_create_refuses_a_suppressed_lead_and_bad_input_changes_nothing(db):
    with db.transaction(write=True) as session:
        suppression.suppress(session, lead_id="L-9", phone=None, reason="STOP", actor="ops",
                             at=AT)
    with db.transaction(write=True) as session:
        refused = ladder.create(session, lead_id="L-9", province="ON", market=None, owner=None,
                                lead_score=None, at=AT, actor="ops", config=CONFIG,
                             business_timezone=TZ)
    assert refused.created is False and refused.reason == "suppressed"
    with ChangesNothing(db), pytest.raises(BadInput), db.transaction(write=True) as session:
        ladder.create(session, lead_id="L-\u200b1", province="ON", market=None,
                      owner=None, lead_score=None, at=AT, actor="ops", config=CONFIG,
                             business_timezone=TZ)


# --- heimdall ------------------------------------------------------------------------------------

def test_heimdall_rejects_low_confidence_shadows_in_sandbox_and_gates_promotion(db):
    with db.transaction(write=True) as session:
        low = heimdall.record(session, domain="offer_pricing", confidence=0.5, subject="D-1",
                              actor="ai", at=AT, enforce=True)
        shadowed = heimdall.record(session, domain="offer_pricing", confidence=0.9,
                                   subject="D-2", actor="ai", at=AT, enforce=True)
    assert low.decision == "reject" and low.reason == "below_min_confidence"
    assert shadowed.decision == "shadow" and shadowed.reason == "sandbox_mode"
    with db.transaction(write=True) as session:
        outcome = heimdall.record_outcome(session, recommendation_id=shadowed.recommendation_id,
                                          success=True, actor="ops", at=AT,
                                          business_timezone=TZ)
        repeat = heimdall.record_outcome(session, recommendation_id=shadowed.recommendation_id,
                                         success=False, actor="ops", at=AT,
                                         business_timezone=TZ)
    assert outcome.changed and repeat.refused
    with db.transaction() as session:
        card = {r.domain: r for r in heimdall.scorecard(session, at=AT, business_timezone=TZ)}
    assert card["offer_pricing"].samples == 1 and card["offer_pricing"].successes == 1
    with db.transaction(write=True) as session:
        gate = heimdall.promote(session, domain="offer_pricing", reason="friday", actor="ops",
                                at=AT)
    assert gate.refused and gate.reason == "too_few_samples" and gate.mode == "sandbox"


# --- regression ----------------------------------------------------------------------------------

def test_a_significant_drop_throttles_its_lever_until_a_human_releases_it(db):
    start = AT - timedelta(days=10)
    rows = [{"metric": "buyer_feedback", "value": 1.0 if i < 200 else 0.0,
             "occurred_at": start + timedelta(minutes=i), "province": "ON", "market": None,
             "ref": None, "source": "test"} for i in range(250)]
    with db.transaction(write=True) as session:
        kpi.insert_many(session, rows)
    with db.transaction(write=True) as session:
        run = regression.evaluate(session, at=AT, actor="cron")
    assert run.throttled_levers == ["offers"]
    with db.transaction(write=True) as session:
        again = regression.evaluate(session, at=AT, actor="cron")
        states = {s.lever: s for s in regression.state(session)}
    assert again.throttled_levers == ["offers"]  # still throttled, not throttled twice
    assert states["offers"].throttled and not states["followups"].throttled
    with db.transaction(write=True) as session:
        released = regression.release(session, lever="offers", reason="fixed", actor="ops",
                                      at=AT)
    assert released.changed
    with db.transaction() as session:
        assert not {s.lever: s for s in regression.state(session)}["offers"].throttled
