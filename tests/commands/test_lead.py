"""SPEC 17: leads, numbers, the National DNCL, consent, opt-outs and texts that identify the
sender — the issue's "must show" scenarios, on both engines."""

import io
import zipfile

import pytest
from conftest import db_count, snapshot_tables

JAN_15_10 = "2027-01-15T10:00:00-05:00"  # a Friday in Toronto


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return str(path)


# --- 17.2 recipient zones ---------------------------------------------------------------------

def test_604_number_of_an_on_lead_is_judged_in_vancouver_time(cli):
    assert cli("lead", "add", "L-604", "--province", "ON", "--phone", "(604) 555-0100"
               ).exit_code == 0
    cli("lead", "consent", "L-604", "--kind", "express", "--at", "2027-01-02T10:00")
    early = cli("market", "can-contact", "--lead", "L-604", "--channel", "CALL", "--at",
                JAN_15_10, "--json")
    assert early.exit_code == 1 and early.json["reason"] == "outside_window"
    vancouver = next(z for z in early.json["zones"] if z["timezone"] == "America/Vancouver")
    assert vancouver == {"timezone": "America/Vancouver", "source": "area_code",
                         "local_time": "2027-01-15T08:00:00-07:00", "open": False}
    assert {z["source"] for z in early.json["zones"]} == {"policy", "area_code"}
    assert early.json["next_open_at"] == "2027-01-15T16:00:00Z"  # 09:00 in Vancouver
    noon = cli("market", "can-contact", "--lead", "L-604", "--channel", "CALL", "--at",
               "2027-01-15T13:00:00-05:00", "--json")
    assert noon.exit_code == 0 and noon.json["allowed"] is True
    # With a confirmed zone, that zone alone decides: 09:00 Toronto is open.
    cli("lead", "add", "L-604", "--timezone", "America/Toronto")
    nine = cli("market", "can-contact", "--lead", "L-604", "--channel", "CALL", "--at",
               "2027-01-15T09:00:00-05:00", "--json")
    assert nine.exit_code == 0
    assert nine.json["zones"] == [{"timezone": "America/Toronto", "source": "confirmed",
                                   "local_time": "2027-01-15T09:00:00-05:00", "open": True}]
    # A province that differs from the lead's is bad input; hours alone say so.
    assert cli("market", "can-contact", "QC", "--lead", "L-604", "--channel", "CALL"
               ).exit_code == 2
    hours = cli("market", "can-contact", "ON", "--channel", "CALL", "--at", JAN_15_10, "--json")
    assert hours.exit_code == 0 and hours.json["scope"] == "hours_only"


def test_area_code_table_covers_every_geographic_code_in_service():
    from phonenumbers.phonenumberutil import (
        PhoneNumberType,
        is_valid_number_for_region,
        number_type,
        parse,
    )

    from valhalla_cli.phones import AREA_CODES, area_code_zones

    # The Canadian Numbering Administrator's list of geographic area codes in service.
    cna = {
        "AB": "403 587 780 825 368", "BC": "236 250 257 604 672 778", "MB": "204 431 584",
        "NB": "428 506", "NL": "709 879", "NS": "782 902", "PE": "782 902",
        "ON": "226 249 289 343 365 382 416 437 519 548 613 647 683 705 742 753 807 905 942",
        "QC": "263 273 354 367 418 438 450 468 514 579 581 819 873", "SK": "306 474 639",
        "YT": "867", "NT": "867", "NU": "867",
    }
    for province, codes in cna.items():
        for code in codes.split():
            assert code in AREA_CODES, code
            assert province in AREA_CODES[code][0], (code, province)
    # ... and every code phonenumbers accepts as a Canadian fixed-line/mobile number.
    for npa in range(200, 1000):
        number = parse(f"+1{npa}2221234")
        if (is_valid_number_for_region(number, "CA")
                and number_type(number) == PhoneNumberType.FIXED_LINE_OR_MOBILE):
            assert str(npa) in AREA_CODES, npa
    assert area_code_zones("+14165550199") == ("America/Toronto",)
    assert area_code_zones("+16045550100") == ("America/Vancouver",)
    assert area_code_zones("+15145550100") == ("America/Toronto",)
    assert "America/Whitehorse" in area_code_zones("+18676671234")  # not Vancouver
    assert area_code_zones("+18005551234") == ()  # toll-free adds no zone


