"""Issue 19: faults and hostile input, second round. One regression test (at least) per numbered
defect, named after it; database tests run on both engines (the `cli` / `db` fixtures)."""

from __future__ import annotations

import pytest
from conftest import db_count, snapshot_tables

IMPORT_AT = "2026-12-07T10:00:00-05:00"  # the import's own instant in these tests
PHONE = "+14165557001"


def _bad(result, *needles: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def _sms_allowed(cli, lead: str, at: str) -> bool:
    out = cli("market", "can-contact", "--lead", lead, "--channel", "SMS", "--lead-score", "60",
              "--at", at, "--json")
    assert out.exit_code in (0, 1), out.stderr
    return out.json["allowed"]


# --- 1: a consent dated in the future cancels a later opt-out --------------------------------

def test_defect_01_lead_import_refuses_a_consent_dated_after_the_import(cli, db, tmp_path):
    path = tmp_path / "fut.csv"
    path.write_text("lead_id,province,phone,consent,consent_at\n"
                    "F-0,ON,+14165557000,express,2026-12-01T10:00\n"
                    f"F-1,ON,{PHONE},express,2062-01-10T10:00\n", encoding="utf-8")
    before = snapshot_tables(db)
    _bad(cli("lead", "import", str(path), "--at", IMPORT_AT), "fut.csv:3", "consent_at",
         "future")
    assert snapshot_tables(db) == before
    # the reproduction, the import at the real clock: refused too
    _bad(cli("lead", "import", str(path)), "fut.csv:3", "consent_at")
    assert db_count(db, "SELECT COUNT(*) FROM lead_consent") == 0


def test_defect_01_ladder_import_and_create_refuse_a_consent_dated_after_them(cli, db,
                                                                               tmp_path):
    path = tmp_path / "fut.csv"
    path.write_text("lead_id,province,phone,consent,consent_at\n"
                    f"F-1,ON,{PHONE},express,2027-01-10T10:00\n", encoding="utf-8")
    before = snapshot_tables(db)
    _bad(cli("ladder", "import", str(path), "--at", IMPORT_AT), "fut.csv:2", "consent_at")
    _bad(cli("ladder", "create", "F-2", "--province", "ON", "--phone", PHONE, "--consent",
             "express", "--consent-at", "2027-01-10T10:00", "--at", IMPORT_AT), "--consent-at")
    assert snapshot_tables(db) == before
    # dated at or before the instant it is recorded is fine
    ok = cli("ladder", "create", "F-2", "--province", "ON", "--phone", PHONE, "--consent",
             "express", "--consent-at", IMPORT_AT, "--at", IMPORT_AT)
    assert ok.exit_code == 0, ok.stderr


def _future_consent_recorded_before(db, lead: str, given: str, recorded: str) -> None:
    """A row as an older Valhalla wrote it: dated in the future of when it was recorded."""
    from datetime import datetime

    from sqlalchemy import insert

    from valhalla_cli.models import LeadConsent
    from valhalla_cli.models.types import table_of

    with db.transaction(write=True) as session:
        session.execute(insert(table_of(LeadConsent)).values(
            lead_id=lead, kind="express", channel="all",
            given_at=datetime.fromisoformat(given), recorded_at=datetime.fromisoformat(recorded),
            evidence="lead import fut.csv line 2", actor="ops"))


def test_defect_01_a_consent_recorded_at_a_future_at_does_not_undo_a_later_stop(cli, db):
    """`--at` is the command's instant: a mistyped year there must not undo a STOP either."""
    assert cli("lead", "add", "F-1", "--province", "ON", "--phone", PHONE,
               "--at", IMPORT_AT).exit_code == 0
    consent = cli("lead", "consent", "F-1", "--kind", "express", "--at", "2062-01-10T10:00")
    assert consent.exit_code == 0, consent.stderr
    stop = cli("lead", "inbound", "--from", PHONE, "--body", "STOP")  # the real clock
    assert stop.exit_code == 0, stop.stderr
    assert not _sms_allowed(cli, "F-1", "2062-01-12T12:00")


def test_defect_01_stop_is_lifted_only_by_a_consent_recorded_after_it(cli, db):
    """Whatever its date, a consent recorded before a STOP never lifts the suppression."""
    assert cli("lead", "add", "F-1", "--province", "ON", "--phone", PHONE,
               "--at", IMPORT_AT).exit_code == 0
    _future_consent_recorded_before(db, "F-1", "2062-01-10T15:00:00+00:00",
                                    "2026-12-01T15:00:00+00:00")
    stop = cli("lead", "inbound", "--from", PHONE, "--body", "STOP",
               "--at", "2026-12-08T09:00:00-05:00")
    assert stop.exit_code == 0, stop.stderr
    assert not _sms_allowed(cli, "F-1", "2026-12-08T12:00")
    assert not _sms_allowed(cli, "F-1", "2062-01-12T12:00")  # was "allowed": true
    # a withdrawal is not outweighed by it either (CASL consent for SMS)
    assert cli("lead", "consent", "F-1", "--withdraw", "--at",
               "2026-12-09T09:00").exit_code == 0
    shown = cli("lead", "show", "F-1", "--at", "2062-01-12T12:00", "--json").json
    assert shown["suppressed"] is True
    # a new express consent, given and recorded after the STOP, lifts it
    again = cli("lead", "consent", "F-1", "--kind", "express", "--at", "2026-12-10T09:00")
    assert again.exit_code == 0, again.stderr
    assert _sms_allowed(cli, "F-1", "2026-12-10T12:00")


def test_defect_01_signed_webhook_stop_is_not_undone_by_a_future_dated_consent(
        db_url, tmp_path, capsys, monkeypatch):
    """Over HTTP: H-5's consent dated 2062-01-10 was recorded on 2026-12-06; a signed STOP then
    arrives (stamped with the real clock); the API still says no on 2062-01-15."""
    from api.conftest import TWILIO_AUTH_TOKEN, AppServer, create_token
    from conftest import Cli

    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services.webhooks import twilio_signature

    assert Cli(db_url)("lead", "add", "H-5", "--province", "ON", "--phone", PHONE,
                       "--at", "2026-12-06T09:00").exit_code == 0
    database = open_database(db_url)
    try:
        _future_consent_recorded_before(database, "H-5", "2062-01-10T15:00:00+00:00",
                                        "2026-12-06T15:00:00+00:00")
    finally:
        database.dispose()
    token = create_token(db_url, "t-read", "read")
    server = AppServer(db_url, tmp_path, capsys=capsys, monkeypatch=monkeypatch)
    try:
        inbound = "/api/webhooks/sms/inbound"
        form = {"MessageSid": "SM501", "From": PHONE, "To": "+14165559999", "Body": "STOP",
                "AccountSid": "AC1"}
        signature = twilio_signature(TWILIO_AUTH_TOKEN, server.url + inbound, form.items())
        with server.client(None) as client:
            answer = client.post(inbound, data=form, headers={"X-Twilio-Signature": signature})
        assert answer.status_code == 200, answer.text
        server.tokens = {"read": token}
        decision = server.get("/api/governance/market/can-contact", scope="read", params={
            "province": "ON", "lead": "H-5", "channel": "SMS", "lead_score": 60,
            "at": "2062-01-15T10:00"})
        assert decision.status_code == 409, decision.text
        assert "suppressed" in decision.text
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()


def test_defect_01_migration_backfills_recorded_at(db_url, tmp_path):
    """Rows written before `recorded_at` existed: one dated in the past keeps its date; one
    dated in the future gets its lead's creation, so it cannot outweigh a later STOP."""
    from conftest import run_valhalla
    from sqlalchemy import select, text

    from valhalla_cli.bootstrap import open_database

    assert run_valhalla("lead", "add", "M-1", "--province", "ON", "--phone", PHONE,
                        "--at", "2026-11-01T10:00Z", db_url=db_url).exit_code == 0
    down = run_valhalla("db", "downgrade", "0012", "--yes", db_url=db_url)
    assert down.exit_code == 0, down.stderr
    from sqlalchemy import create_engine

    engine = create_engine(db_url)
    with engine.begin() as conn:
        for given in ("2026-11-02 10:00:00", "2099-01-01 10:00:00"):
            conn.execute(text(
                "INSERT INTO lead_consent (lead_id, kind, channel, given_at, evidence, actor) "
                "VALUES ('M-1', 'express', 'all', :g, 'old', 'ops')"),
                {"g": given + ("" if db_url.startswith("sqlite") else "+00")})
        conn.execute(text(
            "INSERT INTO contact_suppression (lead_id, phone, reason, at, actor) "
            "VALUES ('M-1', NULL, 'STOP', :g, 'ops')"),
            {"g": "2026-11-03 10:00:00" + ("" if db_url.startswith("sqlite") else "+00")})
    engine.dispose()
    up = run_valhalla("db", "upgrade", db_url=db_url)
    assert up.exit_code == 0, up.stderr
    database = open_database(db_url)
    try:
        with database.transaction() as session:
            from valhalla_cli.models import LeadConsent

            rows = session.execute(
                text("SELECT id FROM lead_consent ORDER BY id")).scalars().all()
            got = [session.get(LeadConsent, i) for i in rows]
            assert got[0].recorded_at == got[0].given_at
            assert got[1].recorded_at.isoformat() == "2026-11-01T10:00:00+00:00"
            from valhalla_cli.models import ContactSuppression

            stop = session.scalars(select(ContactSuppression)).one()
            assert stop.recorded_at == stop.at
    finally:
        database.dispose()


# --- 6: every reason and note goes through the one free-text parser --------------------------

AT = "2027-01-15T10:00:00-05:00"
HOSTILE = ("line1\nroot\tgolive\tfake-row\n\x1b[31mRED", "z" * 2001, "bidi\u202eevil",
           "zero\u200bwidth")
# Message content, not a reason: what a person texted is kept as received (`lead inbound
# --body`), and an SMS template may hold line breaks (`template set --text`: no other control).
NOT_REASONS = {("lead", "inbound", "--body"), ("template", "set", "--text"),
               ("inbox", "reply", "--text")}
FREE_TEXT = ("--reason", "--note", "--evidence", "--body", "--text", "--comment", "--message",
             "--over-max-reason")


def _reason_commands(ids: dict[str, str]) -> dict[tuple[str, ...], list[str]]:
    """Every command with a reason or note, as a valid command line (`{}`: the value)."""
    return {
        ("lead", "consent", "--evidence"): ["lead", "consent", "L-1", "--kind", "express",
                                            "--evidence", "{}", "--at", AT],
        ("market", "suppress", "--reason"): ["market", "suppress", "L-9",
                                             "--reason", "{}", "--at", AT],
        ("ladder", "complete", "--note"): ["ladder", "complete", ids["task"], "--outcome",
                                           "no_answer", "--note", "{}", "--at", AT],
        ("ladder", "stop", "--reason"): ["ladder", "stop", "L-1", "--reason", "{}", "--at", AT],
        ("ladder", "release", "--reason"): ["ladder", "release", ids["task"], "--reason", "{}",
                                            "--at", AT],
        ("ladder", "amend", "--reason"): ["ladder", "amend", ids["task"], "--outcome",
                                          "contacted", "--reason", "{}", "--at", AT],
        ("offer", "outcome", "--over-max-reason"): ["offer", "outcome", ids["evidence"],
                                                    "--status", "accepted", "--amount", "1",
                                                    "--over-max-reason", "{}",
                                                    "--at", "2027-01-15T11:00"],
        ("offer", "compute", "--note"): ["offer", "compute", "ON", "--arv", "450000",
                                         "--repairs", "50000", "--note", "{}", "--at", AT],
        ("offer", "policy-set", "--reason"): ["offer", "policy-set", "ON", "--enable",
                                              "--reason", "{}"],
        ("offer", "outcome", "--note"): ["offer", "outcome", ids["evidence"], "--status", "sent",
                                         "--note", "{}", "--at", "2027-01-15T11:00"],
        ("golive", "enable", "--reason"): ["golive", "enable", "--reason", "{}"],
        ("golive", "disable", "--reason"): ["golive", "disable", "--reason", "{}"],
        ("golive", "kill-switch", "engage", "--reason"): ["golive", "kill-switch", "engage",
                                                          "--reason", "{}"],
        ("golive", "kill-switch", "release", "--reason"): ["golive", "kill-switch", "release",
                                                           "--reason", "{}"],
        ("golive", "checklist", "sign", "--note"): ["golive", "checklist", "sign", "dncl",
                                                    "--note", "{}"],
        ("golive", "checklist", "unsign", "--reason"): ["golive", "checklist", "unsign", "dncl",
                                                        "--reason", "{}"],
        ("risk", "policy-set", "--reason"): ["risk", "policy-set", "acquisitions", "--daily-cap",
                                             "30000", "--reason", "{}"],
        ("heimdall", "promote", "--reason"): ["heimdall", "promote", "offer_pricing",
                                              "--reason", "{}"],
        ("heimdall", "demote", "--reason"): ["heimdall", "demote", "offer_pricing",
                                             "--reason", "{}"],
        ("heimdall", "policy-set", "--reason"): ["heimdall", "policy-set", "offer_pricing",
                                                 "--min-samples", "5", "--reason", "{}"],
        ("regression", "release", "--reason"): ["regression", "release", "offers",
                                                "--reason", "{}"],
        ("regression", "policy-set", "--reason"): ["regression", "policy-set", "buyer_feedback",
                                                   "--max-drop-pct", "25", "--reason", "{}"],
        ("inbox", "close", "--note"): ["inbox", "close", "L-1", "--outcome", "contacted",
                                       "--note", "{}", "--at", AT],
        ("api", "token", "revoke", "--reason"): ["api", "token", "revoke", "t1", "--reason",
                                                 "{}"],
    }


def _tree_free_text_options() -> set[tuple[str, ...]]:
    from conftest import cli_root, walk_commands

    found = set()
    for path, command in walk_commands(cli_root()):
        if path and path[0] == "followups":  # the hidden alias of `ladder`
            continue
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt in FREE_TEXT:
                    found.add((*path, opt))
    return found


def test_defect_06_every_reason_and_note_refuses_control_characters_and_length(cli, db):
    assert cli("golive", "checklist", "add", "dncl", "--title", "DNCL").exit_code == 0
    made = cli("ladder", "create", "L-1", "--province", "ON", "--phone", PHONE, "--consent",
               "express", "--at", AT)
    assert made.exit_code == 0, made.stderr
    computed = cli("offer", "compute", "ON", "--arv", "450000", "--repairs", "50000", "--at",
                   AT, "--json")
    assert computed.exit_code in (0, 1), computed.stderr
    assert cli("api", "token", "create", "t1", "--scope", "read").exit_code == 0
    ids = {"task": str(db_count(db, "SELECT MIN(id) FROM followup_task WHERE lead_id = 'L-1'")),
           "evidence": str(db_count(db, "SELECT MAX(id) FROM offer_evidence"))}
    commands = _reason_commands(ids)
    # the table covers every reason and note of the command tree (a new one must join it)
    assert _tree_free_text_options() - NOT_REASONS == set(commands)
    for key, argv in commands.items():
        for value in HOSTILE:
            before = snapshot_tables(db)
            result = cli(*[value if a == "{}" else a for a in argv])
            assert result.exit_code == 2, (key, value[:20], result.exit_code, result.stderr)
            assert key[-1] in result.stderr, result.stderr
            assert snapshot_tables(db) == before, key
        # the same command line with a plain reason is fine (a "no" is fine too)
        fine = cli(*["why  not" if a == "{}" else a for a in argv])
        assert fine.exit_code in (0, 1), (key, fine.stderr)
    longest = db_count(db, "SELECT MAX(LENGTH(reason)) FROM audit_event")
    assert longest <= 2000


# --- 15: whole numbers take ASCII digits only ------------------------------------------------

NOT_WHOLE_NUMBERS = ("1_000", "\u0661\u0660", "\uff11\uff10", "1e3", "10.0", "٣")


def _integer_parameters():
    """Every integer option and argument of the command tree, as a command line to try."""
    from conftest import cli_root, walk_commands

    found = []
    for path, command in walk_commands(cli_root()):
        if path and path[0] == "followups":  # the hidden alias of `ladder`
            continue
        arguments = [p for p in command.params if not getattr(p, "opts", [""])[0].startswith("-")]
        for param in command.params:
            descriptor = getattr(param, "type_descriptor", None)
            if descriptor is None or descriptor.annotation is not int:
                continue
            opts = [o for o in param.opts if o.startswith("-")]
            if opts:
                found.append((path, opts[0]))
            elif arguments and arguments[0] is param:
                found.append((path, None))
    return found


def test_defect_15_every_integer_option_takes_ascii_digits_only(cli_nodb):
    found = _integer_parameters()
    names = {opt for _, opt in found}
    assert {"--limit", "--days", "--min-samples", "--recent", "--baseline", None} <= names
    for path, opt in found:
        for value in NOT_WHOLE_NUMBERS:
            argv = [*path, *([opt] if opt else []), value]
            result = cli_nodb(*argv)
            assert result.exit_code == 2, (argv, result.stderr)
            assert f"{value!r} is not a whole number" in result.stderr, (argv, result.stderr)


def test_defect_15_integer_options_keep_their_bounds_and_plain_digits(cli):
    assert cli("audit", "--limit", "5").exit_code == 0
    assert cli("audit", "--limit", " 5 ").exit_code == 0
    _bad(cli("audit", "--limit", "0"), "--limit", "at least 1")
    _bad(cli("serve", "--port", "70000"), "--port", "0 to 65535")


@pytest.mark.parametrize("phone", ["\u0664\u0661\u0666\u0665\u0665\u0665\u0660\u0661\u0669\u0669",
                                   "\uff14\uff11\uff16\uff15\uff15\uff15\uff10\uff11\uff19\uff19",
                                   "(416) 555-01\u0669\u0669"])
def test_defect_15_phone_numbers_take_ascii_digits_only(cli, db, phone):
    _bad(cli("lead", "add", "L-1", "--province", "ON", "--phone", phone), "--phone", "0-9")
    assert db_count(db, "SELECT COUNT(*) FROM lead") == 0
    assert cli("lead", "add", "L-1", "--province", "ON", "--phone",
               "(416) 555-0199").exit_code == 0


# --- 20: error lines never echo unbounded input ----------------------------------------------

HUGE = "x" * 100_000


@pytest.mark.parametrize("argv", [
    ("lead", "import", f"/tmp/{HUGE}.csv"),
    ("ladder", "import", f"/tmp/{HUGE}.csv"),
    ("kpi", "import", f"/tmp/{HUGE}.csv"),
    ("lead", "show", HUGE),
    ("lead", "add", "L-1", "--province", "ON", "--phone", HUGE),
    ("market", "can-contact", HUGE, "--channel", "SMS"),
    ("audit", "--limit", HUGE),
    ("audit", "--format", HUGE),
    ("audit", f"--{HUGE}"),
    (HUGE,),
])
def test_defect_20_error_lines_stay_short(cli, argv):
    result = cli(*argv)
    assert result.exit_code in (2, 3, 4), result.stderr[:300]
    assert len(result.stderr.strip().splitlines()) == 1
    assert len(result.stderr.encode()) < 1200, len(result.stderr)


def test_defect_20_a_long_path_keeps_its_start_and_its_file_name(cli_nodb, tmp_path):
    path = str(tmp_path / ("d" * 300) / "leads.csv")
    result = cli_nodb("lead", "import", path)
    assert result.exit_code == 2, result.stderr
    assert str(tmp_path)[:40] in result.stderr and "leads.csv" in result.stderr
    assert "…" in result.stderr and len(result.stderr) < 300


def test_defect_20_http_error_messages_are_bounded_too():
    from valhalla_cli.api.errors import error_body

    message = error_body("bad_input", f"unknown lead {HUGE!r}")["error"]["message"]
    assert len(message) <= 1000 and message.startswith("unknown lead 'xxx") and "…" in message


# --- 14: typed JSON values in a text column ---------------------------------------------------

@pytest.mark.parametrize("value", ["true", "1.5e3", "1500", "false"])
@pytest.mark.parametrize("command,good,field", [
    ("lead", '{"lead_id": "J-1", "province": "ON"}', "lead_id"),
    ("lead", '{"lead_id": "J-1", "province": "ON"}', "phone"),
    ("ladder", '{"lead_id": "J-1", "province": "ON", "lead_score": 70}', "lead_id"),
    ("ladder", '{"lead_id": "J-1", "province": "ON", "lead_score": 70}', "market"),
    ("kpi", '{"metric": "buyer_feedback", "value": 0.5, "occurred_at": "2027-01-15T10:00"}',
     "ref"),
    ("liquidity", '{"province": "ON", "market": "TORONTO", "buyer": "b", "responded": true, '
                  '"at": "2027-01-15T10:00"}', "buyer"),
])
def test_defect_14_typed_json_values_in_text_columns_are_bad_input(cli, db, tmp_path, value,
                                                                    command, good, field):
    import json

    row = {**json.loads(good), field: json.loads(value)}
    path = tmp_path / "x.jsonl"
    path.write_text(good + "\n" + json.dumps(row) + "\n", encoding="utf-8")
    before = snapshot_tables(db)
    _bad(cli(command, "import", str(path), "--at", AT) if command in ("lead", "ladder")
         else cli(command, "import", str(path)), "x.jsonl:2", repr(field), "not text")
    assert snapshot_tables(db) == before
    # the numbers and flags the import reads as such are still fine
    path.write_text(good + "\n", encoding="utf-8")
    fine = (cli(command, "import", str(path), "--at", AT) if command in ("lead", "ladder")
            else cli(command, "import", str(path)))
    assert fine.exit_code == 0, fine.stderr


def test_defect_14_offer_comps_take_numbers_but_text_where_text_is_expected(cli, tmp_path):
    path = tmp_path / "comps.jsonl"
    path.write_text('{"address": 12, "sold_price": 450000, "sqft": 1500, '
                    '"sold_on": "2027-01-02"}\n', encoding="utf-8")
    _bad(cli("offer", "compute", "ON", "--comps", str(path), "--sqft", "1450", "--repairs",
             "50000", "--at", AT), "comps.jsonl:1", "'address'", "not text")


# --- 18: UTF-16 and UTF-32 files, and `lead import --encoding` --------------------------------

IMPORTS = {
    "lead": "lead_id,province,phone,name\nE-1,QC,+15145550101,Hélène\nE-2,ON,,Zoë\n",
    "ladder": "lead_id,province,phone,name\nE-1,QC,+15145550101,Hélène\nE-2,ON,,Zoë\n",
    "kpi": "metric,value,occurred_at\nbuyer_feedback,1,2027-01-15T10:00\n"
           "buyer_feedback,0,2027-01-15T11:00\n",
    "liquidity": "province,market,buyer,responded,at\nON,TORONTO,Bé,true,2027-01-15T10:00\n"
                 "ON,TORONTO,Zoë,false,2027-01-15T11:00\n",
}
COUNT = {"lead": "SELECT COUNT(*) FROM lead WHERE name IN ('Hélène', 'Zoë')",
         "ladder": "SELECT COUNT(*) FROM lead WHERE name IN ('Hélène', 'Zoë')",
         "kpi": "SELECT COUNT(*) FROM kpi_event WHERE metric = 'buyer_feedback'",
         "liquidity": "SELECT COUNT(*) FROM buyer_feedback_event "
                      "WHERE buyer IN ('Bé', 'Zoë')"}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "utf-16-le", "utf-32-le"])
