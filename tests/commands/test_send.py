"""`valhalla send`: the ladder's texts through a Twilio double, the ledger, callbacks replayed
by `send status`, reconcile, the report and the control plane (both engines)."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import pytest
from conftest import ChangesNothing, db_count
from twilio_double import SENDER, TwilioDouble

AT = "2027-01-15T10:00:00-05:00"  # a Friday morning in Toronto: texts may leave
LATER = "2027-01-15T10:01:00-05:00"


@pytest.fixture(autouse=True)
def _business(monkeypatch):
    monkeypatch.setenv("VALHALLA_BUSINESS_NAME", "Maple Home Buyers")
    monkeypatch.setenv("VALHALLA_BUSINESS_CALLBACK", "+14165550100")


@pytest.fixture
def double():
    with TwilioDouble() as running:
        yield running


def phone_of(lead: str) -> str:
    return f"+1416555{zlib.crc32(lead.encode()) % 10000:04d}"


class Setup:
    def __init__(self, cli, tmp_path, double: TwilioDouble, extra: str = "") -> None:
        self.cli, self.double = cli, double
        self.config = tmp_path / "config.toml"
        self.config.write_text(double.config(extra=extra), encoding="utf-8")

    def __call__(self, *args: str, **kwargs):
        return self.cli("--config", str(self.config), *args, **kwargs)

    def live(self) -> None:
        assert self("golive", "enable", "--reason", "test").exit_code == 0

    def ladders(self, *leads: str, at: str = AT) -> list[dict]:
        made = []
        for lead in leads:
            result = self("ladder", "create", lead, "--province", "ON", "--at", at, "--json",
                          "--phone", phone_of(lead), "--consent", "express", "--consent-at",
                          "2027-01-01T09:00")
            assert result.exit_code == 0, result.stderr
            made.append(result.json)
        return made

    def send(self, *extra: str, at: str = LATER, code: int = 0) -> list[dict]:
        result = self("send", "--at", at, *extra)
        assert result.exit_code == code, result.stderr
        return result.jsonl


@pytest.fixture
def sender(cli, tmp_path, double):
    double.now = lambda: datetime(2027, 1, 15, 15, 1, 0, tzinfo=UTC)  # LATER
    setup = Setup(cli, tmp_path, double)
    setup.live()
    return setup


def _task(db, task_id):
    from sqlalchemy import text

    with db.engine.connect() as conn:
        return conn.execute(text("SELECT status, outcome, attempt, status_reason, completed_at "
                                 "FROM followup_task WHERE id = :i"), {"i": task_id}).one()


def _message(db, message_id):
    from sqlalchemy import text

    with db.engine.connect() as conn:
        return conn.execute(text("SELECT state, sid, error_code, task_id, attempt "
                                 "FROM outbound_message WHERE message_id = :i"),
                            {"i": message_id}).one()


# --- the must-show cases of SPEC 21.7 ------------------------------------------------------------

def test_three_due_texts_become_three_accepted_messages_and_dispatch_no_longer_offers_them(
        sender, db, double):
    ladders = sender.ladders("L-1", "L-2", "L-3")
    result = sender("send", "--at", LATER)
    assert result.exit_code == 0, result.stderr
    lines = result.jsonl
    assert [line["state"] for line in lines] == ["accepted"] * 3
    assert {line["to"] for line in lines} == {phone_of(x) for x in ("L-1", "L-2", "L-3")}
    assert all(line["sid"].startswith("SM") and line["error_code"] is None for line in lines)
    assert "accepted 3, failed 0, unknown 0, not sent by rule 0" in result.stderr
    assert len(double.creates()) == 3
    for request in double.creates():
        assert request.form["From"] == SENDER and "Maple Home Buyers" in request.form["Body"]
    for ladder in ladders:
        status = _task(db, ladder["tasks"][0]["task_id"])
        assert (status.status, status.outcome) == ("done", "sent")
    for line in lines:
        assert _message(db, line["message_id"]).state == "accepted"
    # dispatch (SMS asked explicitly) has nothing left to hand out at that instant
    again = sender("ladder", "dispatch", "--channel", "SMS", "--at", LATER, "--format", "jsonl")
    assert again.exit_code == 0 and again.jsonl == []
    assert sender.send() == [] and len(double.creates()) == 3
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'followup_completed'") \
        == 3


def test_500_after_accepting_leaves_sending_a_second_run_sends_nothing_reconcile_completes(
        sender, db, double):
    [ladder] = sender.ladders("L-1")
    double.behaviour.fail_after_accept.add(phone_of("L-1"))
    result = sender("send", "--at", LATER)
    assert result.exit_code == 4
    [line] = result.jsonl
    assert line["state"] == "sending" and line["sid"] is None
    task_id = ladder["tasks"][0]["task_id"]
    assert _task(db, task_id).status == "claimed"
    double.behaviour.fail_after_accept.clear()
    # a second run, even after the lease would have expired, sends nothing for that task
    assert sender.send(at="2027-01-15T10:30:00-05:00") == []
    assert len(double.creates(phone_of("L-1"))) == 1
    # reconcile: too early (under 2 minutes) changes nothing ...
    early = sender("send", "reconcile", "--at", LATER)
    assert early.exit_code == 0 and early.jsonl == []
    settled = sender("send", "reconcile", "--at", "2027-01-15T10:04:00-05:00")
    assert settled.exit_code == 0, settled.stderr
    assert settled.jsonl == [{"message_id": line["message_id"], "before": "sending",
                              "after": "accepted"}]
    [sid] = list(double.messages)
    message = _message(db, line["message_id"])
    assert (message.state, message.sid) == ("accepted", sid)
    task = _task(db, task_id)
    assert (task.status, task.outcome) == ("done", "sent")
    assert len(double.creates(phone_of("L-1"))) == 1  # exactly one request for that number


def test_a_connection_dropped_before_the_double_saw_it_is_not_sent_after_10_minutes_and_sent_next(
        sender, db, double):
    [ladder] = sender.ladders("L-1")
    to = phone_of("L-1")
    double.behaviour.drop_before.add(to)
    [line] = sender.send(code=4)
    assert line["state"] == "sending"
    double.behaviour.drop_before.clear()
    nine = sender("send", "reconcile", "--at", "2027-01-15T10:09:00-05:00")
    assert nine.exit_code == 0 and nine.jsonl == []  # not found, but not yet 10 minutes
    eleven = sender("send", "reconcile", "--at", "2027-01-15T10:12:00-05:00")
    assert eleven.jsonl == [{"message_id": line["message_id"], "before": "sending",
                             "after": "not_sent"}]
    task = _task(db, ladder["tasks"][0]["task_id"])
    assert (task.status, task.attempt) == ("pending", 1)
    [again] = sender.send(at="2027-01-15T10:13:00-05:00")
    assert again["state"] == "accepted" and again["message_id"] != line["message_id"]
    assert _message(db, again["message_id"]).attempt == 2
    assert len(double.accepted(to)) == 1
    assert _task(db, ladder["tasks"][0]["task_id"]).status == "done"


def test_21610_at_send_suppresses_the_number_and_cancels_the_leads_tasks(sender, db, double):
    [ladder] = sender.ladders("L-1")
    double.behaviour.refuse[phone_of("L-1")] = (400, 21610)
    [line] = sender.send()
    assert (line["state"], line["error_code"]) == ("failed", 21610)
    assert db_count(db, "SELECT COUNT(*) FROM contact_suppression WHERE phone = :p",
                    p=phone_of("L-1")) == 1
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE ladder_id = :l AND "
                    "status IN ('pending', 'claimed')", l=ladder["ladder_id"]) == 0
    assert db_count(db, "SELECT COUNT(*) FROM lead_consent WHERE lead_id = 'L-1' AND "
                    "kind = 'withdrawal' AND evidence LIKE '%21610%'") == 1
    answer = sender("market", "can-contact", "--lead", "L-1", "--channel", "SMS", "--at",
                    LATER, "--json")
    assert answer.exit_code == 1 and answer.json["reason"] == "suppressed"
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'sms_delivered' AND "
                    "value = 0") == 1


def test_30006_in_a_callback_skips_the_next_sms_step_and_the_call_step_still_dispatches(
        sender, db, double):
    [ladder] = sender.ladders("L-1")
    [line] = sender.send()
    replay = sender("send", "status", line["sid"], "--status", "undelivered", "--error-code",
                    "30006", "--at", "2027-01-15T10:02:00-05:00", "--json")
    assert replay.exit_code == 0, replay.stderr
    assert replay.json["after"] == "undelivered"
    tasks = {t["step"]: t["task_id"] for t in ladder["tasks"]}
    skipped = _task(db, tasks[3])
    assert (skipped.status, skipped.status_reason) == ("skipped", "not_textable")
    assert _task(db, tasks[5]).status == "skipped"
    calls = sender("ladder", "dispatch", "--at", "2027-01-15T10:06:00-05:00", "--format",
                   "jsonl")
    assert calls.exit_code == 0, calls.stderr
    # the lead's express consent exempts its calls from the DNCL: the call is handed out
    assert [(t["task_id"], t["channel"]) for t in calls.jsonl] == [(tasks[2], "CALL")]
    assert _task(db, tasks[2]).status == "claimed"
    answer = sender("market", "can-contact", "--lead", "L-1", "--channel", "SMS", "--at",
                    "2027-01-15T10:06:00-05:00", "--json")
    assert answer.exit_code == 1 and answer.json["reason"] == "not_textable"
    # an inbound text from the number lifts it
    assert sender("lead", "inbound", "--from", phone_of("L-1"), "--body", "who is this?",
                  "--at", "2027-01-15T10:07:00-05:00").exit_code == 0
    answer = sender("market", "can-contact", "--lead", "L-1", "--channel", "SMS", "--at",
                    "2027-01-15T10:08:00-05:00", "--json")
    assert answer.json["reason"] != "not_textable"


def test_delivered_then_sent_stays_delivered_and_a_repeated_callback_changes_nothing(
        sender, db, double):
    sender.ladders("L-1")
    [line] = sender.send()
    sid = line["sid"]
    first = sender("send", "status", sid, "--status", "delivered", "--at",
                   "2027-01-15T10:02:00-05:00", "--json")
    assert first.json["after"] == "delivered" and first.json["recorded"] is True
    late = sender("send", "status", sid, "--status", "sent", "--at",
                  "2027-01-15T10:03:00-05:00", "--json")
    assert late.json["after"] == "delivered"
    assert _message(db, line["message_id"]).state == "delivered"
    with ChangesNothing(db):
        again = sender("send", "status", sid, "--status", "delivered", "--at", LATER, "--json")
        assert again.exit_code == 0 and again.json["recorded"] is False
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'sms_delivered' AND "
                    "value = 1") == 1
    shown = sender("send", "show", sid, "--json").json
    assert [e["status"] for e in shown["events"]] == ["queued", "delivered", "sent"]
    by_id = sender("send", "show", str(line["message_id"]), "--json").json
    assert by_id["sid"] == sid
    lead = sender("lead", "show", "L-1", "--at", LATER, "--json").json
    assert [m["state"] for m in lead["messages"]] == ["delivered"]


def test_a_stop_received_between_claim_and_send_sends_no_text(sender, db, double, db_url):
    """The run claims both tasks in one batch; while the first is sent, the second lead texts
    STOP: the second is decided again at its send instant and nothing leaves for it."""
    from conftest import settings_for

    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import lead as lead_service
    from valhalla_cli.services.ladder import ladder_config
    from valhalla_cli.services.sending import run
    from valhalla_cli.settings import resolve_settings

    sender.ladders("L-1", "L-2")
    settings = resolve_settings(config=str(sender.config), db=db_url)
    assert settings_for(db_url).database_url == settings.database_url
    database = open_database(db_url)
    seen = []

    def stop_second(handled):
        seen.append(handled)
        if len(seen) == 1:
            from valhalla_cli.inputs import parse_instant

            with database.transaction(write=True) as session:
                lead_service.inbound(session, phone=phone_of("L-2"), body="STOP",
                                     at=parse_instant(LATER, "America/Toronto"), actor="t",
                                     business_name=None)

    from valhalla_cli.inputs import parse_instant

    try:
        result = run.send(database.transaction, settings, ladder_config(settings.ladder),
                          at=parse_instant(LATER, "America/Toronto"), limit=None,
                          max_seconds=30, worker="w", dry_run=False, actor="t",
                          on_handled=stop_second)
    finally:
        database.dispose()
    assert result.exit_code == 0
    assert [h.state for h in seen] == ["accepted", "not_sent_by_rule"]
    assert seen[1].reason.startswith("suppressed")
    assert len(double.creates(phone_of("L-2"))) == 0
    assert len(double.creates(phone_of("L-1"))) == 1


# --- the error-code table ----------------------------------------------------------------

def test_a_landline_refused_at_send_is_not_textable_and_its_later_sms_steps_skipped(
        sender, db, double):
    [ladder] = sender.ladders("L-1")
    double.behaviour.refuse[phone_of("L-1")] = (400, 21614)
    [line] = sender.send()
    assert (line["state"], line["error_code"]) == ("failed", 21614)
    assert db_count(db, "SELECT code FROM phone_status WHERE number = :p", p=phone_of("L-1")) \
        == 21614
    statuses = {t["step"]: _task(db, t["task_id"]) for t in ladder["tasks"]}
    assert [statuses[s].status for s in (1, 3, 5)] == ["skipped"] * 3
    assert statuses[2].status == "pending"


def test_another_refusal_fails_the_message_and_returns_the_task_until_max_attempts(
        sender, db, double):
    [ladder] = sender.ladders("L-1")
    double.behaviour.refuse[phone_of("L-1")] = (400, 21617)  # body too long, say
    task_id = ladder["tasks"][0]["task_id"]
    for attempt, (minute, expected) in enumerate([(1, "pending"), (2, "pending"),
                                                  (3, "failed")], start=1):
        [line] = sender.send(at=f"2027-01-15T10:0{minute}:00-05:00")
        assert (line["state"], line["error_code"]) == ("failed", 21617)
        task = _task(db, task_id)
        assert (task.status, task.attempt) == (expected, attempt)
    assert len(double.creates()) == 3


def test_too_many_requests_is_retried_after_retry_after_and_then_sent(sender, db, double):
    sender.ladders("L-1")
    double.behaviour.too_many = 2
    [line] = sender.send()
    assert line["state"] == "accepted"
    assert len(double.creates()) == 3 and len(double.accepted()) == 1


def test_five_too_many_requests_stop_the_run_not_sent_and_the_task_released(sender, db, double):
    sender.ladders("L-1", "L-2")
    double.behaviour.too_many = 10
    result = sender("send", "--at", LATER)
    assert result.exit_code == 4
    [line] = result.jsonl
    assert line["state"] == "not_sent"
    assert len(double.creates()) == 5
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE step = 1 AND "
                    "status = 'pending'") == 2
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE step = 1 AND "
                    "status = 'claimed'") == 0


@pytest.mark.parametrize("code", [20003, 21212, 21606, 21659])
def test_a_misconfigured_account_or_sender_stops_the_run_with_exit_3(sender, db, double, code):
    sender.ladders("L-1", "L-2")
    double.behaviour.error_all = (401 if code == 20003 else 400, code)
    result = sender("send", "--at", LATER)
    assert result.exit_code == 3
    assert str(code) in result.stderr
    [line] = result.jsonl
    assert line["state"] == "not_sent"
    assert len(double.creates()) == 1  # the run stopped at the first
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE step = 1 AND "
                    "status = 'pending'") == 2  # both claims back, nothing lost


def test_the_third_30003_within_30_days_makes_the_number_not_textable(sender, db, double):
    sender.ladders("L-1")
    to = phone_of("L-1")
    double.behaviour.refuse[to] = (400, 30003)
    for minute in (1, 2):
        [line] = sender.send(at=f"2027-01-15T10:0{minute}:00-05:00")
        assert line["error_code"] == 30003
        assert db_count(db, "SELECT COUNT(*) FROM phone_status") == 0
    sender.send(at="2027-01-15T10:03:00-05:00")
    assert db_count(db, "SELECT code FROM phone_status WHERE number = :p", p=to) == 30003


def test_an_early_callback_is_kept_and_applied_when_the_sid_is_recorded(sender, db, double):
    sender.ladders("L-1")
    early = sender("send", "status", "SMearly", "--status", "delivered", "--at", AT, "--json")
    assert early.exit_code == 0 and early.json["message_id"] is None
    # the double hands out this sid: the callback outran the send's answer
    import secrets

    original = secrets.token_hex
    try:
        secrets.token_hex = lambda n=16: "early"[:5] if n == 16 else original(n)
        [line] = sender.send()
    finally:
        secrets.token_hex = original
    assert line["sid"] == "SMearly"
    assert _message(db, line["message_id"]).state == "delivered"


# --- the run: controls, pace, output ----------------------------------------------------------

def test_no_provider_is_exit_3_and_not_live_is_exit_1(cli, tmp_path, double, db):
    Setup(cli, tmp_path, double).ladders("L-1")
    result = cli("send", "--at", LATER)
    assert result.exit_code == 3 and "sender.provider" in result.stderr
    setup = Setup(cli, tmp_path, double)
    with ChangesNothing(db):
        refused = setup("send", "--at", LATER)
    assert refused.exit_code == 1 and refused.stdout == ""
    assert len(double.creates()) == 0


def test_dry_run_claims_and_sends_nothing_and_prints_the_message(sender, db, double):
    sender.ladders("L-1")
    with ChangesNothing(db):
        result = sender("send", "--dry-run", "--at", LATER)
    assert result.exit_code == 0
    [line] = result.jsonl
    assert "Maple Home Buyers" in line["message"] and line["to"] == phone_of("L-1")
    assert double.creates() == []


def test_limit_caps_the_messages_of_a_run(sender, db, double):
    sender.ladders("L-1", "L-2", "L-3")
    assert len(sender.send("--limit", "2")) == 2
    assert len(double.creates()) == 2
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE step = 1 AND "
                    "status = 'pending'") == 1


def test_the_log_provider_records_accepted_messages_and_completes_tasks(cli, tmp_path, db):
    cfg = tmp_path / "log.toml"
    cfg.write_text('[sender]\nprovider = "log"\n', encoding="utf-8")
    assert cli("golive", "enable", "--reason", "t").exit_code == 0
    assert cli("ladder", "create", "L-1", "--province", "ON", "--at", AT, "--phone",
               phone_of("L-1"), "--consent", "express", "--consent-at",
               "2027-01-01T09:00").exit_code == 0
    result = cli("--config", str(cfg), "send", "--at", LATER)
    assert result.exit_code == 0, result.stderr
    [line] = result.jsonl
    assert line["state"] == "accepted" and line["sid"].startswith("LOG")
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE step = 1 AND status = "
                    "'done'") == 1
    report = cli("--config", str(cfg), "send", "report", "--json").json
    assert report["accepted"] == 0  # log messages are left out


def test_with_a_provider_plain_dispatch_hands_out_calls_only(sender, db, double):
    [ladder] = sender.ladders("L-1")
    plain = sender("ladder", "dispatch", "--at", LATER, "--format", "jsonl")
    assert plain.exit_code == 0 and plain.jsonl == []
    texts = sender("ladder", "dispatch", "--channel", "SMS", "--at", LATER, "--format",
                   "jsonl")
    assert [t["task_id"] for t in texts.jsonl] == [ladder["tasks"][0]["task_id"]]
    bad = sender("ladder", "dispatch", "--channel", "FAX", "--at", LATER)
    assert bad.exit_code == 2


# --- configuration ------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value", [
    ("from", '"4165550100x"'), ("account_sid", '"XX123"'), ("api_base", '"ftp://x"'),
    ("status_callback_url", '"not a url"'), ("messaging_service_sid", '"AB1"'),
])
def test_a_malformed_twilio_value_is_exit_3_naming_the_key(cli_nodb, tmp_path, key, value):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[twilio]\n{key} = {value}\n", encoding="utf-8")
    result = cli_nodb("--config", str(cfg), "send")
    assert result.exit_code == 3
    assert f"twilio.{key}" in result.stderr


def test_a_provider_without_an_auth_token_is_exit_3(cli_nodb, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[sender]\nprovider = "twilio"\n[twilio]\naccount_sid = "AC1"\n'
                   'from = "+14165550100"\n', encoding="utf-8")
    result = cli_nodb("--config", str(cfg), "send")
    assert result.exit_code == 3 and "twilio.auth_token" in result.stderr
    env = cli_nodb("--config", str(cfg), "send", "--dry-run",
                   env={"VALHALLA_TWILIO_AUTH_TOKEN": "tok"})
    assert env.exit_code != 3


def test_config_show_masks_the_auth_token_and_marks_the_older_name(cli_nodb, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[api]\ntwilio_auth_token = "secret-token"\n', encoding="utf-8")
    shown = cli_nodb("--config", str(cfg), "config", "show", "--json")
    assert shown.exit_code == 0
    assert "secret-token" not in shown.stdout
    rows = {r["setting"]: r for r in shown.json}
    assert rows["twilio_auth_token"]["value"] == "***"
    assert "deprecated" in rows["twilio_auth_token"]["source"]
    provider = cli_nodb("--config", str(cfg), "config", "show", "--json",
                        env={"VALHALLA_SENDER_PROVIDER": "log"})
    assert {r["setting"]: r for r in provider.json}["sender_provider"]["value"] == "log"
    bad = cli_nodb("--config", str(cfg), "config", "show",
                   env={"VALHALLA_SENDER_PROVIDER": "pigeon"})
    assert bad.exit_code == 3 and "VALHALLA_SENDER_PROVIDER" in bad.stderr


# --- reconcile's second pass, the report and the control plane ------------------------------

def test_reconcile_rereads_a_message_with_no_final_state_after_24_hours(sender, db, double):
    from twilio_double import set_status

    sender.ladders("L-1")
    [line] = sender.send()
    set_status(double, line["sid"], "delivered")
    assert sender("send", "reconcile", "--at", "2027-01-15T22:00:00-05:00").jsonl == []
    later = sender("send", "reconcile", "--at", "2027-01-16T10:05:00-05:00")
    assert later.exit_code == 0, later.stderr
    assert later.jsonl == [{"message_id": line["message_id"], "before": "accepted",
                            "after": "delivered"}]


def test_reconcile_with_the_provider_down_changes_nothing_and_exits_4(sender, db, double):
    sender.ladders("L-1")
    double.behaviour.fail_after_accept.add(phone_of("L-1"))
    sender.send(code=4)
    double.server.shutdown()
    double.server.server_close()
    with ChangesNothing(db):
        result = sender("send", "reconcile", "--at", "2027-01-15T10:20:00-05:00")
    assert result.exit_code == 4


def test_the_report_counts_delivery_and_names_the_top_errors(sender, db, double):
    sender.ladders("L-1", "L-2", "L-3", "L-4")
    double.behaviour.refuse[phone_of("L-4")] = (400, 21614)
    lines = {line["to"]: line for line in sender.send()}
    sender("send", "status", lines[phone_of("L-1")]["sid"], "--status", "delivered")
    sender("send", "status", lines[phone_of("L-2")]["sid"], "--status", "undelivered",
           "--error-code", "30007")
    report = sender("send", "report", "--since", "2027-01-15", "--until", "2027-01-15",
                    "--json")
    assert report.exit_code == 0, report.stderr
    figures = report.json
    assert (figures["accepted"], figures["delivered"], figures["undelivered"],
            figures["failed"], figures["awaiting"]) == (3, 1, 1, 1, 1)
    assert figures["delivery_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert [e["code"] for e in figures["top_errors"]] == [21614, 30007]
    assert figures["segments"] == 3
    by_error = sender("send", "report", "--since", "2027-01-15", "--until", "2027-01-15",
                      "--by", "error", "--json").json
    assert {g["error"] for g in by_error} == {None, "21614", "30007"}
    assert sender("send", "report", "--by", "colour").exit_code == 2


def test_runbook_sender_and_delivery_checks_and_status_show_delivery(sender, db, double):
    sender.ladders("L-1")
    double.behaviour.fail_after_accept.add(phone_of("L-1"))
    sender.send(code=4)
    book = sender("runbook", "status", "--at", "2027-01-15T10:30:00-05:00", "--json").json
    checks = {c["name"]: c for c in book["checks"]}
    assert checks["sender"]["status"] == "warn" and "reconcile" in checks["sender"]["detail"]
    assert checks["delivery"]["status"] == "ok"
    status = sender("status", "--at", "2027-01-15T10:30:00-05:00", "--format", "json").json
    assert status["delivery"]["stuck_sending"] == 1 and status["delivery"]["alert"]
    page = sender("status", "--at", "2027-01-15T10:30:00-05:00", "--format", "html")
    assert page.exit_code == 0
    assert 'id="delivery-stuck"' in page.stdout and "send reconcile" in page.stdout
    table = sender("status", "--at", "2027-01-15T10:30:00-05:00", "--format", "markdown")
    assert "stuck_sending" in table.stdout and "send reconcile" in table.stdout


def test_reconcile_applies_an_event_kept_for_a_sid_a_message_carries_now(sender, db, double):
    """A callback that committed just after the send recorded its sid (PostgreSQL: the send's
    transaction could not see it) is applied by the next reconcile."""
    from sqlalchemy import text

    sender.ladders("L-1")
    [line] = sender.send()
    with db.engine.begin() as conn:  # the event as that race leaves it: kept, not applied
        conn.execute(text("INSERT INTO message_event (sid, status, received_at, raw, applied, "
                          "actor) VALUES (:s, 'delivered', :t, '{}', :f, 'api:sms-status')"),
                     {"s": line["sid"], "t": datetime(2027, 1, 15, 15, 2, tzinfo=UTC),
                      "f": False})
    result = sender("send", "reconcile", "--at", "2027-01-15T10:03:00-05:00")
    assert result.jsonl == [{"message_id": line["message_id"], "before": "accepted",
                             "after": "delivered"}]
    assert db_count(db, "SELECT COUNT(*) FROM message_event WHERE applied = :f", f=False) == 0
