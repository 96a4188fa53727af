"""What an operator meets in the first week (the customer's text, the ladder's order, every
"no" with its next step, set-up): one test per finding, on both engines."""


import pytest
from conftest import db_count, snapshot_tables

AT = "2027-01-15T10:00:00-05:00"  # a Friday, Toronto


@pytest.fixture(autouse=True)
def _business(monkeypatch):
    monkeypatch.setenv("VALHALLA_BUSINESS_NAME", "Maple Home Buyers")
    monkeypatch.setenv("VALHALLA_BUSINESS_CALLBACK", "+14165550100")


def live(cli):
    assert cli("golive", "enable", "--reason", "test").exit_code == 0


def ok(result):
    assert result.exit_code == 0, result.stderr
    return result


# --- 1. "we buy houses in Ns" -------------------------------------------------------------------

def test_item1_market_falls_back_to_the_province_name_in_the_text_language(cli):
    ok(cli("ladder", "create", "L-NS", "--province", "NS", "--phone", "+19025550101",
           "--name", "Sean O'Brien", "--consent", "express", "--at", AT))
    ok(cli("ladder", "create", "L-QC", "--province", "QC", "--phone", "+15145550101",
           "--consent", "express", "--at", AT))
    english = ok(cli("template", "preview", "L-NS", "--json")).json
    assert english["step"] == 1 and english["language"] == "en"
    assert "we buy houses in Nova Scotia and" in english["text"]
    assert " Ns " not in english["text"]
    french = ok(cli("template", "preview", "L-QC", "--json")).json
    assert "des maisons à Québec et" in french["text"]
    assert french["language"] == "fr" and french["market"] == "Québec"
    # the preview is the text dispatch hands the sender, to the character
    live(cli)
    sent = ok(cli("ladder", "dispatch", "--at", AT, "--format", "jsonl")).jsonl
    by_lead = {c["lead_id"]: c["message"] for c in sent}
    assert by_lead["L-NS"] == english["text"]
    assert by_lead["L-QC"] == french["text"]


def test_item1_template_preview_step_table_and_refusals(cli, db):
    ok(cli("lead", "add", "L-9", "--province", "NL", "--market", "st. john's", "--phone",
           "+17095550101", "--at", AT))
    before = snapshot_tables(db)
    table = ok(cli("template", "preview", "L-9", "--step", "3"))
    assert "St. John's" in table.stdout  # not str.title()'s "St. John'S"
    assert ok(cli("template", "preview", "L-9", "--step", "3", "--json")).json["step"] == 3
    call = cli("template", "preview", "L-9", "--step", "2")
    assert call.exit_code == 2 and "CALL step" in call.stderr
    missing = cli("template", "preview", "L-404")
    assert missing.exit_code == 2 and "L-404" in missing.stderr
    assert snapshot_tables(db) == before


def test_item1_every_province_has_a_name_in_both_languages():
    from valhalla_cli.inputs import PROVINCES
    from valhalla_cli.services.template import place_name

    for code in PROVINCES:
        for language in ("en", "fr"):
            name = place_name(None, code, language)
            assert len(name) > 3 and name != code.title(), (code, language)
    assert place_name(None, "NS", "fr") == "Nouvelle-Écosse"
    assert place_name("TROIS-RIVIÈRES", "QC", "fr") == "Trois-Rivières"


# --- 2. an accent lost ------------------------------------------------------------------------

def test_item2_a_spelling_that_finds_the_market_never_replaces_the_stored_one(cli, db):
    ok(cli("lead", "add", "L-2002", "--province", "QC", "--market", "Montréal", "--phone",
           "+15145550102", "--at", AT))
    created = ok(cli("ladder", "create", "L-2002", "--province", "QC", "--market", "Montreal",
                     "--consent", "express", "--at", AT, "--json"))
    assert created.json["created"] is True
    assert db_count(db, "SELECT COUNT(*) FROM lead WHERE market = 'MONTRÉAL'") == 1
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE market = 'MONTREAL'") == 0
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE market = 'MONTRÉAL'") == 6
    again = ok(cli("lead", "add", "L-2002", "--market", "MONTREAL", "--at", AT, "--json")).json
    assert again["market"] == "MONTRÉAL" and again["changed"] == []
    shown = ok(cli("ladder", "show", "L-2002", "--json")).json
    assert shown[0]["market"] == "MONTRÉAL"
    text = ok(cli("template", "preview", "L-2002", "--json")).json["text"]
    assert "à Montréal et" in text
    # another market is still a change
    moved = ok(cli("lead", "add", "L-2002", "--market", "Laval", "--at", AT, "--json")).json
    assert moved["market"] == "LAVAL" and moved["changed"] == ["market"]