@pytest.mark.parametrize("command", sorted(IMPORTS))
def test_defect_18_utf16_and_utf32_files_import(cli, db, tmp_path, command, encoding):
    path = tmp_path / "in.csv"
    text = IMPORTS[command]
    path.write_bytes(text.replace("\n", "\r\n").encode(encoding))
    before = db_count(db, COUNT[command])
    out = cli(command, "import", str(path), "--encoding", encoding, "--at", AT) \
        if command in ("lead", "ladder") else \
        cli(command, "import", str(path), "--encoding", encoding)
    assert out.exit_code == 0, out.stderr
    assert db_count(db, COUNT[command]) == before + 2


def test_defect_18_lead_import_takes_encoding(cli, db, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes("lead_id,province,name\nC-1,QC,Hélène\n".encode("cp1252"))
    _bad(cli("lead", "import", str(path)), "leads.csv:2", "--encoding cp1252")
    assert cli("lead", "import", str(path), "--encoding", "cp1252").exit_code == 0
    assert db_count(db, "SELECT COUNT(*) FROM lead WHERE name = 'Hélène'") == 1


def test_defect_18_bad_utf16_names_its_line_and_a_long_line_is_refused(cli, db, tmp_path):
    path = tmp_path / "bad.csv"
    good = "lead_id,province\nB-1,ON\n".encode("utf-16-le")
    path.write_bytes(good + "B-".encode("utf-16-le") + b"\x00\xdc" + "2,ON\n".encode("utf-16-le"))
    _bad(cli("lead", "import", str(path), "--encoding", "utf-16-le"), "bad.csv:3", "utf-16")
    long = tmp_path / "long.csv"
    with long.open("wb") as handle:  # 3 MiB of text and no newline after the header
        handle.write("lead_id,province\n".encode("utf-16"))
        handle.write(("x" * (1 << 20)).encode("utf-16-le") * 3)
    _bad(cli("lead", "import", str(long), "--encoding", "utf-16"), "long.csv:2", "longer than")
    assert db_count(db, "SELECT COUNT(*) FROM lead") == 0


@pytest.fixture
def http_server(db_url, tmp_path, capsys, monkeypatch):
    """The server's application on this database with tokens (as tests/api have)."""
    from api.conftest import app_server

    yield from app_server(db_url, tmp_path, capsys, monkeypatch)


def test_defect_06_http_reasons_and_notes_go_through_the_same_parser(http_server, cli, db):
    server = http_server
    made = cli("ladder", "create", "L-1", "--province", "ON", "--phone", PHONE,
               "--consent", "express", "--at", AT)
    assert made.exit_code == 0, made.stderr
    task = db_count(db, "SELECT MIN(id) FROM followup_task WHERE lead_id = 'L-1'")
    calls = [
        ("/api/followups/ladder/L-1/stop", {"at": AT}, "reason"),
        (f"/api/followups/task/{task}/complete", {"outcome": "no_answer", "at": AT}, "note"),
        ("/api/governance/regression/release", {"lever": "offers"}, "reason"),
        ("/api/governance/regression/policies/upsert",
         {"metric": "buyer_feedback", "max_drop_pct": 25}, "reason"),
    ]
    for path, body, field in calls:
        for value in HOSTILE:
            before = snapshot_tables(db)
            answer = server.post(path, json={**body, field: value})
            assert answer.status_code == 422, (path, answer.text)
            assert snapshot_tables(db) == before
        assert server.post(path, json={**body, field: "fine"}).status_code in (200, 409)


@pytest.mark.parametrize("worker", ["w\nx", "tab\there", "w" * 201])
def test_defect_06_dispatch_worker_is_free_text_too(cli, db, worker):
    """The worker becomes the audit event's subject and each claim's `claimed_by`."""
    assert cli("golive", "enable", "--reason", "test").exit_code == 0
    before = snapshot_tables(db)
    _bad(cli("ladder", "dispatch", "--worker", worker, "--at", AT), "--worker")
    assert snapshot_tables(db) == before


@pytest.mark.parametrize("bad", ["\x1b[31m", "\u202e", "\u200b", "\x00", "\t"])
def test_defect_06_template_text_keeps_line_breaks_but_no_other_control_characters(cli, db,
                                                                                   bad):
    text = "{business}: hello{name},\nwe buy houses. Reply STOP"
    before = snapshot_tables(db)
    _bad(cli("template", "set", "--language", "en", "--text", text.replace("hello", bad)),
         "--text")
    assert snapshot_tables(db) == before
    assert cli("template", "set", "--language", "en", "--text", text).exit_code == 0
