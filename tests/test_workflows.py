"""End-to-end workflows from the seed ("Key Workflows", "Weekly Cadence"), driven through the
real `valhalla` command in subprocesses on each engine.

Setup that a real process would add nothing to (signing off nine feedback events, a month of
shadow recommendations) goes through the in-process `cli` fixture or the services; every
decisive step, and every step whose output a sender or cron job reads, runs as its own process.
Each step asserts its JSON answer, its exit code and the KPI events it leaves behind.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import CliResult, db_count, run_valhalla

# Real processes, step after step, for tens of seconds a workflow.
pytestmark = pytest.mark.slow

# Friday 15 January 2027, 10:00 in Toronto (15:00Z): a weekday inside the contact window.
AT = "2027-01-15T10:00:00-05:00"
AT_UTC = "2027-01-15T15:00:00Z"


@pytest.fixture(autouse=True)
def _business(monkeypatch):
    """The business identity every text carries (SPEC 17.6), as the README's config sets it."""
    monkeypatch.setenv("VALHALLA_BUSINESS_NAME", "Maple Home Buyers")
    monkeypatch.setenv("VALHALLA_BUSINESS_CALLBACK", "+1 416 555 0100")


def vh(db_url: str, *args: str) -> CliResult:
    """One real `valhalla` process against the test database (asserts no traceback)."""
    return run_valhalla(*args, db_url=db_url)


def kpi_events(db) -> list[tuple]:
    """Every KPI event, oldest first: (metric, value, province, market, ref, source)."""
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT metric, value, province, market, ref, source FROM kpi_event ORDER BY id"
        ).all()
    return [tuple(r) for r in rows]


def new_events(db, before: list[tuple]) -> list[tuple]:
    after = kpi_events(db)
    assert after[: len(before)] == before, "KPI events are append-only"
    return after[len(before):]


# --- Workflow 1: lead intake to offer -----------------------------------------------------------