# --- 3. an acceptance above the maximum offer -------------------------------------------------

def _sent_offer(cli):
    ok(cli("offer", "policy-set", "ON", "--enable", "--reason", "pilot", "--at", AT))
    ok(cli("golive", "enable", "--reason", "go", "--at", AT))
    out = ok(cli("offer", "compute", "ON", "--market", "TORONTO", "--arv", "450000",
                 "--repairs", "50000", "--at", AT, "--json")).json
    assert out["max_offer"] == "255000.00"
    ok(cli("offer", "outcome", str(out["evidence_id"]), "--status", "sent", "--at",
           "2027-01-15T11:00:00-05:00"))
    return str(out["evidence_id"])


def test_item3_accepting_above_max_offer_is_refused_unless_a_reason_is_given(cli, db):
    evidence = _sent_offer(cli)
    before = db_count(db, "SELECT COUNT(*) FROM offer_outcome")
    over = cli("offer", "outcome", evidence, "--status", "accepted", "--amount", "260000",
               "--at", "2027-01-16T10:00:00-05:00", "--json")
    assert over.exit_code == 1
    assert over.json["reason"] == "over_max" and over.json["recorded"] is False
    assert "over_max" in over.stderr and "--over-max-reason" in over.stderr
    assert "5,000.00 above" in over.stderr
    assert db_count(db, "SELECT COUNT(*) FROM offer_outcome") == before
    taken = ok(cli("offer", "outcome", evidence, "--status", "accepted", "--amount", "260000",
                   "--over-max-reason", "seller's roof already replaced",
                   "--at", "2027-01-16T10:00:00-05:00", "--json")).json
    assert taken["recorded"] is True
    assert taken["over_max_reason"] == "seller's roof already replaced"
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE action = 'outcome' AND "
                        "reason = 'seller''s roof already replaced'") == 1
    funnel = ok(cli("offer", "funnel", "--since", "2027-01-15", "--until", "2027-01-16",
                    "--at", "2027-01-16T12:00:00-05:00", "--json")).json
    assert funnel["accepted"] == 1 and funnel["over_max"] == 1
    by_market = ok(cli("offer", "funnel", "--since", "2027-01-15", "--until", "2027-01-16",
                       "--by", "market", "--at", "2027-01-16T12:00:00-05:00", "--json")).json
    assert by_market[0]["over_max"] == 1


def test_item3_at_or_below_max_offer_needs_no_reason_and_a_reason_needs_acceptance(cli, db):
    evidence = _sent_offer(cli)
    wrong = cli("offer", "outcome", evidence, "--status", "rejected", "--over-max-reason", "x",
                "--at", "2027-01-16T10:00:00-05:00")
    assert wrong.exit_code == 2 and "--over-max-reason" in wrong.stderr
    ok(cli("offer", "outcome", evidence, "--status", "accepted", "--amount", "255000",
           "--at", "2027-01-16T10:00:00-05:00"))
    funnel = ok(cli("offer", "funnel", "--since", "2027-01-15", "--until", "2027-01-16",
                    "--at", "2027-01-16T12:00:00-05:00", "--json")).json
    assert funnel["accepted"] == 1 and funnel["over_max"] == 0


# --- 4. ladder steps out of order, and an SLA miss the tool made -------------------------------

def _friday_ladder(cli):
    """The tour's policy (texts mon-fri 09:30-19:00 in Toronto) and a ladder made on Friday
    2027-01-15 at 10:00."""
    ok(cli("market", "policy-set", "ON", "--market", "TORONTO", "--window",
           "SMS mon-fri 09:30-19:00", "--at", AT))
    return ok(cli("ladder", "create", "L-7", "--province", "ON", "--market", "TORONTO",
                  "--phone", "+14165550177", "--consent", "express", "--at", AT,
                  "--json")).json["tasks"]


def test_item4_a_step_is_never_planned_before_the_step_before_it(cli):
    tasks = _friday_ladder(cli)
    due = {t["step"]: t["due_at"] for t in tasks}
    assert due[3] == "2027-01-18T14:30:00Z"  # Saturday's text waits for Monday 09:30
    assert due[4] == "2027-01-18T14:30:00Z"  # the Sunday call waits for it (was 01-17 15:00)
    assert [t["due_at"] for t in tasks] == sorted(t["due_at"] for t in tasks)


