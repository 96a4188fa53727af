"""`valhalla ladder` / `valhalla followups`: creation, dispatch, completion, SLA, import."""

import zlib
from datetime import UTC, datetime, timedelta

import pytest
from conftest import db_count, snapshot_tables

FRIDAY_EVENING = "2027-01-15T19:58:00-05:00"  # Toronto; the window closes at 20:00


@pytest.fixture(autouse=True)
def _business(monkeypatch):
    """These tests are about the ladder, not SPEC 17: every text identifies a business."""
    monkeypatch.setenv("VALHALLA_BUSINESS_NAME", "Maple Home Buyers")
    monkeypatch.setenv("VALHALLA_BUSINESS_CALLBACK", "+14165550100")


def phone_of(lead):
    """A Toronto number of the lead's own (leads sharing a number share suppression)."""
    return f"+1416555{zlib.crc32(lead.encode()) % 10000:04d}"


def live(cli):
    assert cli("golive", "enable", "--reason", "test").exit_code == 0


def create(cli, lead="lead-1", *extra, at=FRIDAY_EVENING):
    """A lead with a number and express consent (texts and calls are lawful: SPEC 17)."""
    result = cli("ladder", "create", lead, "--province", "ON", "--at", at, "--json",
                 "--phone", phone_of(lead), "--consent", "express", "--consent-at",
                 "2027-01-01T09:00", *extra)
    assert result.exit_code == 0, result.stderr
    return result.json


def dispatch(cli, at, *extra):
    result = cli("ladder", "dispatch", "--at", at, "--format", "jsonl", *extra)
    assert result.exit_code == 0, result.stderr
    return result.jsonl


def test_evening_ladder_lands_on_next_openings_across_the_weekend_and_is_idempotent(cli, db):
    ladder = create(cli, "lead-1", "--owner", "alice")
    assert ladder["created"] is True and ladder["reason"] is None
    plan = [(t["step"], t["channel"], t["due_at"], t["status"]) for t in ladder["tasks"]]
    assert plan == [
        (1, "SMS", "2027-01-16T00:58:00Z", "pending"),   # Fri 19:58, still open
        (2, "CALL", "2027-01-16T15:00:00Z", "pending"),  # 20:03 closed -> Sat 10:00
        (3, "SMS", "2027-01-17T15:00:00Z", "pending"),   # Sat 19:58 -> Sun 10:00
        (4, "CALL", "2027-01-18T14:00:00Z", "pending"),  # Sun 19:58 -> Mon 09:00
        (5, "SMS", "2027-01-20T00:58:00Z", "pending"),   # Tue 19:58, open
        (6, "CALL", "2027-01-23T00:58:00Z", "pending"),  # Fri 19:58, open
    ]
    again = cli("followups", "create", "lead-1", "--province", "ON", "--at",
                "2027-01-15T20:30:00-05:00", "--json")
    assert again.exit_code == 0
    assert again.json["created"] is False and again.json["ladder_id"] == ladder["ladder_id"]
    assert again.json["tasks"] == ladder["tasks"]
    assert db_count(db, "SELECT COUNT(*) FROM followup_task") == 6
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'ladder_created' "
                        "AND value = 1 AND province = 'ON'") == 1
    shown = cli("ladder", "show", "lead-1", "--json").json
    assert shown[0]["owner"] == "alice" and shown[0]["active"] is True
    assert [t["task_id"] for t in shown[0]["tasks"]] == [t["task_id"] for t in ladder["tasks"]]


def test_alias_is_hidden_but_works(cli):
    help_text = cli("--help").stdout
    assert "ladder" in help_text and "followups" not in help_text
    assert cli("followups", "--help").exit_code == 0
    create(cli, "lead-a")
    assert cli("followups", "show", "lead-a", "--json").json[0]["lead_id"] == "lead-a"