# --- 17.3 the National DNCL -------------------------------------------------------------------

def _dncl_scenario(cli, tmp_path, members):
    download = _zip(tmp_path / "dncl.zip", members)
    imported = cli("dncl", "import", download, "--as-of", "2027-01-10", "--at",
                   "2027-01-10T08:00", "--json")
    assert imported.exit_code == 0, imported.stderr
    assert imported.json == [{"area_code": "416", "numbers": 1, "as_of": "2027-01-10"}]
    cli("lead", "add", "D-1", "--province", "ON", "--phone", "+1 416 555 0199")
    cli("lead", "add", "D-2", "--province", "ON", "--phone", "+1 416 555 0123")
    at = "2027-01-15T13:00:00-05:00"
    listed = cli("market", "can-contact", "--lead", "D-1", "--channel", "CALL", "--at", at,
                 "--json")
    free = cli("market", "can-contact", "--lead", "D-2", "--channel", "CALL", "--at", at,
               "--json")
    late = cli("market", "can-contact", "--lead", "D-2", "--channel", "CALL", "--at",
               "2027-02-12T13:00:00-05:00", "--json")
    return listed, free, late


@pytest.mark.parametrize("form", ["csv", "xml"])
def test_dncl_listed_exempt_fresh_and_stale(cli, tmp_path, form):
    members = ({"416.csv": "416,5550199\n"} if form == "csv" else
               {"416.xml": "<?xml version='1.0'?><dncl><ac val='416'><ph val='5550199'/>"
                           "</ac></dncl>"})
    listed, free, late = _dncl_scenario(cli, tmp_path, members)
    assert listed.exit_code == 1 and listed.json["reason"] == "dncl_listed"
    assert free.exit_code == 0
    assert late.exit_code == 1 and late.json["reason"] == "dncl_not_checked"  # 33 days old
    check = cli("dncl", "check", "4165550199", "--at", "2027-01-15T12:00", "--json")
    assert check.exit_code == 1 and {k: v for k, v in check.json.items() if k != "message"} == {
        "number": "+14165550199", "area_code": "416", "status": "listed",
        "as_of": "2027-01-10"}
    assert "Do Not Call List" in check.json["message"] and check.json["message"] in check.stderr
    ok = cli("dncl", "check", "+14165550123", "--at", "2027-01-15T12:00", "--json")
    assert ok.exit_code == 0 and ok.json["status"] == "not_listed"
    assert cli("dncl", "check", "+16045550100", "--at", "2027-01-15T12:00", "--json"
               ).json["status"] == "not_checked"
    # An inquiry of 2026-12-20 exempts the listed number on 2027-01-15.
    cli("lead", "consent", "D-1", "--kind", "inquiry", "--at", "2026-12-20T11:00")
    exempt = cli("market", "can-contact", "--lead", "D-1", "--channel", "CALL", "--at",
                 "2027-01-15T13:00:00-05:00", "--json")
    assert exempt.exit_code == 0
    status = cli("dncl", "status", "--at", "2027-02-12T12:00", "--json").json
    assert status[0]["age_days"] == 33 and status[0]["fresh"] is False
    runbook = cli("runbook", "status", "--at", "2027-02-12T12:00", "--json")
    dncl = next(c for c in runbook.json["checks"] if c["name"] == "dncl")
    assert runbook.exit_code == 1 and dncl["status"] == "fail" and "416" in dncl["detail"]