def test_item4_the_sla_clock_starts_when_the_task_could_first_be_sent(cli):
    tasks = _friday_ladder(cli)
    ids = {t["step"]: str(t["task_id"]) for t in tasks}
    ok(cli("ladder", "complete", ids[1], "--outcome", "sent", "--at", "2027-01-15T10:01"))
    ok(cli("ladder", "complete", ids[2], "--outcome", "no_answer", "--at", "2027-01-15T10:06"))
    ok(cli("ladder", "complete", ids[3], "--outcome", "sent", "--at", "2027-01-18T09:31"))
    call = ok(cli("ladder", "complete", ids[4], "--outcome", "voicemail", "--at",
                  "2027-01-18T09:40", "--json")).json
    # from 09:31, when the text before it was sent (was 1 420 minutes from Sunday: missed)
    assert call["response_minutes"] == 9.0 and call["within_sla"] is True
    # the step before finished a day late: the clock starts then (its window open), not at
    # the due time nobody could meet
    ok(cli("ladder", "complete", ids[5], "--outcome", "sent", "--at", "2027-01-22T11:00"))
    last = ok(cli("ladder", "complete", ids[6], "--outcome", "voicemail", "--at",
                  "2027-01-22T11:05", "--json")).json
    assert last["response_minutes"] == 5.0
    late = ok(cli("ladder", "create", "L-8", "--province", "ON", "--market", "TORONTO",
                  "--phone", "+14165550178", "--consent", "express", "--at",
                  "2027-01-19T10:00", "--json")).json["tasks"]
    ok(cli("ladder", "complete", str(late[0]["task_id"]), "--outcome", "sent", "--at",
           "2027-01-19T20:30"))  # after the evening call window: the clock waits for 09:00
    waited = ok(cli("ladder", "complete", str(late[1]["task_id"]), "--outcome", "no_answer",
                    "--at", "2027-01-20T09:15", "--json")).json
    assert waited["response_minutes"] == 15.0


# --- 5. the stuck-claim fix invents an outcome -------------------------------------------------

def _claimed(cli):
    ok(cli("ladder", "create", "L-5", "--province", "ON", "--phone", "+14165550155",
           "--consent", "express", "--at", AT))
    live(cli)
    return ok(cli("ladder", "dispatch", "--at", AT, "--format", "jsonl")).jsonl[0]


def test_item5_ladder_release_puts_a_stuck_claim_back_without_an_outcome(cli, db):
    claim = _claimed(cli)
    task = str(claim["task_id"])
    status = cli("runbook", "status", "--at", "2027-01-15T11:00:00-05:00", "--json")
    check = next(c for c in status.json["checks"] if c["name"] == "followups")
    assert check["status"] == "fail" and check["fix"].startswith(f"valhalla ladder release {task}")
    assert "complete" not in check["fix"] and "outcome" not in check["fix"]
    blank = cli("ladder", "release", task, "--reason", " ")
    assert blank.exit_code == 2
    released = ok(cli("ladder", "release", task, "--reason", "sender crashed", "--at",
                      "2027-01-15T11:00:00-05:00", "--json"))
    assert released.json["released"] is True and released.json["status"] == "pending"
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE id = :t AND status = "
                        "'pending' AND outcome IS NULL AND claim_token IS NULL", t=task) == 1
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE action = 'release' AND "
                        "reason = 'sender crashed'") == 1
    # the old token cannot complete it any more; the next dispatch hands it out again
    stale = cli("ladder", "complete", task, "--outcome", "sent", "--claim-token",
                claim["claim_token"], "--at", "2027-01-15T11:01:00-05:00")
    assert stale.exit_code == 1
    again = ok(cli("ladder", "dispatch", "--at", "2027-01-15T11:02:00-05:00", "--format",
                   "jsonl")).jsonl
    assert [c["task_id"] for c in again] == [claim["task_id"]] and again[0]["attempt"] == 2
    runbook = cli("runbook", "status", "--at", "2027-01-15T11:03:00-05:00", "--json")
    assert next(c for c in runbook.json["checks"] if c["name"] == "followups")["status"] == "ok"
    # a pending task: nothing to release (no-op); a finished one: a no
    ok(cli("ladder", "complete", task, "--outcome", "sent", "--at", "2027-01-15T11:04:00-05:00"))
    finished = cli("ladder", "release", task, "--reason", "x", "--json")
    assert finished.exit_code == 1 and finished.json["reason"] == "already_finished"
    assert "already finished" in finished.stderr