def test_dispatch_refused_when_not_live_or_throttled_prints_nothing(cli, db):
    create(cli)
    before = snapshot_tables(db)
    refused = cli("ladder", "dispatch", "--at", "2027-01-15T19:59:00-05:00", "--format", "jsonl")
    assert refused.exit_code == 1 and refused.stdout == ""
    assert "go-live is disabled" in refused.stderr
    assert snapshot_tables(db) == before
    preview = cli("ladder", "dispatch", "--dry-run", "--at", "2027-01-15T19:59:00-05:00",
                  "--format", "jsonl")
    assert preview.exit_code == 0 and preview.jsonl[0]["claim_token"] is None
    assert preview.jsonl[0]["step"] == 1
    assert snapshot_tables(db) == before
    live(cli)
    from valhalla_cli.models import RegressionState

    with db.transaction(write=True) as session:
        session.add(RegressionState(lever="followups", throttled=True,
                                    since=datetime(2027, 1, 15, tzinfo=UTC),
                                    reason="followup_completed dropped 30%"))
    before = snapshot_tables(db)
    throttled = cli("followups", "dispatch", "--at", "2027-01-15T19:59:00-05:00", "--json")
    assert throttled.exit_code == 1 and throttled.stdout == ""
    assert "throttled" in throttled.stderr
    assert snapshot_tables(db) == before


def test_dispatch_claims_in_window_and_respects_the_previous_step(cli, db):
    live(cli)
    ladder = create(cli)
    # 20:00 exactly: closed. The task is pushed to the next opening, not rescanned.
    assert dispatch(cli, "2027-01-15T20:00:00-05:00") == []
    row = cli("ladder", "show", "lead-1", "--json").json[0]["tasks"][0]
    assert row["due_at"] == "2027-01-16T15:00:00Z" and row["status"] == "pending"
    claims = dispatch(cli, "2027-01-16T10:30:00-05:00", "--lease", "10m", "--worker", "w1")
    assert [c["step"] for c in claims] == [1]  # step 2 is due too, but step 1 is not finished
    claim = claims[0]
    assert claim["attempt"] == 1 and claim["idempotency_key"] == f"task-{claim['task_id']}"
    assert claim["lease_expires_at"] == "2027-01-16T15:40:00Z"
    assert set(claim) == {"task_id", "ladder_id", "lead_id", "step", "channel", "province",
                          "market", "owner", "due_at", "claim_token", "lease_expires_at",
                          "attempt", "idempotency_key", "to", "language", "message"}
    assert claim["to"] == phone_of("lead-1") and claim["language"] == "en"
    assert "Maple Home Buyers" in claim["message"] and "STOP" in claim["message"]
    assert dispatch(cli, "2027-01-16T10:31:00-05:00") == []  # lease still held
    done = cli("ladder", "complete", str(claim["task_id"]), "--outcome", "sent",
               "--claim-token", claim["claim_token"], "--at", "2027-01-16T10:45:00-05:00",
               "--json")
    assert done.exit_code == 0
    assert done.json == {"task_id": claim["task_id"], "status": "done", "outcome": "sent",
                         "response_minutes": 45.0, "within_sla": True, "ladder_stopped": False,
                         "reason": None, "message": None}
    nxt = dispatch(cli, "2027-01-16T10:46:00-05:00")
    assert [(c["step"], c["channel"]) for c in nxt] == [(2, "CALL")]
    assert ladder["tasks"][1]["task_id"] == nxt[0]["task_id"]
    twice = cli("ladder", "complete", str(claim["task_id"]), "--outcome", "sent", "--json")
    assert twice.exit_code == 1 and twice.json["reason"] == "already_finished"
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'followup_completed' "
                        "AND value = 1") == 1


def test_expired_lease_reclaims_with_attempt_and_stale_token_is_fenced_out(cli, db):
    live(cli)
    create(cli)
    first = dispatch(cli, "2027-01-15T19:58:30-05:00", "--lease", "15m")[0]
    second = dispatch(cli, "2027-01-16T10:00:00-05:00")[0]  # lease long expired
    assert second["task_id"] == first["task_id"] and second["attempt"] == 2
    assert second["claim_token"] != first["claim_token"]
    before = snapshot_tables(db)
    stale = cli("ladder", "complete", str(first["task_id"]), "--outcome", "sent",
                "--claim-token", first["claim_token"], "--at", "2027-01-16T10:01:00-05:00",
                "--json")
    assert stale.exit_code == 1 and stale.json["reason"] == "lease_lost"
    assert "lease lost" in stale.stderr
    assert snapshot_tables(db) == before
    # Late completion (more than 2 h after due): followup_completed with value 0.
    late = cli("ladder", "complete", str(second["task_id"]), "--outcome", "no_answer",
               "--claim-token", second["claim_token"], "--at", "2027-01-16T10:02:00-05:00",
               "--json").json
    assert late["within_sla"] is False and late["response_minutes"] == 844.0
    assert db_count(db, "SELECT value FROM kpi_event WHERE metric = 'followup_completed'") == 0