def test_workflow_1_lead_intake_to_offer_then_kill_switch(db_url, cli, db):
    # Go live: the fresh install's runbook is green, so enabling is allowed.
    enabled = vh(db_url, "golive", "enable", "--reason", "runbook green", "--at", AT, "--json")
    assert enabled.exit_code == 0, enabled.stderr
    assert enabled.json["changed"] is True and enabled.json["failing_checks"] == []
    assert enabled.json["state"]["live"] is True
    assert enabled.json["state"]["last_change"]["at"] == AT_UTC
    assert kpi_events(db) == []

    # 1. May we text a Toronto lead now?
    contact = vh(db_url, "market", "can-contact", "ON", "--market", "TORONTO", "--channel", "SMS",
                 "--at", AT, "--json")
    assert contact.exit_code == 0, contact.stderr
    assert contact.json["allowed"] is True and contact.json["reason"] is None
    assert contact.json["next_open_at"] is None
    assert all(z["open"] for z in contact.json["zones"])
    assert contact.json["zones"][0]["local_time"] == "2027-01-15T10:00:00-05:00"

    # 2-3. The six-step ladder, and its ladder_created KPI.
    # The lead texted in about selling: its number and that inquiry make texts and calls
    # lawful for 6 months (CASL consent; a DNCL exemption).
    created = vh(db_url, "ladder", "create", "L-1", "--province", "ON", "--market", "TORONTO",
                 "--owner", "va1", "--phone", "(416) 555-0199", "--consent", "inquiry",
                 "--at", AT, "--json")
    assert created.exit_code == 0, created.stderr
    ladder = created.json
    assert ladder["created"] is True and ladder["lead_id"] == "L-1"
    assert [(t["step"], t["channel"], t["status"]) for t in ladder["tasks"]] == [
        (1, "SMS", "pending"), (2, "CALL", "pending"), (3, "SMS", "pending"),
        (4, "CALL", "pending"), (5, "SMS", "pending"), (6, "CALL", "pending")]
    assert ladder["tasks"][0]["due_at"] == AT_UTC
    assert ladder["tasks"][1]["due_at"] == "2027-01-15T15:05:00Z"
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE lead_id = 'L-1'") == 6
    assert kpi_events(db) == [("ladder_created", 1.0, "ON", "TORONTO", ladder["ladder_id"],
                               "ladder")]

    # 4. The cron job hands step 1 (SMS) to the sender, with a claim token.
    before = kpi_events(db)
    dispatched = vh(db_url, "ladder", "dispatch", "--at", AT, "--format", "jsonl")
    assert dispatched.exit_code == 0, dispatched.stderr
    claims = dispatched.jsonl
    assert len(dispatched.stdout.splitlines()) == 1
    assert len(claims) == 1
    claim = claims[0]
    first = ladder["tasks"][0]
    assert (claim["task_id"], claim["step"], claim["channel"], claim["lead_id"]) == (
        first["task_id"], 1, "SMS", "L-1")
    assert (claim["province"], claim["market"], claim["owner"]) == ("ON", "TORONTO", "va1")
    assert claim["ladder_id"] == ladder["ladder_id"]
    assert claim["attempt"] == 1 and claim["claim_token"]
    assert claim["to"] == "+14165550199" and claim["language"] == "en"
    assert "Maple Home Buyers" in claim["message"] and "STOP" in claim["message"]
    assert claim["idempotency_key"] == f"task-{first['task_id']}"
    assert claim["lease_expires_at"] == "2027-01-15T15:15:00Z"
    assert "dispatched 1 task" in dispatched.stderr
    assert new_events(db, before) == []

    # 5. The sender reports the SMS sent 20 minutes later: followup_completed, within SLA.
    before = kpi_events(db)
    done = vh(db_url, "ladder", "complete", str(claim["task_id"]), "--outcome", "sent",
              "--claim-token", claim["claim_token"], "--at", "2027-01-15T10:20:00-05:00",
              "--json")
    assert done.exit_code == 0, done.stderr
    assert done.json == {"task_id": claim["task_id"], "status": "done", "outcome": "sent",
                         "response_minutes": 20.0, "within_sla": True, "ladder_stopped": False,
                         "reason": None, "message": None}
    assert new_events(db, before) == [("followup_completed", 1.0, "ON", "TORONTO",
                                       f"task-{claim['task_id']}", "ladder")]

    # 6. Buyer feedback until the market's band is known (10 events in the window).
    before = kpi_events(db)
    reactions = [(True, True), (True, False), (True, False), (True, True), (False, False),
                 (True, False), (False, False), (True, False), (True, False)]
    for i, (responded, closed) in enumerate(reactions):
        flags = ["--responded" if responded else "--no-response"] + (["--closed"] if closed
                                                                     else [])
        got = cli("liquidity", "feedback", "ON", "--market", "TORONTO", "--buyer", f"B{i}",
                  *flags, "--at", AT, "--json")
        assert got.exit_code == 0, got.stderr
        assert got.json["liquidity"]["band"] == "unknown"  # fewer than 10 sent
    last = vh(db_url, "liquidity", "feedback", "ON", "--market", "TORONTO", "--buyer", "B9",
              "--responded", "--closed", "--deal-ref", "deal-L-1", "--at", AT, "--json")
    assert last.exit_code == 0, last.stderr
    assert last.json["created"] is True
    # 10 sent, 8 responded, 3 closed: 100 x (0.5 x min(1, 0.8/0.6) + 0.5 x (0.3/0.25 -> 1)).
    assert last.json["liquidity"]["sent"] == 10
    assert last.json["liquidity"]["score"] == 100 and last.json["liquidity"]["band"] == "hot"
    added = new_events(db, before)
    assert [(m, v) for m, v, *_ in added] == [("buyer_feedback", 1.0 if r else 0.0)
                                              for r, _ in reactions] + [("buyer_feedback", 1.0)]
    assert {(p, mk) for _, _, p, mk, _, _ in added} == {("ON", "TORONTO")}

    score = vh(db_url, "liquidity", "score", "ON", "--market", "TORONTO", "--at", AT, "--json")
    assert score.exit_code == 0, score.stderr
    assert (score.json["sent"], score.json["responded"], score.json["closed"]) == (10, 8, 3)
    assert score.json["response_rate"] == pytest.approx(0.8)
    assert score.json["close_rate"] == pytest.approx(0.3)
    assert (score.json["score"], score.json["band"]) == (100, "hot")

    # 7-8. Enable Ontario's offer policy; compute the offer (offer_generated KPI).
    policy = cli("offer", "policy-set", "ON", "--enable", "--reason", "launch ON", "--at", AT,
                 "--json")
    assert policy.exit_code == 0, policy.stderr
    assert policy.json["policy"]["enabled"] is True
    before = kpi_events(db)
    offer = vh(db_url, "offer", "compute", "ON", "--market", "TORONTO", "--arv", "450000",
               "--repairs", "50000", "--deal-ref", "deal-L-1", "--at", AT, "--json")
    assert offer.exit_code == 0, offer.stderr
    body = offer.json
    assert (body["arv"], body["repairs"], body["fees"]["total"]) == (
        "450000.00", "50000.00", "10000.00")
    assert (body["mao"], body["max_offer"], body["opening_offer"]) == (
        "255000.00", "255000.00", "229500.00")
    assert body["mode"] == "production" and body["throttled"] is False
    assert body["reason"] is None
    assert body["liquidity"]["score"] == 100 and body["liquidity"]["band"] == "hot"
    assert body["policy"]["enabled"] is True and body["policy"]["arv_pct"] == 0.7
    assert new_events(db, before) == [("offer_generated", 1.0, "ON", "TORONTO", "deal-L-1",
                                       "offer")]
    assert db_count(db, "SELECT COUNT(*) FROM offer_evidence WHERE deal_ref = 'deal-L-1'") == 1

    # 9. Reserve the earnest-money deposit against the acquisitions cap.
    reserved = vh(db_url, "risk", "reserve", "acquisitions", "5000", "--ref", "deal-L-1",
                  "--at", AT, "--json")
    assert reserved.exit_code == 0, reserved.stderr
    r = reserved.json
    assert (r["engine"], r["amount"], r["ref"], r["day"], r["status"], r["reason"]) == (
        "acquisitions", "5000.00", "deal-L-1", "2027-01-15", "reserved", None)
    assert (r["engine_headroom"], r["global_headroom"]) == ("20000.00", "45000.00")
    again = cli("risk", "reserve", "acquisitions", "5000", "--ref", "deal-L-1", "--at", AT,
                "--json")
    assert again.exit_code == 0 and again.json["reservation_id"] == r["reservation_id"]

    snap = vh(db_url, "risk", "snapshot", "--at", AT, "--json")
    assert snap.exit_code == 0, snap.stderr
    engines = {e["engine"]: e for e in snap.json["engines"]}
    assert snap.json["day"] == "2027-01-15" and snap.json["breaches"] == []
    assert (engines["acquisitions"]["reserved"], engines["acquisitions"]["headroom"],
            engines["acquisitions"]["utilization_pct"]) == ("5000.00", "20000.00", 20.0)
    assert (engines["GLOBAL"]["exposure"], engines["GLOBAL"]["headroom"]) == (
        "5000.00", "45000.00")

    # Every KPI the workflow left, as the operator sees them.
    listed = vh(db_url, "kpi", "list", "--json")
    assert listed.exit_code == 0, listed.stderr
    counts: dict[str, int] = {}
    for event in listed.json:
        counts[event["metric"]] = counts.get(event["metric"], 0) + 1
    assert counts == {"ladder_created": 1, "followup_completed": 1, "buyer_feedback": 10,
                      "offer_generated": 1}

    # Emergency stop: money and messages halt; offers still compute, as sandbox only.
    killed = cli("golive", "kill-switch", "engage", "--reason", "sender misfiring", "--at",
                 "2027-01-15T10:25:00-05:00", "--json")
    assert killed.exit_code == 0 and killed.json["state"]["live"] is False
    snapshot_before = db_count(db, "SELECT COUNT(*) FROM risk_reservation")
    denied = vh(db_url, "risk", "reserve", "acquisitions", "1000", "--ref", "deal-L-2",
                "--at", "2027-01-15T10:30:00-05:00", "--json")
    assert denied.exit_code == 1
    assert denied.json["status"] == "denied" and denied.json["reason"] == "kill_switch_engaged"
    assert denied.json["reservation_id"] is None
    assert "kill switch" in denied.stderr
    assert db_count(db, "SELECT COUNT(*) FROM risk_reservation") == snapshot_before

    # Step 2 (CALL) is due at 10:05, but nothing is handed out while the switch is engaged.
    refused = vh(db_url, "ladder", "dispatch", "--at", "2027-01-15T10:30:00-05:00",
                 "--format", "jsonl")
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert "kill switch" in refused.stderr
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE status = 'claimed'") == 0

    before = kpi_events(db)
    sandbox = vh(db_url, "offer", "compute", "ON", "--market", "TORONTO", "--arv", "450000",
                 "--repairs", "50000", "--deal-ref", "deal-L-2", "--at",
                 "2027-01-15T10:30:00-05:00", "--json")
    assert sandbox.exit_code == 0, sandbox.stderr
    assert sandbox.json["mode"] == "sandbox"
    assert (sandbox.json["mao"], sandbox.json["max_offer"]) == ("255000.00", "255000.00")
    assert new_events(db, before) == [("offer_generated", 1.0, "ON", "TORONTO", "deal-L-2",
                                       "offer")]
    with db.engine.connect() as conn:
        modes = conn.exec_driver_sql(
            "SELECT deal_ref, mode FROM offer_evidence ORDER BY id").all()
    assert [tuple(m) for m in modes] == [("deal-L-1", "production"), ("deal-L-2", "sandbox")]