# --- 6. a wrong outcome cannot be corrected --------------------------------------------------

def _call_done(cli, outcome):
    ok(cli("ladder", "create", "L-6", "--province", "ON", "--phone", "+14165550166",
           "--consent", "express", "--at", AT, "--json"))
    tasks = ok(cli("ladder", "show", "L-6", "--json")).json[0]["tasks"]
    ok(cli("ladder", "complete", str(tasks[0]["task_id"]), "--outcome", "sent", "--at", AT))
    ok(cli("ladder", "complete", str(tasks[1]["task_id"]), "--outcome", outcome, "--at",
           "2027-01-15T10:10:00-05:00"))
    return str(tasks[1]["task_id"])


def _statuses(cli):
    return [t["status"] for t in ok(cli("ladder", "show", "L-6", "--json")).json[0]["tasks"]]


def test_item6_amend_to_a_stop_keeps_the_first_answer_and_stops_the_ladder(cli, db):
    task = _call_done(cli, "voicemail")
    late = cli("ladder", "complete", task, "--outcome", "contacted")
    assert late.exit_code == 1
    assert f"valhalla ladder amend {task} --outcome contacted --reason" in late.stderr
    amended = ok(cli("ladder", "amend", task, "--outcome", "contacted", "--reason",
                     "the seller picked up", "--at", "2027-01-15T10:30:00-05:00", "--json")).json
    assert (amended["outcome"], amended["previous_outcome"], amended["ladder_stopped"],
            amended["cancelled"]) == ("contacted", "voicemail", True, 4)
    assert _statuses(cli) == ["done", "done"] + ["cancelled"] * 4
    shown = ok(cli("ladder", "show", "L-6", "--json")).json[0]["tasks"][1]
    assert shown["outcome"] == "contacted" and "voicemail" in shown["status_reason"]
    events = [e for e in ok(cli("audit", "--pack", "ladder", "--json")).json
              if e["action"] == "amend"]
    assert len(events) == 1 and events[0]["before"] == {"outcome": "voicemail"}
    assert events[0]["reason"] == "the seller picked up"
    # the same outcome again changes nothing
    again = ok(cli("ladder", "amend", task, "--outcome", "contacted", "--reason", "x", "--json"))
    assert again.json["amended"] is False
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE action = 'amend'") == 1


def test_item6_amend_to_a_continue_reopens_the_ladder(cli, db):
    task = _call_done(cli, "contacted")
    assert _statuses(cli) == ["done", "done"] + ["cancelled"] * 4
    amended = ok(cli("ladder", "amend", task, "--outcome", "no_answer", "--reason",
                     "it was the voicemail greeting", "--json")).json
    assert amended["reopened"] == 4 and amended["ladder_stopped"] is False
    assert _statuses(cli) == ["done", "done"] + ["pending"] * 4
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE ready = :yes AND "
                        "status = 'pending'", yes=True) == 1  # only the next step is ready


def test_item6_amend_refusals(cli, db):
    task = _call_done(cli, "opt_out")
    before = snapshot_tables(db)
    lifted = cli("ladder", "amend", task, "--outcome", "no_answer", "--reason", "x", "--json")
    assert lifted.exit_code == 1 and lifted.json["reason"] == "opt_out_recorded"
    assert "valhalla lead consent L-6 --kind express" in lifted.stderr
    bad = cli("ladder", "amend", task, "--outcome", "maybe", "--reason", "x")
    assert bad.exit_code == 2
    pending = ok(cli("ladder", "show", "L-6", "--json")).json[0]["tasks"][0]["task_id"]
    missing = cli("ladder", "amend", "999", "--outcome", "sent", "--reason", "x")
    assert missing.exit_code == 2 and pending
    assert snapshot_tables(db) == before


# --- every "no" is a sentence with its next step ----------------------------------------------

def _lead_604(cli, *consent):
    ok(cli("lead", "add", "L-604", "--province", "ON", "--phone", "+16045550101", "--at",
           "2027-01-01T09:00"))
    if consent:
        ok(cli("lead", "consent", "L-604", "--kind", "express", "--evidence", "web form",
               "--at", "2027-01-01T09:00"))