def test_lease_expiring_max_attempts_times_fails_the_task_and_frees_the_next(cli):
    live(cli)
    create(cli)
    times = ["2027-01-16T10:00:00-05:00", "2027-01-16T10:20:00-05:00",
             "2027-01-16T10:40:00-05:00"]
    for n, at in enumerate(times, start=1):
        assert dispatch(cli, at)[0]["attempt"] == n
    after = dispatch(cli, "2027-01-16T11:00:00-05:00")
    assert [c["step"] for c in after] == [2]
    tasks = cli("ladder", "show", "lead-1", "--json").json[0]["tasks"]
    assert tasks[0]["status"] == "failed" and tasks[0]["attempt"] == 3


def test_opt_out_cancels_suppresses_and_refuses_new_ladders(cli, db):
    live(cli)
    create(cli)
    claim = dispatch(cli, "2027-01-15T19:59:00-05:00")[0]
    result = cli("ladder", "complete", str(claim["task_id"]), "--outcome", "opt_out",
                 "--claim-token", claim["claim_token"], "--at", "2027-01-15T20:05:00-05:00",
                 "--json")
    assert result.exit_code == 0 and result.json["ladder_stopped"] is True
    statuses = [t["status"] for t in cli("ladder", "show", "lead-1", "--json").json[0]["tasks"]]
    assert statuses == ["done"] + ["cancelled"] * 5
    assert db_count(db, "SELECT COUNT(*) FROM contact_suppression WHERE lead_id = 'lead-1'") == 1
    refused = cli("ladder", "create", "lead-1", "--province", "ON", "--json")
    assert refused.exit_code == 1 and refused.json["reason"] == "suppressed"
    assert refused.json["created"] is False and refused.json["tasks"] == []
    assert db_count(db, "SELECT COUNT(*) FROM followup_task") == 6


def test_dispatch_never_hands_out_a_suppressed_lead(cli, db):
    live(cli)
    create(cli, "lead-s")
    create(cli, "lead-ok")
    # Suppressed behind the ladder's back (e.g. by another tool): dispatch still refuses it.
    from valhalla_cli.models import ContactSuppression

    with db.transaction(write=True) as session:
        session.add(ContactSuppression(lead_id="lead-s", reason="STOP", actor="sms-gateway",
                                       at=datetime(2027, 1, 15, tzinfo=UTC)))
    claims = dispatch(cli, "2027-01-15T19:59:00-05:00")
    assert [c["lead_id"] for c in claims] == ["lead-ok"]
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE lead_id = 'lead-s' "
                        "AND status = 'cancelled'") == 6
    # `market suppress` cancels at once.
    out = cli("market", "suppress", "lead-ok", "--reason", "ARRÊT", "--json").json
    assert out["tasks_cancelled"] == 6
    assert dispatch(cli, "2027-01-20T12:00:00-05:00") == []


def test_stop_outcome_and_ladder_stop(cli):
    live(cli)
    create(cli, "lead-1")
    claim = dispatch(cli, "2027-01-15T19:59:00-05:00")[0]
    stopped = cli("ladder", "complete", str(claim["task_id"]), "--outcome", "appointment",
                  "--at", "2027-01-15T20:00:00-05:00", "--json").json
    assert stopped["ladder_stopped"] is True
    again = create(cli, "lead-1", at="2027-01-18T12:00:00-05:00")
    assert again["created"] is True
    stop = cli("ladder", "stop", "lead-1", "--reason", "deal closed", "--json").json
    assert stop == {"lead_id": "lead-1", "cancelled": 6, "ladder_ids": [again["ladder_id"]]}
    assert cli("ladder", "stop", "lead-1", "--reason", "again", "--json").json["cancelled"] == 0


