"""`valhalla inbox` (SPEC 22): replies pause the ladder and open an item, keywords, answering
through a Twilio double, closing with each outcome, the refusal clock (both engines)."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import pytest
from conftest import ChangesNothing, db_count
from twilio_double import TwilioDouble

PHONE = "+14165550199"
AT = "2027-01-15T10:00:00-05:00"  # Friday morning in Toronto
REPLY_AT = "2027-01-15T10:01:00-05:00"


@pytest.fixture(autouse=True)
def _business(monkeypatch):
    monkeypatch.setenv("VALHALLA_BUSINESS_NAME", "Maple Home Buyers")
    monkeypatch.setenv("VALHALLA_BUSINESS_CALLBACK", "+14165550100")


@pytest.fixture
def double():
    with TwilioDouble() as running:
        running.now = lambda: datetime(2027, 1, 15, 15, 1, 0, tzinfo=UTC)
        yield running


class Setup:
    def __init__(self, cli, tmp_path, double: TwilioDouble) -> None:
        self.cli, self.double = cli, double
        self.config = tmp_path / "config.toml"
        self.config.write_text(double.config(), encoding="utf-8")

    def __call__(self, *args: str, **kwargs):
        return self.cli("--config", str(self.config), *args, **kwargs)

    def ok(self, *args: str) -> dict | list:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.stderr
        return result.json

    def ladder(self, lead: str = "L-1", phone: str = PHONE, at: str = AT,
               language: str = "en") -> dict:
        return self.ok("ladder", "create", lead, "--province", "ON", "--at", at, "--phone",
                       phone, "--consent", "express", "--consent-at", "2027-01-01T09:00",
                       "--owner", "ana", "--language", language)

    def inbound(self, body: str, at: str = REPLY_AT, phone: str = PHONE) -> dict:
        return self.ok("lead", "inbound", "--from", phone, "--body", body, "--at", at)


@pytest.fixture
def box(cli, tmp_path, double):
    setup = Setup(cli, tmp_path, double)
    assert setup("golive", "enable", "--reason", "test").exit_code == 0
    return setup


def _statuses(db, lead: str = "L-1") -> list[tuple]:
    from sqlalchemy import text

    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT step, status, status_reason FROM followup_task WHERE lead_id = :l "
            "ORDER BY step"), {"l": lead})]


def _dues(db, lead: str = "L-1") -> list[datetime]:
    from sqlalchemy import select

    from valhalla_cli.models import FollowupTask

    with db.transaction() as session:
        return list(session.scalars(select(FollowupTask.due_at)
                                    .where(FollowupTask.lead_id == lead)
                                    .order_by(FollowupTask.step)))


# --- a reply pauses the ladder and opens the item ---------------------------------------------

def test_a_reply_pauses_the_ladder_opens_one_item_and_nothing_hands_the_tasks_out(box, db,
                                                                                double):
    box.ladder()
    answer = box.inbound("Yes, what's your offer?")
    assert answer["action"] == "recorded" and answer["inbox_kind"] == "reply"
    assert answer["tasks_paused"] == 6
    assert {status for _, status, _ in _statuses(db)} == {"paused"}
    assert {reason for _, _, reason in _statuses(db)} == {"replied"}
    again = box.inbound("Call me after 5", at="2027-01-15T10:03:00-05:00")
    assert again["inbox_kind"] == "reply"
    items = box.ok("inbox", "--at", "2027-01-15T10:10:00-05:00")
    assert len(items) == 1
    [item] = items
    assert item["lead_id"] == "L-1" and item["owner"] == "ana" and item["kind"] == "reply"
    assert item["waiting_minutes"] == 9.0 and item["last_text"] == "Call me after 5"
    assert item["deadline"] is None
    assert db_count(db, "SELECT COUNT(*) FROM inbox_item") == 1
    # dispatch and send never hand out a paused task
    dispatched = box("ladder", "dispatch", "--at", "2027-01-20T10:00:00-05:00", "--format",
                     "jsonl")
    assert dispatched.exit_code == 0 and dispatched.jsonl == []
    sent = box("send", "--at", "2027-01-20T10:00:00-05:00")
    assert sent.exit_code == 0 and sent.jsonl == [] and double.creates() == []


def test_a_claimed_tasks_claim_is_void_after_a_reply(box, db):
    box.ladder()
    claimed = box("ladder", "dispatch", "--channel", "SMS", "--at", AT, "--format", "jsonl")
    assert claimed.exit_code == 0, claimed.stderr
    [task] = claimed.jsonl
    box.inbound("who is this?")
    done = box("ladder", "complete", str(task["task_id"]), "--outcome", "no_answer",
               "--claim-token", task["claim_token"], "--at", REPLY_AT)
    assert done.exit_code == 1 and "lease lost" in done.stderr
    assert _statuses(db)[0][1] == "paused"


def test_an_unknown_number_is_recorded_and_opens_no_item(box, db):
    answer = box.inbound("hello?", phone="+14165550144")
    assert answer["action"] == "recorded" and answer["lead_id"] is None
    assert db_count(db, "SELECT COUNT(*) FROM inbox_item") == 0


def test_a_refusal_in_words_keeps_its_kind_and_carries_the_deadline(box):
    box.ladder()
    box.inbound("Please stop texting me")
    box.inbound("ok thanks", at="2027-01-15T10:05:00-05:00")
    [item] = box.ok("inbox", "--kind", "refusal", "--at", "2027-01-15T10:06:00-05:00")
    assert item["kind"] == "refusal"
    # received Friday 15 January: B(10) is Friday 29 January, its end is midnight Toronto
    assert item["deadline"] == "2027-01-30T05:00:00Z"
    assert box.ok("inbox", "--kind", "reply", "--at", "2027-01-15T10:06:00-05:00") == []


def test_stop_cancels_paused_tasks_and_closes_the_item_as_opt_out(box, db):
    box.ladder()
    box.inbound("maybe")
    answer = box.inbound("STOP.", at="2027-01-15T10:02:00-05:00")
    assert answer["action"] == "opted_out"
    assert {status for _, status, _ in _statuses(db)} == {"cancelled"}
    assert box.ok("inbox", "--at", "2027-01-15T10:03:00-05:00") == []
    [item] = box.ok("inbox", "--all", "--at", "2027-01-15T10:03:00-05:00")
    assert item["kind"] == "reply"
    assert db_count(db, "SELECT COUNT(*) FROM inbox_item WHERE outcome = 'opt_out' AND "
                        "status = 'closed'") == 1


# --- keywords ---------------------------------------------------------------------------------

def test_start_from_an_opted_out_number_records_express_consent_and_lifts_the_suppression(box,
                                                                                        db):
    box.ladder(language="fr")
    box.inbound("ARRÊT")
    assert box.ok("lead", "show", "L-1", "--at", "2027-01-15T10:02:00-05:00")["suppressed"]
    answer = box.inbound("start", at="2027-01-15T10:05:00-05:00")
    assert answer["action"] == "opted_in"
    assert list(answer["reply"]) == ["fr"] and "Maple Home Buyers" in answer["reply"]["fr"]
    shown = box.ok("lead", "show", "L-1", "--at", "2027-01-15T10:06:00-05:00")
    assert shown["suppressed"] is False
    [express] = [c for c in shown["consents"] if c["kind"] == "express" and c["channel"] == "SMS"]
    assert "START" in express["evidence"] and PHONE in express["evidence"]
    assert db_count(db, "SELECT COUNT(*) FROM inbox_item") == 0


def test_start_from_a_number_not_opted_out_is_an_ordinary_reply(box, db):
    box.ladder()
    answer = box.inbound("Start by telling me the price")
    assert answer["action"] == "recorded" and answer["inbox_kind"] == "reply"
    assert db_count(db, "SELECT COUNT(*) FROM lead_consent WHERE kind = 'express' AND "
                        "channel = 'SMS'") == 0


@pytest.mark.parametrize(("word", "language", "stop"), [
    ("HELP", "en", "STOP"), ("info", "en", "STOP"), ("Aide", "fr", "ARRÊT")])
def test_help_info_aide_answer_the_identification_in_the_keywords_language(box, db, word,
                                                                           language, stop):
    box.ladder()
    answer = box.inbound(word)
    assert answer["action"] == "help" and list(answer["reply"]) == [language]
    text = answer["reply"][language]
    assert "Maple Home Buyers" in text and "+14165550100" in text and stop in text
    assert db_count(db, "SELECT COUNT(*) FROM inbox_item") == 0
    assert {status for _, status, _ in _statuses(db)} == {"pending"}


# --- answering --------------------------------------------------------------------------------

def test_a_reply_at_22_answered_at_0905_counts_within_5_minutes_from_the_window_opening(
        box, db, double):
    box.ladder()
    box.inbound("Is this about my house?", at="2027-01-14T22:00:00-05:00")
    closed = box("inbox", "reply", "L-1", "--text", "Yes! Can I call you?", "--at",
                 "2027-01-14T22:05:00-05:00")
    assert closed.exit_code == 1 and "outside_window" in closed.stderr
    assert double.creates() == []
    answer = box.ok("inbox", "reply", "L-1", "--text", "Good morning! Can I call you?",
                    "--at", "2027-01-15T09:05:00-05:00")
    assert answer["state"] == "accepted" and answer["first_answer"] is True
    assert answer["within_5m"] is True and answer["answer_minutes"] == 5.0
    [request] = double.creates()
    assert request.form["Body"] == ("Good morning! Can I call you? — Maple Home Buyers "
                                    "+14165550100. STOP to opt out")
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'reply_answered' "
                        "AND value = 1") == 1
    # a second answer is not a first answer
    again = box.ok("inbox", "reply", "L-1", "--text", "Maple Home Buyers here again",
                   "--at", "2027-01-15T09:30:00-05:00")
    assert again["first_answer"] is False
    assert double.creates()[-1].form["Body"] == "Maple Home Buyers here again"
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'reply_answered'") == 1
    sla = box.ok("inbox", "sla", "--since", "2027-01-14", "--until", "2027-01-15", "--at",
                 "2027-01-15T12:00:00-05:00")
    assert (sla["opened"], sla["answered"], sla["median_minutes_to_answer"],
            sla["within_5m_pct"], sla["open_refusals"]) == (1, 1, 5.0, 100.0, 0)
    shown = box.ok("inbox", "show", "L-1", "--at", "2027-01-15T12:00:00-05:00")
    assert [(line["direction"], line["state"]) for line in shown["conversation"]] == [
        ("inbound", "recorded"), ("outbound", "accepted"), ("outbound", "accepted")]
    lead = box.ok("lead", "show", "L-1", "--at", "2027-01-15T12:00:00-05:00")
    assert [line["direction"] for line in lead["conversation"]] == [
        "inbound", "outbound", "outbound"]


def test_an_answer_after_six_minutes_counts_zero(box, db):
    box.ladder()
    box.inbound("hi", at="2027-01-15T10:00:00-05:00")
    answer = box.ok("inbox", "reply", "L-1", "--text", "hello", "--at",
                    "2027-01-15T10:06:00-05:00")
    assert answer["within_5m"] is False
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'reply_answered' "
                        "AND value = 0") == 1


def test_record_inquiry_records_the_consent_with_the_last_message_as_evidence(box, db, double):
    box.ok("lead", "add", "L-9", "--province", "ON", "--phone", PHONE)
    box.inbound("I saw your sign, do you buy houses?")
    no = box("inbox", "reply", "L-9", "--text", "We do!", "--at", REPLY_AT)
    assert no.exit_code == 1 and "no_consent" in no.stderr and double.creates() == []
    answer = box.ok("inbox", "reply", "L-9", "--text", "We do!", "--record-inquiry", "--at",
                    REPLY_AT)
    assert answer["state"] == "accepted"
    assert db_count(db, "SELECT COUNT(*) FROM lead_consent WHERE kind = 'inquiry' AND "
                        "evidence LIKE '%do you buy houses%'") == 1


def _long(n: int) -> str:
    return ("x" * (n - len("Maple Home Buyers "))) + " Maple Home Buyers" if n > 20 else "x" * n


@pytest.mark.parametrize(("args", "code", "says"), [
    (("inbox", "reply", "NOBODY", "--text", "hi"), 2, "no lead"),
    (("inbox", "reply", "L-1", "--text", "   "), 2, "--text"),
    (("inbox", "reply", "L-1", "--text", ""), 2, "--text"),
    (("inbox", "reply", "L-1", "--text", "y" * 1601), 2, "1600"),
    (("inbox", "reply", "L-1", "--text", "y" * 1590), 2, "1600"),
    (("inbox", "close", "L-1", "--outcome", "later"), 2, "--outcome must be one of"),
    (("inbox", "close", "NOBODY", "--outcome", "resume"), 2, "no lead"),
    (("inbox", "reply", "L-1", "--text", "ok", "--record-inquiry"), 1, "refusal"),
])
def test_bad_input_and_refusals_change_nothing_and_send_nothing(box, db, double, args, code,
                                                                says):
    box.ladder()
    box.inbound("not interested")
    with ChangesNothing(db):
        result = box(*args, "--at", REPLY_AT)
    assert result.exit_code == code, result.stderr
    assert says in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert double.creates() == []


def test_a_text_of_exactly_1600_characters_naming_the_business_is_sent(box, double):
    box.ladder()
    box.inbound("hi")
    text = _long(1600)
    assert len(text) == 1600
    answer = box.ok("inbox", "reply", "L-1", "--text", text, "--at", REPLY_AT)
    assert answer["state"] == "accepted" and double.creates()[0].form["Body"] == text


# --- closing ----------------------------------------------------------------------------------

def test_resume_replans_the_paused_tasks_from_now_keeping_the_gaps(box, db):
    box.ladder()
    before = _dues(db)
    box.inbound("Busy now, text me Monday")
    closed = box.ok("inbox", "close", "L-1", "--outcome", "resume", "--at",
                    "2027-01-18T11:00:00-05:00")
    assert closed["tasks_resumed"] == 6
    after = _dues(db)
    assert after[0] == datetime(2027, 1, 18, 16, 0, tzinfo=UTC)
    assert [b - a for a, b in pairwise(after)] == [b - a for a, b in pairwise(before)]
    assert {status for _, status, _ in _statuses(db)} == {"pending"}
    assert box.ok("inbox", "--at", "2027-01-18T11:00:00-05:00") == []
    due = box("ladder", "dispatch", "--channel", "SMS", "--at", "2027-01-18T11:00:00-05:00",
              "--format", "jsonl")
    assert [t["step"] for t in due.jsonl] == [1]
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'inbox' AND "
                        "action = 'close'") == 1


def test_resume_moves_each_task_into_its_window(box, db):
    box.ladder()
    box.inbound("later")
    box.ok("inbox", "close", "L-1", "--outcome", "resume", "--at",
           "2027-01-18T19:58:00-05:00")
    after = _dues(db)
    assert after[0] == datetime(2027, 1, 19, 0, 58, tzinfo=UTC)  # 19:58, inside
    assert after[1] == datetime(2027, 1, 19, 14, 0, tzinfo=UTC)  # 20:03 -> Tuesday 09:00


@pytest.mark.parametrize("outcome", ["appointment", "contacted", "not_interested"])
def test_stop_outcomes_cancel_the_paused_tasks(box, db, outcome):
    box.ladder()
    box.inbound("sure, Tuesday works")
    closed = box.ok("inbox", "close", "L-1", "--outcome", outcome, "--note", "n", "--at",
                    "2027-01-15T11:00:00-05:00")
    assert closed["tasks_cancelled"] == 6
    assert {(s, r) for _, s, r in _statuses(db)} == {("cancelled", f"inbox: {outcome}")}
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'followup_completed'") \
        == 0


def test_wrong_number_detaches_the_number_and_refuses_putting_it_back(box, db, tmp_path):
    box.ladder()
    box.inbound("Wrong number, no Sam here")
    closed = box.ok("inbox", "close", "L-1", "--outcome", "wrong_number", "--at",
                    "2027-01-15T11:00:00-05:00")
    assert closed["phone_detached"] == PHONE
    assert box.ok("lead", "show", "L-1", "--at", "2027-01-15T11:01:00-05:00")["phone"] is None
    with ChangesNothing(db):
        again = box("lead", "add", "L-1", "--phone", PHONE)
        assert again.exit_code == 1 and "wrong number" in again.stderr
        ladder = box("ladder", "create", "L-1", "--province", "ON", "--phone", PHONE)
        assert ladder.exit_code == 1 and "wrong number" in ladder.stderr
    leads = tmp_path / "leads.csv"
    leads.write_text(f"lead_id,province,phone\nL-1,ON,{PHONE}\n", encoding="utf-8")
    imported = box("lead", "import", str(leads))
    assert imported.exit_code == 1 and "wrong number" in imported.stderr
    assert box.ok("lead", "show", "L-1")["phone"] is None
    # another lead may have the number
    assert box("lead", "add", "L-2", "--province", "ON", "--phone", PHONE).exit_code == 0


def test_opt_out_close_suppresses_the_number_and_cancels_every_task(box, db):
    box.ladder()
    box.inbound("Leave me alone")
    closed = box.ok("inbox", "close", "L-1", "--outcome", "opt_out", "--at",
                    "2027-01-15T11:00:00-05:00")
    assert closed["outcome"] == "opt_out"
    assert {status for _, status, _ in _statuses(db)} == {"cancelled"}
    assert box.ok("lead", "show", "L-1", "--at", "2027-01-15T11:01:00-05:00")["suppressed"]
    assert db_count(db, "SELECT COUNT(*) FROM inbox_item WHERE status = 'closed' AND "
                        "outcome = 'opt_out'") == 1


def test_resume_is_refused_on_a_refusal(box, db):
    box.ladder()
    box.inbound("do not text")
    with ChangesNothing(db):
        result = box("inbox", "close", "L-1", "--outcome", "resume", "--at", REPLY_AT)
    assert result.exit_code == 1


# --- the refusal clock ------------------------------------------------------------------------

def test_runbook_inbox_warns_from_b2_fails_from_b6_and_status_lists_the_deadline(box):
    box.ladder()
    # Friday 12 February 2027; Monday 15 is Family Day in Ontario
    box.inbound("not interested", at="2027-02-12T15:00:00-05:00")

    def check(at: str) -> dict:
        result = box("runbook", "status", "--at", at, "--json")
        return next(c for c in result.json["checks"] if c["name"] == "inbox")

    assert check("2027-02-16T23:59:00-05:00")["status"] == "ok"
    warned = check("2027-02-17T00:00:00-05:00")
    assert warned["status"] == "warn" and "L-1" in warned["detail"]
    assert check("2027-02-23T00:00:00-05:00")["status"] == "fail"
    status = box.ok("status", "--at", "2027-02-17T09:00:00-05:00")
    [refusal] = status["inbox"]["open_refusals"]
    assert refusal["lead_id"] == "L-1" and refusal["deadline"] == "2027-03-02T05:00:00Z"


def test_a_reply_the_provider_refuses_with_21610_is_kept_and_opts_the_number_out(box, db,
                                                                                 double):
    box.ladder()
    box.inbound("what's the offer?")
    double.behaviour.refuse[PHONE] = (400, 21610)
    result = box("inbox", "reply", "L-1", "--text", "Call me", "--at", REPLY_AT, "--json")
    assert result.exit_code == 1 and "21610" in result.stderr
    assert result.json["state"] == "failed" and result.json["reason"] == "provider_refused"
    assert db_count(db, "SELECT COUNT(*) FROM outbound_message WHERE state = 'failed' AND "
                        "error_code = 21610") == 1
    assert db_count(db, f"SELECT COUNT(*) FROM contact_suppression WHERE phone = '{PHONE}'") \
        == 1
    assert db_count(db, "SELECT COUNT(*) FROM inbox_item WHERE status = 'closed' AND "
                        "outcome = 'opt_out'") == 1
    assert {status for _, status, _ in _statuses(db)} == {"cancelled"}


def test_every_phrase_through_the_inbound_service_opens_an_item_of_its_kind(db):
    """Each phrase of both languages, with and without accents, and the near misses, as texts
    from leads' numbers (both engines)."""
    import unicodedata

    from sqlalchemy import select

    from valhalla_cli.models import InboxItem
    from valhalla_cli.services import inbox_rules, lead

    def plain(text: str) -> str:
        return "".join(c for c in unicodedata.normalize("NFKD", text)
                       if not unicodedata.combining(c))

    cases = [(p, "refusal") for p in (*inbox_rules.REFUSAL_PHRASES_EN,
                                      *inbox_rules.REFUSAL_PHRASES_FR)]
    cases += [(p, "wrong_number") for p in (*inbox_rules.WRONG_NUMBER_PHRASES_EN,
                                            *inbox_rules.WRONG_NUMBER_PHRASES_FR)]
    cases += [(plain(p).upper() + "!", kind) for p, kind in cases]
    cases += [("don't stop", "reply"), ("I'm interested", "reply"), ("Je suis intéressée", "reply")]
    at = datetime(2027, 1, 15, 15, 0, tzinfo=UTC)
    with db.transaction(write=True) as session:
        for index, (text, _) in enumerate(cases):
            fields = lead.validate_fields(lead_id=f"P-{index}", province="ON",
                                          phone=f"+1416555{1000 + index:04d}")
            lead.add(session, fields=fields, at=at, actor="t")
            lead.inbound(session, phone=f"+1416555{1000 + index:04d}", body=f"Hi. {text}",
                         at=at, actor="t", business_name="Maple")
    with db.transaction() as session:
        kinds = {item.lead_id: item.kind for item in session.scalars(select(InboxItem))}
    assert {f"P-{i}": kind for i, (_, kind) in enumerate(cases)} == kinds