def test_refusal_outside_window_names_the_closed_zone_its_time_and_the_next_opening(cli):
    _lead_604(cli, "consent")
    no = cli("market", "can-contact", "--lead", "L-604", "--channel", "CALL", "--at", AT,
             "--json")
    assert no.exit_code == 1
    assert no.json["reason"] == "outside_window"  # the code stays
    assert no.json["closed_zones"] == ["America/Vancouver"]
    assert no.json["next_open_at"] == "2027-01-15T16:00:00Z"
    assert "Vancouver 08:00 (604 number)" in no.stderr and "opens 11:00 Toronto" in no.stderr
    assert no.json["message"] in no.stderr
    night = cli("market", "can-contact", "--lead", "L-604", "--channel", "CALL", "--at",
                "2027-01-15T21:00")
    assert "opens Sat 2027-01-16" in night.stderr and len(night.stderr.splitlines()) == 1


def test_refusal_holiday_names_the_holiday(cli):
    _lead_604(cli, "consent")
    no = cli("market", "can-contact", "--lead", "L-604", "--channel", "CALL", "--at",
             "2027-02-15T13:00", "--json")
    assert no.exit_code == 1 and no.json["reason"] == "holiday"
    assert no.json["holiday"] == "Family Day" and "Family Day" in no.stderr
    assert "opens Tue 2027-02-16" in no.stderr


def test_refusal_no_consent_and_suppressed_name_the_consent_command(cli):
    _lead_604(cli)
    no = cli("market", "can-contact", "--lead", "L-604", "--channel", "SMS", "--at",
             "2027-01-15T13:00", "--json")
    assert no.json["reason"] == "no_consent"
    assert "valhalla lead consent L-604 --kind express|inquiry|business" in no.stderr
    ok(cli("market", "suppress", "L-604", "--reason", "replied STOP", "--at",
           "2027-01-15T12:00"))
    gone = cli("market", "can-contact", "--lead", "L-604", "--channel", "SMS", "--at",
               "2027-01-15T13:00", "--json")
    assert gone.json["reason"] == "suppressed"
    assert "only new express consent lifts it" in gone.stderr
    assert "valhalla lead consent L-604 --kind express" in gone.stderr


def test_refusal_dispatch_not_live_names_golive_enable(cli):
    ok(cli("ladder", "create", "L-1", "--province", "ON", "--at", AT))
    no = cli("ladder", "dispatch", "--at", AT)
    assert no.exit_code == 1 and "valhalla golive enable --reason" in no.stderr


def test_refusal_golive_names_the_failing_check_and_its_fix(cli):
    ok(cli("golive", "checklist", "add", "dncl", "--title", "DNCL active", "--at", AT))
    no = cli("golive", "enable", "--reason", "go", "--at", AT, "--json")
    assert no.exit_code == 1 and no.json["reason"] == "runbook_not_ok"
    assert "unsigned checklist items: dncl" in no.stderr
    assert "valhalla golive checklist sign dncl" in no.stderr
    assert no.json["message"].endswith("(fix: valhalla golive checklist sign dncl)")


def test_refusal_dncl_status_and_check_name_the_import(cli):
    empty = ok(cli("dncl", "status", "--at", AT, "--json"))
    assert empty.json == []
    assert "valhalla dncl import" in empty.stderr
    check = cli("dncl", "check", "+14165550199", "--at", AT)
    assert check.exit_code == 1 and "not_checked" in check.stderr
    assert "valhalla dncl import" in check.stderr and "416" in check.stderr


def test_refusal_liquidity_unknown_says_how_many_sends_it_needs(cli):
    for i in range(4):
        ok(cli("liquidity", "feedback", "ON", "--market", "TORONTO", "--buyer", f"B-{i}",
               "--responded", "--at", "2027-01-10T12:00"))
    out = ok(cli("liquidity", "score", "ON", "--market", "TORONTO", "--at", AT, "--json"))
    assert out.json["band"] == "unknown"
    assert "needs 10 buyer sends" in out.json["note"] and "(4 so far)" in out.json["note"]
    assert "(4 so far)" in out.stderr