def test_min_score_and_disabled_policy_on_create(cli):
    cli("market", "policy-set", "ON", "--min-lead-score", "50")
    missing = cli("ladder", "create", "lead-9", "--province", "ON")
    assert missing.exit_code == 2 and "--lead-score" in missing.stderr
    low = cli("ladder", "create", "lead-9", "--province", "ON", "--lead-score", "49", "--json")
    assert low.exit_code == 1 and low.json["reason"] == "lead_score_below_minimum"
    cli("market", "policy-set", "QC", "--disable")
    off = cli("ladder", "create", "lead-9", "--province", "QC", "--json")
    assert off.exit_code == 1 and off.json["reason"] == "policy_disabled"
    cli("market", "policy-set", "QC", "--enable", "--channels", "SMS")
    sms_only = cli("ladder", "create", "lead-9", "--province", "QC", "--at", FRIDAY_EVENING,
                   "--json").json
    assert [t["status"] for t in sms_only["tasks"]] == ["pending", "skipped"] * 3


def test_sla_report(cli, db):
    live(cli)
    for n in range(4):
        create(cli, f"lead-{n}", "--owner", "alice" if n < 3 else "bob",
               at="2027-01-18T09:00:00-05:00")
    claims = dispatch(cli, "2027-01-18T09:00:00-05:00")
    assert len(claims) == 4
    minutes = [10, 40, 100, 200]  # due 14:00Z
    for claim, late in zip(claims, minutes, strict=True):
        at = datetime(2027, 1, 18, 14, tzinfo=UTC) + timedelta(minutes=late)
        cli("ladder", "complete", str(claim["task_id"]), "--outcome", "sent",
            "--claim-token", claim["claim_token"], "--at", at.isoformat())
    report = cli("ladder", "sla", "--since", "2027-01-18", "--until", "2027-01-18",
                 "--at", "2027-01-18T16:30:00-05:00", "--json").json
    assert report["completed"] == 4
    assert report["within_30m_pct"] == 25.0 and report["within_2h_pct"] == 75.0
    assert report["median_response_minutes"] == 70.0
    assert report["p90_response_minutes"] == 200.0
    # step-2 CALLs were due at 09:05 + readiness; pending and > 2 h late at 16:30 EST
    assert report["overdue_now"] == 4
    assert report["target_within_2h_pct"] == 90.0 and report["meets_target"] is False
    by_owner = cli("ladder", "sla", "--since", "2027-01-18", "--until", "2027-01-18",
                   "--at", "2027-01-18T16:30:00-05:00", "--by", "owner", "--json").json
    assert [(r["owner"], r["completed"], r["within_2h_pct"]) for r in by_owner] == [
        ("alice", 3, 100.0), ("bob", 1, 0.0)]
    empty = cli("ladder", "sla", "--since", "2026-01-01", "--until", "2026-01-31",
                "--at", "2027-01-18T16:30:00-05:00", "--json").json
    assert empty["completed"] == 0 and empty["median_response_minutes"] is None


def test_runbook_fails_on_stuck_claims(cli):
    live(cli)
    create(cli)
    claim = dispatch(cli, "2027-01-15T19:59:00-05:00")[0]
    result = cli("runbook", "status", "--at", "2027-01-15T21:00:00-05:00", "--json")
    check = next(c for c in result.json["checks"] if c["name"] == "followups")
    assert result.exit_code == 1 and check["status"] == "fail"
    assert check["fix"] == (f"valhalla ladder release {claim['task_id']} --reason 'lease "
                            "expired, nobody reported'")


def test_bad_input_changes_nothing(cli, db, tmp_path):
    live(cli)
    create(cli)
    before = snapshot_tables(db)
    cases = [
        ("ladder", "create", "lead-2", "--province", "ZZ"),
        ("ladder", "create", "lead-2", "--province", "ON", "--lead-score", "101"),
        ("ladder", "create", "lead-2", "--province", "ON", "--market", "a/b"),
        ("ladder", "create", " ", "--province", "ON"),
        ("ladder", "create", "lead-2", "--province", "ON", "--at", "noon"),
        ("ladder", "import", str(tmp_path / "missing.csv")),
        ("ladder", "show", "nobody"),
        ("ladder", "due", "--limit", "0"),
        ("ladder", "dispatch", "--lease", "forever"),
        ("ladder", "dispatch", "--limit", "-5"),
        ("ladder", "dispatch", "--worker", " "),
        ("ladder", "complete", "1", "--outcome", "maybe"),
        ("ladder", "complete", "99999", "--outcome", "sent"),
        ("ladder", "complete", "x", "--outcome", "sent"),
        ("ladder", "complete", "1", "--outcome", "sent", "--claim-token", ""),
        ("ladder", "stop", "lead-1", "--reason", ""),
        ("ladder", "sla", "--by", "colour"),
        ("ladder", "sla", "--since", "2027-02-30"),
        ("ladder", "sla", "--since", "2027-02-01", "--until", "2027-01-01"),
    ]
    for args in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert snapshot_tables(db) == before