def test_dncl_reimport_replaces_the_area_code_and_bad_files_change_nothing(cli, db, tmp_path):
    first = _zip(tmp_path / "a.zip", {"416.csv": "416,5550199\n416,5550100\n",
                                      "604.csv": "604,5550111\n"})
    assert cli("dncl", "import", first, "--as-of", "2027-01-10", "--at", "2027-01-10T09:00"
               ).exit_code == 0
    second = _zip(tmp_path / "b.zip", {"416.csv": "416,5550123\n"})
    again = cli("dncl", "import", second, "--as-of", "2027-02-01", "--at", "2027-02-01T09:00",
                "--json")
    assert again.json == [{"area_code": "416", "numbers": 1, "as_of": "2027-02-01"}]
    assert db_count(db, "SELECT COUNT(*) FROM dncl_number") == 2  # 416 replaced, 604 kept
    assert cli("dncl", "check", "+14165550199", "--at", "2027-02-02T09:00", "--json"
               ).json["status"] == "not_listed"
    before = snapshot_tables(db)
    bad = _zip(tmp_path / "bad.zip", {"416.csv": "416,5550123\n416,55501x3\n"})
    for args in (("dncl", "import", bad), ("dncl", "import", str(tmp_path / "none.zip")),
                 ("dncl", "import", first, "--as-of", "2027-03-01", "--at", "2027-02-01T09:00")):
        result = cli(*args)
        assert result.exit_code == 2, args
    assert snapshot_tables(db) == before
    assert "416.csv:2" in cli("dncl", "import", bad).stderr


# --- 17.4 consent validity --------------------------------------------------------------------

def test_consent_boundaries_to_the_day(cli):
    """inquiry 6 months; business 2 years for SMS, 18 months as a call exemption; express
    until withdrawn. Valid through the end of the business date N months later."""
    cli("dncl", "import", "--help")  # the pack is mounted
    for lead, kind in (("C-inq", "inquiry"), ("C-bus", "business"), ("C-exp", "express")):
        cli("lead", "add", lead, "--province", "ON", "--phone", "+14165550177")
        cli("lead", "consent", lead, "--kind", kind, "--at", "2026-07-15T10:00")

    def sms(lead, day):
        return cli("market", "can-contact", "--lead", lead, "--channel", "SMS", "--at",
                   f"{day}T12:00", "--json").json["reason"]

    def call(lead, day):  # no DNCL copy: only an exemption allows a call
        return cli("market", "can-contact", "--lead", lead, "--channel", "CALL", "--at",
                   f"{day}T12:00", "--json").json["reason"]

    assert sms("C-inq", "2027-01-15") is None and sms("C-inq", "2027-01-18") == "no_consent"
    assert cli("market", "can-contact", "--lead", "C-inq", "--channel", "SMS", "--at",
               "2027-01-15T23:59", "--json").json["reason"] == "outside_window"
    assert call("C-inq", "2027-01-15") is None
    assert call("C-inq", "2027-01-18") == "dncl_not_checked"
    assert sms("C-bus", "2028-07-14") is None and sms("C-bus", "2028-07-17") == "no_consent"
    assert call("C-bus", "2028-01-14") is None
    assert call("C-bus", "2028-01-17") == "dncl_not_checked"
    assert sms("C-exp", "2030-03-15") is None
    cli("lead", "consent", "C-exp", "--withdraw", "--at", "2030-03-16T10:00")
    assert sms("C-exp", "2030-03-18") == "suppressed"


def test_consent_durations_pure():
    from datetime import UTC, date, datetime

    from valhalla_cli.services.consent import ConsentRecord, add_months, consent_covers

    assert add_months(date(2026, 7, 15), 6) == date(2027, 1, 15)
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2027, 2, 28), 24) == date(2029, 2, 28)
    given = datetime(2026, 7, 15, 14, tzinfo=UTC)  # 10:00 Toronto
    inquiry = [ConsentRecord("inquiry", "all", given)]
    last = datetime(2027, 1, 16, 4, 59, 59, tzinfo=UTC)  # 23:59:59 Toronto on 2027-01-15
    assert consent_covers(inquiry, "SMS", last, "America/Toronto")
    assert not consent_covers(inquiry, "SMS", datetime(2027, 1, 16, 5, tzinfo=UTC),
                              "America/Toronto")
    sms_only = [ConsentRecord("express", "SMS", given)]
    assert consent_covers(sms_only, "SMS", last, "America/Toronto")
    assert not consent_covers(sms_only, "CALL", last, "America/Toronto")
    assert not consent_covers(inquiry, "SMS", datetime(2026, 7, 15, 13, tzinfo=UTC),
                              "America/Toronto")  # not yet given