def test_refusal_scorecard_young_contract_cohort_is_pending_not_missed(cli):
    ok(cli("offer", "policy-set", "ON", "--enable", "--reason", "pilot", "--at",
           "2027-06-01T09:00"))
    ok(cli("golive", "enable", "--reason", "go", "--at", "2027-06-01T09:00"))
    for day in (20, 21):
        made = ok(cli("offer", "compute", "ON", "--market", "TORONTO", "--arv", "450000",
                      "--repairs", "50000", "--at", f"2027-06-{day}T10:00", "--json")).json
        ok(cli("offer", "outcome", str(made["evidence_id"]), "--status", "sent", "--at",
               f"2027-06-{day}T11:00"))
    young = cli("scorecard", "--since", "2027-06-01", "--until", "2027-06-30", "--at",
                "2027-07-02T10:00", "--json")
    assert young.exit_code == 0, young.stderr
    found = {m["metric"]: m for m in young.json["metrics"]}["offer_contract_rate"]
    assert (found["value"], found["met"], found["state"]) == (0.0, None, "pending")
    assert "offer_contract_rate" not in young.json["missed"]
    assert "less than 30 days" in young.stderr
    old = cli("scorecard", "--since", "2027-06-01", "--until", "2027-06-30", "--at",
              "2027-08-15T10:00", "--json")
    assert old.exit_code == 1 and "offer_contract_rate" in old.json["missed"]


# --- set-up ----------------------------------------------------------------------------------

def test_setup_runbook_status_ends_with_a_verdict_on_a_terminal_only(cli, monkeypatch):
    monkeypatch.delenv("VALHALLA_BUSINESS_NAME")
    monkeypatch.delenv("VALHALLA_BUSINESS_CALLBACK")
    checks = ok(cli("runbook", "status", "--json", "--at", AT)).json["checks"]
    # dncl, messages, offers and, on SQLite, backup (PostgreSQL's backups are the server's)
    warned = sum(1 for c in checks if c["status"] == "warn")
    assert warned == (4 if cli.url.startswith("sqlite") else 3)
    table = ok(cli("runbook", "status", "--format", "table", "--at", AT))
    assert table.stdout.rstrip().splitlines()[-1] == (
        f"OK to enable go-live: yes — {warned} warnings")
    tsv = ok(cli("runbook", "status", "--format", "tsv", "--at", AT))
    assert "OK to enable" not in tsv.stdout and len(tsv.stdout.splitlines()) == 1 + len(checks)
    assert "OK to enable" not in ok(cli("runbook", "status", "--json", "--at", AT)).stdout
    ok(cli("golive", "checklist", "add", "dncl", "--title", "DNCL active", "--at", AT))
    failing = cli("runbook", "status", "--format", "table", "--at", AT)
    assert failing.exit_code == 1
    assert failing.stdout.rstrip().splitlines()[-1] == (
        f"OK to enable go-live: no — 1 failing check (golive), {warned} warnings")


def test_setup_messages_fix_points_at_a_file_that_exists(cli, monkeypatch):
    from pathlib import Path

    monkeypatch.delenv("VALHALLA_BUSINESS_NAME")
    monkeypatch.delenv("VALHALLA_BUSINESS_CALLBACK")

    def messages():
        report = cli("runbook", "status", "--json", "--at", AT).json
        return next(c for c in report["checks"] if c["name"] == "messages")

    fresh = messages()
    assert fresh["status"] == "warn" and fresh["fix"].startswith("valhalla init (writes ")
    ok(cli("init"))
    after = messages()
    assert after["fix"].startswith("set [business] name and callback in ")
    assert Path(after["fix"].rsplit(" in ", 1)[1]).is_file()


def test_refusal_lead_show_says_each_channels_no_in_words(cli):
    _lead_604(cli)
    shown = ok(cli("lead", "show", "L-604", "--at", "2027-01-15T13:00", "--json")).json
    words = {c["channel"]: c["message"] for c in shown["contact"]}
    assert "valhalla lead consent L-604" in words["SMS"]


def test_refusal_ladder_create_says_why_and_what_to_run(cli):
    ok(cli("market", "policy-set", "PE", "--disable", "--at", AT))
    off = cli("ladder", "create", "L-PE", "--province", "PE", "--at", AT, "--json")
    assert off.exit_code == 1 and off.json["reason"] == "policy_disabled"
    assert "valhalla market policy-set PE --enable" in off.stderr
    ok(cli("market", "suppress", "L-S", "--reason", "replied STOP", "--at", AT))
    gone = cli("ladder", "create", "L-S", "--province", "ON", "--at", AT)
    assert gone.exit_code == 1 and "valhalla lead consent L-S --kind express" in gone.stderr