# --- Workflow 2: daily regression check ---------------------------------------------------------

def _kpi_csv(path, *, start: datetime, n: int = 250) -> int:
    """n events per seeded metric, every 10 minutes; followup_completed falls 0.9 -> 0.5 in the
    last 50 events, the other three metrics hold steady."""
    lines = ["metric,value,occurred_at,province,market,source"]
    step = timedelta(minutes=10)
    for i in range(n):
        at = (start + i * step).strftime("%Y-%m-%dT%H:%M:%SZ")
        recent = i >= n - 50
        completed = (i % 2 == 0) if recent else (i % 10 != 9)
        responded = i % 5 < 3
        lines += [
            f"ladder_created,1,{at},ON,TORONTO,crm",
            f"followup_completed,{int(completed)},{at},ON,TORONTO,crm",
            f"buyer_feedback,{int(responded)},{at},ON,TORONTO,crm",
            f"offer_generated,1,{at},ON,TORONTO,crm",
        ]
    path.write_text("\n".join(lines) + "\n")
    return 4 * n


def test_workflow_2_daily_regression_check_throttles_and_release(db_url, cli, db, tmp_path):
    csv_path = tmp_path / "kpi-2027-01.csv"
    rows = _kpi_csv(csv_path, start=datetime(2027, 1, 10, tzinfo=UTC))
    imported = vh(db_url, "kpi", "import", str(csv_path), "--json")
    assert imported.exit_code == 0, imported.stderr
    assert imported.json["imported"] == rows == 1000
    for metric in ("ladder_created", "followup_completed", "buyer_feedback", "offer_generated"):
        assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = :m AND source = 'crm'",
                        m=metric) == 250

    # A live desk with one lead whose first SMS is due at 10:00 on Wednesday.
    assert cli("golive", "enable", "--reason", "go", "--at", "2027-01-13T05:00").exit_code == 0
    made = cli("ladder", "create", "L-2", "--province", "ON", "--market", "TORONTO", "--at",
               "2027-01-13T10:00", "--phone", "+14165550122", "--consent", "express", "--json")
    assert made.exit_code == 0, made.stderr

    # The 06:00 cron run: followup_completed fell 44 %, significantly: the followups lever trips.
    evaluated = vh(db_url, "--actor", "cron", "regression", "evaluate", "--at",
                   "2027-01-13T06:00", "--json")
    assert evaluated.exit_code == 1
    by_metric = {r["metric"]: r for r in evaluated.json}
    row = by_metric["followup_completed"]
    assert (row["status"], row["lever"], row["statistic"]) == ("throttled", "followups", "mean")
    assert row["baseline"] == pytest.approx(0.9) and row["recent"] == pytest.approx(0.5)
    assert row["drop_pct"] == pytest.approx(100 * 0.4 / 0.9, abs=0.01)
    assert row["z"] > 2.326
    for steady in ("ladder_created", "buyer_feedback", "offer_generated"):
        assert by_metric[steady]["status"] == "ok", by_metric[steady]
        assert by_metric[steady]["drop_pct"] == pytest.approx(0.0)
    assert "followups" in evaluated.stderr

    # The dispatcher is refused: nothing on stdout for the sender, nothing claimed.
    refused = vh(db_url, "ladder", "dispatch", "--at", "2027-01-13T10:00", "--format", "jsonl")
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert "throttled" in refused.stderr
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE status = 'pending'") == 6

    state = vh(db_url, "regression", "state", "--json")
    assert state.exit_code == 0, state.stderr
    levers = {s["lever"]: s for s in state.json}
    assert levers["followups"]["throttled"] is True
    assert levers["followups"]["metric"] == "followup_completed"
    assert levers["followups"]["since"] == "2027-01-13T11:00:00Z"
    assert levers["offers"]["throttled"] is False
    runbook = cli("runbook", "status", "--at", "2027-01-13T09:00", "--json")
    assert runbook.exit_code == 1
    checks = {c["name"]: c for c in runbook.json["checks"]}
    assert checks["regression"]["status"] == "fail"

    # Post-mortem done; a human releases the lever and the dispatcher runs again.
    released = vh(db_url, "--actor", "dana", "regression", "release", "followups", "--reason",
                  "SMS provider outage fixed", "--at", "2027-01-13T09:30", "--json")
    assert released.exit_code == 0, released.stderr
    assert released.json["changed"] is True
    assert released.json["state"]["throttled"] is False
    dispatched = vh(db_url, "ladder", "dispatch", "--at", "2027-01-13T10:00", "--format", "jsonl")
    assert dispatched.exit_code == 0, dispatched.stderr
    assert [(c["lead_id"], c["step"], c["channel"]) for c in dispatched.jsonl] == [
        ("L-2", 1, "SMS")]

    with db.engine.connect() as conn:
        audit = conn.exec_driver_sql(
            "SELECT action, actor, subject, reason FROM audit_event WHERE pack = 'regression' "
            "ORDER BY id").all()
    assert [tuple(a[:3]) for a in audit] == [("throttle", "cron", "followups"),
                                             ("release", "dana", "followups")]
    assert audit[1][3] == "SMS provider outage fixed"