def test_require_sms_consent_is_seeded_merged_audited_and_warned(cli, db):
    cli("lead", "add", "S-1", "--province", "ON", "--phone", "+14165550188", "--market",
        "TORONTO")
    at = "2027-01-15T12:00"
    assert cli("market", "can-contact", "--lead", "S-1", "--channel", "SMS", "--at", at,
               "--json").json["reason"] == "no_consent"
    assert cli("market", "effective", "ON", "--json").json["require_sms_consent"] is True
    cli("market", "policy-set", "ON", "--market", "TORONTO", "--no-require-sms-consent")
    eff = cli("market", "effective", "ON", "--market", "TORONTO", "--json").json
    assert eff["require_sms_consent"] is False and eff["sources"]["require_sms_consent"] == "market"
    assert cli("market", "can-contact", "--lead", "S-1", "--channel", "SMS", "--at", at
               ).exit_code == 0
    market = next(c for c in cli("runbook", "status", "--json").json["checks"]
                  if c["name"] == "market")
    assert market["status"] == "warn" and "ON/TORONTO" in market["detail"]
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE action = 'policy_set'") == 1


# --- 17.5 suppression by number, inbound ------------------------------------------------------

def test_inbound_arret_suppresses_the_number_everywhere(cli, db):
    cli("ladder", "create", "Q-1", "--province", "QC", "--phone", "+14165550199",
        "--consent", "express", "--at", "2027-01-15T10:00")
    cli("ladder", "create", "Q-2", "--province", "QC", "--phone", "+14165550199",
        "--consent", "express", "--at", "2027-01-15T10:00")
    out = cli("lead", "inbound", "--from", "+14165550199", "--body", "arrêt",
              "--at", "2027-01-15T11:00", "--json")
    assert out.exit_code == 0
    body = out.json
    assert body["action"] == "opted_out" and body["lead_ids"] == ["Q-1", "Q-2"]
    assert body["tasks_cancelled"] == 12 and list(body["reply"]) == ["fr"]
    assert "ne recevrez plus" in body["reply"]["fr"]
    assert db_count(db, "SELECT COUNT(*) FROM followup_task WHERE status IN "
                        "('pending', 'claimed')") == 0
    # A later lead with the same number is suppressed; only a newer express consent lifts it.
    cli("lead", "add", "Q-3", "--province", "ON", "--phone", "(416) 555-0199")
    assert cli("market", "can-contact", "--lead", "Q-3", "--channel", "SMS", "--at",
               "2027-01-15T12:00", "--json").json["reason"] == "suppressed"
    refused = cli("ladder", "create", "Q-3", "--province", "ON", "--at", "2027-01-15T12:00",
                  "--json")
    assert refused.exit_code == 1 and refused.json["reason"] == "suppressed"
    cli("lead", "consent", "Q-3", "--kind", "inquiry", "--at", "2027-01-15T12:30")
    assert cli("market", "can-contact", "--lead", "Q-3", "--channel", "SMS", "--at",
               "2027-01-15T13:00", "--json").json["reason"] == "suppressed"
    lifted = cli("lead", "consent", "Q-3", "--kind", "express", "--at", "2027-01-15T13:00",
                 "--json").json
    assert lifted["suppression_lifted"] is True
    assert cli("market", "can-contact", "--lead", "Q-3", "--channel", "SMS", "--at",
               "2027-01-15T13:30").exit_code == 0
    assert cli("market", "can-contact", "--lead", "Q-1", "--channel", "SMS", "--at",
               "2027-01-15T13:30", "--json").json["reason"] == "suppressed"
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE action = "
                        "'suppression_lifted'") == 1
    # A reply that is not an opt-out is recorded and shown; an unknown number too.
    reply = cli("lead", "inbound", "--from", "+14165550123", "--body", "Combien?", "--json")
    assert reply.json["action"] == "recorded" and reply.json["lead_id"] is None
    assert set(reply.json["reply"]) == set()
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'inbound_reply'") == 1
    shown = cli("lead", "show", "Q-1", "--json").json
    assert shown["suppressed"] is True and shown["inbound"][0]["body"] == "arrêt"
    unknown = cli("lead", "inbound", "--from", "+14165550144", "--body", "Stop please",
                  "--json").json
    assert unknown["action"] == "opted_out" and sorted(unknown["reply"]) == ["en", "fr"]