def test_the_review_page_lists_open_refusals_with_their_deadlines(box):
    box.ladder()
    box.inbound("Ne me textez plus", at="2027-02-12T15:00:00-05:00")
    page = box("status", "--format", "html", "--at", "2027-02-17T09:00:00-05:00")
    assert page.exit_code == 0, page.stderr
    section = page.stdout.split('<section id="inbox"', 1)[1].split("</section>", 1)[0]
    assert "L-1" in section and "2027-03-02 00:00:00 Toronto" in section and "warn" in section


def test_owner_filter_all_and_sla_by_owner(box):
    box.ladder()
    box.ok("ladder", "create", "L-2", "--province", "ON", "--at", AT, "--phone",
           "+14165550198", "--consent", "express", "--consent-at", "2027-01-01T09:00",
           "--owner", "bo")
    box.inbound("hi")
    box.inbound("Wrong person", phone="+14165550198")
    box.ok("inbox", "reply", "L-1", "--text", "Hello", "--at", "2027-01-15T10:09:00-05:00")
    later = "2027-01-15T11:00:00-05:00"
    assert [i["lead_id"] for i in box.ok("inbox", "--owner", "bo", "--at", later)] == ["L-2"]
    assert [i["lead_id"] for i in box.ok("inbox", "--kind", "wrong_number", "--at", later)] \
        == ["L-2"]
    # the waiting item first, the answered one after it
    assert [i["lead_id"] for i in box.ok("inbox", "--at", later)] == ["L-2", "L-1"]
    box.ok("inbox", "close", "L-2", "--outcome", "not_interested", "--at", later)
    assert [i["lead_id"] for i in box.ok("inbox", "--at", later)] == ["L-1"]
    assert len(box.ok("inbox", "--all", "--at", later)) == 2
    rows = box.ok("inbox", "sla", "--by", "owner", "--since", "2027-01-15", "--until",
                  "2027-01-15", "--at", later)
    assert [(r["owner"], r["opened"], r["answered"], r["within_5m_pct"]) for r in rows] == [
        ("ana", 1, 1, 0.0), ("bo", 1, 0, None)]
    bad = box("inbox", "sla", "--by", "province", "--at", later)
    assert bad.exit_code == 2 and "--by" in bad.stderr