# --- Workflow 3: Friday Heimdall promotion ------------------------------------------------------

def test_workflow_3_friday_heimdall_promotion(db_url, cli, db):
    from valhalla_cli.services import heimdall

    # A month of shadow recommendations above min_confidence: 28 of 30 worked out.
    start = datetime(2026, 12, 14, 15, tzinfo=UTC)
    with db.transaction(write=True) as session:
        for i in range(30):
            at = start + timedelta(days=i)
            rec = heimdall.record(session, domain="offer_pricing", confidence=0.85 + i % 3 / 100,
                                  subject=f"deal-{i}", actor="model", at=at, enforce=True)
            assert rec.decision == "shadow"
            heimdall.record_outcome(session, recommendation_id=rec.recommendation_id,
                                    success=i not in (7, 19), actor="ops",
                                    at=at + timedelta(hours=4), business_timezone="UTC")
    # One below min_confidence: rejected, and not counted by the scorecard.
    low = cli("heimdall", "record", "offer_pricing", "--confidence", "0.5", "--subject", "x",
              "--at", AT, "--json")
    assert low.exit_code == 1 and low.json["decision"] == "reject"

    card = vh(db_url, "heimdall", "scorecard", "--domain", "offer_pricing", "--at", AT, "--json")
    assert card.exit_code == 0, card.stderr
    assert len(card.json) == 1
    row = card.json[0]
    assert (row["domain"], row["mode"], row["samples"], row["successes"]) == (
        "offer_pricing", "sandbox", 30, 28)
    assert row["success_rate"] == pytest.approx(28 / 30)
    assert row["wilson_lower"] == pytest.approx(0.817, abs=5e-4)
    assert row["eligible"] is True

    promoted = vh(db_url, "heimdall", "promote", "offer_pricing", "--reason",
                  "Friday review: 28/30 in shadow", "--at", AT, "--json")
    assert promoted.exit_code == 0, promoted.stderr
    assert promoted.json["mode"] == "production"
    assert promoted.json["samples"] == 30
    assert promoted.json["wilson_lower"] == pytest.approx(0.817, abs=5e-4)
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'heimdall' "
                        "AND action = 'promote' AND subject = 'offer_pricing'") == 1

    # Production, but not live yet: still shadow.
    shadow = cli("heimdall", "record", "offer_pricing", "--confidence", "0.9", "--subject",
                 "deal-30", "--at", AT, "--json")
    assert shadow.exit_code == 1 and shadow.json["reason"] == "golive_disabled"
    assert cli("golive", "enable", "--reason", "go", "--at", AT).exit_code == 0
    act = vh(db_url, "heimdall", "record", "offer_pricing", "--confidence", "0.9", "--subject",
             "deal-31", "--at", AT, "--json")
    assert act.exit_code == 0, act.stderr
    assert (act.json["domain"], act.json["mode"], act.json["decision"]) == (
        "offer_pricing", "production", "act")
    assert act.json["confidence"] == pytest.approx(0.9)
    assert db_count(db, "SELECT COUNT(*) FROM heimdall_recommendation "
                        "WHERE decision = 'act'") == 1