def test_market_suppress_a_number_alone(cli):
    cli("lead", "add", "N-1", "--province", "ON", "--phone", "+14165550155")
    out = cli("market", "suppress", "--phone", "416-555-0155", "--reason", "asked", "--json")
    assert out.exit_code == 0 and out.json["lead_id"] is None
    assert out.json["phone"] == "+14165550155"
    assert cli("market", "can-contact", "--lead", "N-1", "--channel", "CALL", "--json"
               ).json["reason"] == "suppressed"
    assert cli("market", "suppress", "--phone", "555", "--reason", "x").exit_code == 2


# --- 17.6 templates ---------------------------------------------------------------------------

def test_template_refusals_and_seeded_defaults(cli, db):
    rows = cli("template", "list", "--json").json
    assert {(r["step"], r["language"]) for r in rows} == {("default", "en"), ("default", "fr")}
    before = snapshot_tables(db)
    for args in (("--language", "en", "--text", "Hello, reply STOP"),
                 ("--language", "en", "--text", "{business} says hi"),
                 ("--language", "fr", "--text", "{business} : répondez STOP"),
                 ("--language", "fr", "--text", "{business} {unknown} ARRÊT"),
                 ("--language", "de", "--text", "{business} STOP")):
        assert cli("template", "set", *args).exit_code == 2, args
    assert snapshot_tables(db) == before
    ok = cli("template", "set", "--step", "3", "--language", "fr", "--text",
             "{business} : toujours vendeur à {market}? {callback}. ARRET pour arrêter.",
             "--json")
    assert ok.exit_code == 0 and ok.json["step"] == "3" and ok.json["created"] is True


# --- 17.7 dispatch ----------------------------------------------------------------------------

BUSINESS = {"VALHALLA_BUSINESS_NAME": "Maple Home Buyers",
            "VALHALLA_BUSINESS_CALLBACK": "(416) 555-0100"}
START = "2027-01-15T10:00:00-05:00"


def test_dispatch_qc_text_is_french_and_identifies_the_sender(cli):
    cli("golive", "enable", "--help")
    cli("ladder", "create", "FR-1", "--province", "QC", "--market", "MONTREAL", "--phone",
        "+15145550111", "--name", "Chantal", "--consent", "express", "--at", START)
    held = cli("ladder", "dispatch", "--at", START, "--format", "jsonl",
               env={"VALHALLA_GOLIVE_ENFORCE": "0"})
    assert held.exit_code == 0 and held.stdout == ""  # no [business]: the text is held
    assert "no_identification 1" in held.stderr
    runbook = cli("runbook", "status", "--json").json
    messages = next(c for c in runbook["checks"] if c["name"] == "messages")
    assert messages["status"] == "warn" and runbook["ok_to_enable_go_live"] is True
    env = {"VALHALLA_GOLIVE_ENFORCE": "0", **BUSINESS}
    out = cli("ladder", "dispatch", "--at", "2027-01-15T11:01:00-05:00", "--format", "jsonl",
              env=env)
    [task] = out.jsonl
    assert task["to"] == "+15145550111" and task["language"] == "fr"
    assert "Maple Home Buyers" in task["message"] and "ARRÊT" in task["message"]
    assert "Chantal" in task["message"] and "+14165550100" in task["message"]


def _dispatch(cli, at, env=None):
    out = cli("ladder", "dispatch", "--at", at, "--format", "jsonl", "--limit", "50",
              env={"VALHALLA_GOLIVE_ENFORCE": "0", **BUSINESS, **(env or {})})
    assert out.exit_code == 0, out.stderr
    return out