def test_import_creates_reports_refusals_and_emits_kpis(cli, db, tmp_path):
    cli("market", "suppress", "lead-x", "--reason", "STOP")
    cli("market", "policy-set", "MB", "--min-lead-score", "30")
    create(cli, "lead-dup")
    path = tmp_path / "leads.csv"
    path.write_text(
        "lead_id,province,market,owner,lead_score,start_at\n"
        "lead-a,ON,TORONTO,alice,55,2027-01-18T09:00:00-05:00\n"
        "lead-b,bc,,,,\n"
        "lead-x,ON,,,,\n"
        "lead-dup,ON,,,,\n"
        "lead-m,MB,,,10,\n"
        "lead-a,ON,,,,\n",
        encoding="utf-8")
    result = cli("ladder", "import", str(path), "--at", FRIDAY_EVENING, "--json")
    assert result.exit_code == 0, result.stderr
    body = result.json
    assert (body["created"], body["existing"], body["refused"]) == (2, 2, 2)
    assert body["refusals"] == [{"line": 4, "lead_id": "lead-x", "reason": "suppressed"},
                                {"line": 6, "lead_id": "lead-m",
                                 "reason": "lead_score_below_minimum"}]
    assert db_count(db, "SELECT COUNT(*) FROM followup_task") == 18
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'ladder_created'") == 3
    first = cli("ladder", "show", "lead-a", "--json").json[0]
    assert first["market"] == "TORONTO" and first["tasks"][0]["due_at"] == "2027-01-18T14:00:00Z"
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text('{"lead_id": "lead-j", "province": "QC", "lead_score": 70}\n',
                     encoding="utf-8")
    assert cli("ladder", "import", str(jsonl), "--json").json["created"] == 1


def test_malformed_import_is_rejected_whole_naming_the_line(cli, db, tmp_path):
    good = "".join(f"lead-{n},ON,,,,\n" for n in range(50))
    cases = {
        "bad_province.csv": ("lead_id,province,market,owner,lead_score,start_at\n" + good
                             + "lead-z,XX,,,,\n", ":52: field 'province'"),
        "bad_score.csv": ("lead_id,province,lead_score\nlead-1,ON,high\n",
                          ":2: field 'lead_score'"),
        "bad_time.csv": ("lead_id,province,start_at\nlead-1,ON,2027-01-01T09:00\n"
                         "lead-2,ON,soon\n", ":3: field 'start_at'"),
        "missing.csv": ("lead_id,market\nlead-1,TORONTO\n", ":1: missing required column"),
        "empty_lead.jsonl": ('{"lead_id": "a", "province": "ON"}\n{"province": "ON"}\n',
                             ":2: field 'lead_id'"),
    }
    before = snapshot_tables(db)
    for name, (content, expected) in cases.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        result = cli("ladder", "import", str(path))
        assert result.exit_code == 2, (name, result.stderr)
        assert f"{name}{expected}" in result.stderr, result.stderr
    assert snapshot_tables(db) == before


def test_a_bad_row_after_several_batches_leaves_no_lead_and_no_consent(cli, db, tmp_path):
    """The import upserts leads and appends consents batch by batch (250 leads), which no
    import batch id hides and the ledger never deletes: every row is checked before the first
    batch is written."""
    path = tmp_path / "leads.csv"
    good = "".join(f"lead-{n},ON,+1416555{n:04d},express\n" for n in range(600))
    path.write_text("lead_id,province,phone,consent\n" + good + "lead-bad,ON,555,express\n",
                    encoding="utf-8")
    before = snapshot_tables(db)
    result = cli("ladder", "import", str(path))
    assert result.exit_code == 2, result.stderr
    assert "leads.csv:602: field 'phone'" in result.stderr, result.stderr
    assert snapshot_tables(db) == before
    assert db_count(db, "SELECT COUNT(*) FROM lead") == 0
    assert db_count(db, "SELECT COUNT(*) FROM lead_consent") == 0