def test_dispatch_skips_and_holds_by_reason(cli, db, tmp_path):
    call_first = "2027-01-15T10:00:00-05:00"
    # A CALL-first ladder makes the DNCL rules visible on step 1.
    config = tmp_path / "config.toml"
    config.write_text('[ladder]\nsteps = ["CALL 0m", "SMS 1d"]\n')
    env = {"VALHALLA_CONFIG": str(config)}
    for lead, extra in (("K-nophone", ()),
                        ("K-listed", ("--phone", "+14165550199")),
                        ("K-fresh", ("--phone", "+14165550123")),
                        ("K-exempt", ("--phone", "+14165550198", "--consent", "express"))):
        assert cli("ladder", "create", lead, "--province", "ON", "--at", call_first, *extra,
                   env=env).exit_code == 0
    out = _dispatch(cli, call_first, env)
    assert [t["lead_id"] for t in out.jsonl] == ["K-exempt"]
    assert "no_phone 1" in out.stderr and "dncl_not_checked 2" in out.stderr

    def task(lead):
        with db.engine.connect() as conn:
            from sqlalchemy import text
            return conn.execute(text("SELECT status, status_reason, due_at FROM followup_task "
                                     "WHERE lead_id = :l AND step = 1"), {"l": lead}).one()

    assert task("K-nophone")[:2] == ("skipped", "no_phone")
    assert task("K-listed")[:2] == ("pending", "dncl_not_checked")
    status = cli("status", "--at", call_first, "--json").json
    assert status["tasks"]["held_dncl_not_checked"] == 2
    dncl = next(c for c in status["runbook"]["checks"] if c["name"] == "dncl")
    assert dncl["status"] == "warn" and "2 call tasks held" in dncl["detail"]
    # A fresh import releases the held calls: the listed one is skipped, the other goes out.
    download = _zip(tmp_path / "dncl.zip", {"416.csv": "416,5550199\n"})
    cli("dncl", "import", download, "--at", "2027-01-15T10:10:00-05:00")
    out = _dispatch(cli, "2027-01-15T10:11:00-05:00", env)
    assert [t["lead_id"] for t in out.jsonl] == ["K-fresh"]
    assert out.jsonl[0]["to"] == "+14165550123" and out.jsonl[0]["message"] is None
    assert task("K-listed")[:2] == ("skipped", "dncl_listed")
    # An SMS step without consent is skipped with no_consent.
    out = _dispatch(cli, "2027-01-16T10:30:00-05:00", env)
    assert "no_consent" in out.stderr
    with db.engine.connect() as conn:
        from sqlalchemy import text
        reasons = dict(conn.execute(text(
            "SELECT lead_id, status_reason FROM followup_task WHERE step = 2")).all())
    assert reasons["K-listed"] == "no_consent" and reasons["K-nophone"] == "no_phone"


def test_lead_import_and_show(cli, db, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("lead_id,province,phone,market,name,language,source,consent,consent_at\n"
                    "I-1,QC,(514) 555-0100,MONTREAL,Chantal,,ppc,inquiry,2027-01-01T10:00\n"
                    "I-2,ON,+14165550133,,,,,,\n")
    out = cli("lead", "import", str(path), "--at", "2027-01-02T09:00", "--json")
    assert out.exit_code == 0 and out.json["created"] == 2 and out.json["consents"] == 1
    listed = cli("lead", "list", "--json").json
    assert [(r["lead_id"], r["language"], r["phone"]) for r in listed] == [
        ("I-1", "fr", "+15145550100"), ("I-2", "en", "+14165550133")]
    shown = cli("lead", "show", "I-1", "--at", "2027-01-15T12:00", "--json").json
    assert shown["consents"][0]["kind"] == "inquiry"
    assert shown["dncl"]["status"] == "not_checked"
    assert {c["channel"]: c["reason"] for c in shown["contact"]} == {"SMS": None, "CALL": None}
    bad = tmp_path / "bad.csv"
    bad.write_text("lead_id,province,phone\nI-3,ON,+14165550134\nI-4,ON,12\n")
    before = snapshot_tables(db)
    result = cli("lead", "import", str(bad))
    assert result.exit_code == 2 and "bad.csv:3" in result.stderr and "phone" in result.stderr
    assert snapshot_tables(db) == before
    assert cli("lead", "add", "X", "--province", "ON", "--phone", "+12125550100").exit_code == 2
    assert cli("lead", "show", "nobody").exit_code == 2


def test_ladder_create_upserts_the_lead(cli, db):
    cli("ladder", "create", "U-1", "--province", "ON", "--phone", "416 555 0166", "--name",
        "Sam", "--consent", "inquiry", "--consent-at", "2027-01-02T09:00",
        "--at", "2027-01-03T09:00")
    lead = cli("lead", "show", "U-1", "--json").json
    assert lead["phone"] == "+14165550166" and lead["name"] == "Sam"
    assert lead["consents"][0]["given_at"] == "2027-01-02T14:00:00Z"
    assert cli("ladder", "create", "U-2", "--province", "ON", "--phone", "nope").exit_code == 2
    assert db_count(db, "SELECT COUNT(*) FROM lead WHERE lead_id = 'U-2'") == 0


def test_xml_member_streams_in_blocks():
    from valhalla_cli.services.dncl import _xml_numbers

    body = "<dncl>" + "".join(f"<ac val='416'>{''.join(f'<ph val={chr(39)}{n:07d}{chr(39)}/>' for n in range(k, k + 1000))}</ac>" for k in range(0, 300_000, 1000)) + "</dncl>"  # noqa: E501
    found = list(_xml_numbers("x", "m", io.BytesIO(body.encode())))
    assert len(found) == 300_000 and found[-1] == (416, 4160299999)


def test_lead_import_folds_repeated_rows_exactly_as_lead_add_applies_them(cli, tmp_path,
                                                                        monkeypatch):
    """The import stages each lead's rows folded into one change and applies it at the flip
    with SQL; row by row, `lead add` is the rule. Same file both ways, split across batches,
    with leads that exist (a default and a chosen language) and leads that do not."""
    import random

    from valhalla_cli.services import lead_import

    monkeypatch.setattr(lead_import, "CHUNK", 3)  # a lead's rows land in different batches
    rng = random.Random(12)
    existing = {"E1": ("ON", None), "E2": ("ON", "fr"), "E3": ("QC", None), "E4": ("QC", "en"),
                "E5": ("ON", "fr"), "E6": ("QC", "en"), "E7": ("ON", "fr")}
    for prefix in ("A", "B"):
        for lead, (province, language) in existing.items():
            args = ["lead", "add", f"{prefix}-{lead}", "--province", province, "--phone",
                    "+14165550100", "--name", "Old"]
            assert cli(*args, *(("--language", language) if language else ())).exit_code == 0
    choices = {"phone": (None, None, "+14165550111", "+15145550122"),
               "market": (None, None, "TORONTO"), "name": (None, "Ann", "Bo"),
               "language": (None, None, None, "en", "fr"), "source": (None, "ppc")}
    rows = []
    for _ in range(60):
        row = {"lead_id": rng.choice(["E1", "E2", "E3", "E4", "N1", "N2", "N3"]),
               "province": rng.choice(["ON", "QC", "BC"])}
        row.update({name: rng.choice(values) for name, values in choices.items()})
        rows.append(row)
    # a chosen language that starts to follow once it is the default of a province a row names
    for lead, provinces in (("E5", ("QC", "ON")), ("E6", ("ON", "QC")), ("E7", ("BC", "ON")),
                            ("N3", ("QC", "BC"))):
        rows += [{"lead_id": lead, "province": p, **dict.fromkeys(choices)} for p in provinces]
    columns = ["lead_id", "province", *choices]
    path = tmp_path / "leads.csv"
    path.write_text(",".join(columns) + "\n" + "".join(
        ",".join(("A-" if c == "lead_id" else "") + (row[c] or "") for c in columns) + "\n"
        for row in rows))
    imported = cli("lead", "import", str(path), "--json")
    assert imported.exit_code == 0, imported.stderr
    tally = {"created": 0, "updated": 0, "unchanged": 0}
    for row in rows:
        args = ["lead", "add", f"B-{row['lead_id']}", "--province", row["province"], "--json"]
        for name in choices:
            if row[name] is not None:
                args += [f"--{name}", row[name]]
        added = cli(*args)
        assert added.exit_code == 0, added.stderr
        tally["created" if added.json["created"] else
              "updated" if added.json["changed"] else "unchanged"] += 1
    assert {k: imported.json[k] for k in tally} == tally
    fields = ("phone", "name", "province", "market", "language", "source")
    leads = {r["lead_id"]: r for r in cli("lead", "list", "--json").json}
    for lead in {row["lead_id"] for row in rows} | set(existing):
        assert {f: leads[f"A-{lead}"][f] for f in fields} == \
            {f: leads[f"B-{lead}"][f] for f in fields}, lead
