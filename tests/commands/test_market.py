"""`valhalla market`: seeded policies, overrides, contact answers, suppression."""

import json

from conftest import db_count, run_valhalla, snapshot_tables

SEEDED_ZONES = {
    "AB": ["America/Edmonton"],
    "BC": ["America/Vancouver", "America/Edmonton", "America/Creston", "America/Dawson_Creek",
           "America/Fort_Nelson"],
    "MB": ["America/Winnipeg"],
    "NB": ["America/Moncton"],
    "NL": ["America/St_Johns", "America/Goose_Bay"],
    "NS": ["America/Halifax"],
    "NT": ["America/Yellowknife", "America/Inuvik"],
    "NU": ["America/Iqaluit", "America/Rankin_Inlet", "America/Resolute",
           "America/Cambridge_Bay", "America/Atikokan"],
    "ON": ["America/Toronto", "America/Winnipeg", "America/Atikokan"],
    "PE": ["America/Halifax"],
    "QC": ["America/Toronto", "America/Blanc-Sablon"],
    "SK": ["America/Regina", "America/Swift_Current", "America/Edmonton"],
    "YT": ["America/Whitehorse", "America/Dawson"],
}


def test_seeded_province_policies(cli):
    rows = cli("market", "policies", "--json").json
    assert {r["province"]: r["timezones"] for r in rows} == SEEDED_ZONES
    for row in rows:
        assert row["market"] == "*"
        assert row["channels"] == ["SMS", "CALL"]
        assert row["enabled"] is True and row["quiet_on_holidays"] is True
        assert row["min_lead_score"] == 0
        for channel in ("SMS", "CALL"):
            assert row["windows"][channel]["mon"] == [["09:00", "20:00"]]
            assert row["windows"][channel]["sun"] == [["10:00", "17:00"]]
    runbook = cli("runbook", "status", "--json").json
    checks = {c["name"]: c["status"] for c in runbook["checks"]}
    assert checks["market"] == "ok" and checks["followups"] == "ok"
    assert runbook["ok_to_enable_go_live"] is True


def test_market_overrides_field_by_field_and_windows_channel_by_channel(cli, db):
    result = cli("--actor", "alice", "market", "policy-set", "ON", "--market", "toronto",
                 "--timezone", "America/Toronto", "--window", "SMS mon-fri 10:00-19:00",
                 "--min-lead-score", "40", "--json")
    assert result.exit_code == 0, result.stderr
    eff = cli("market", "effective", "ON", "--market", "TORONTO", "--json").json
    assert eff["market"] == "TORONTO"
    assert eff["timezones"] == ["America/Toronto"]
    assert eff["windows"]["SMS"]["mon"] == [["10:00", "19:00"]]
    assert "sat" not in eff["windows"]["SMS"]  # the given windows replace the channel's
    assert eff["windows"]["CALL"]["mon"] == [["09:00", "20:00"]]  # inherited
    assert eff["min_lead_score"] == 40 and eff["channels"] == ["SMS", "CALL"]
    assert eff["sources"] == {"timezones": "market", "windows": {"SMS": "market",
                                                                 "CALL": "province"},
                              "channels": "province", "min_lead_score": "market",
                              "quiet_on_holidays": "province", "enabled": "province",
                              "require_sms_consent": "province"}
    # The province-wide policy is untouched; a market that only sets some fields inherits.
    assert cli("market", "effective", "ON", "--json").json["min_lead_score"] == 0
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'market' "
                        "AND action = 'policy_set' AND actor = 'alice'") == 1
    # The SMS window is now 10:00-19:00 in Toronto: 09:30 is closed for SMS, open for CALL.
    at = "2027-01-15T09:30:00-05:00"
    sms = cli("market", "can-contact", "ON", "--market", "TORONTO", "--channel", "SMS",
              "--lead-score", "50", "--at", at, "--json")
    assert sms.exit_code == 1 and sms.json["reason"] == "outside_window"
    assert sms.json["next_open_at"] == "2027-01-15T15:00:00Z"
    call = cli("market", "can-contact", "ON", "--market", "TORONTO", "--channel", "CALL",
               "--lead-score", "50", "--at", at, "--json")
    assert call.exit_code == 0 and call.json["reason"] is None
    low = cli("market", "can-contact", "ON", "--market", "TORONTO", "--channel", "CALL",
              "--lead-score", "39", "--at", at, "--json")
    assert low.exit_code == 1 and low.json["reason"] == "lead_score_below_minimum"
    assert low.json["next_open_at"] is None
    missing = cli("market", "can-contact", "ON", "--market", "TORONTO", "--channel", "CALL",
                  "--at", at)
    assert missing.exit_code == 2 and "--lead-score" in missing.stderr


def test_can_contact_answer_shape_and_exit_codes(cli):
    denied = cli("market", "can-contact", "bc", "--channel", "call",
                 "--at", "2027-01-16T02:30:00Z", "--json")
    assert denied.exit_code == 1
    assert "outside_window" in denied.stderr
    body = denied.json
    assert set(body) == {"allowed", "reason", "scope", "lead_id", "phone", "zones",
                         "next_open_at", "closed_zones", "holiday", "message"}
    assert body["scope"] == "hours_only"
    assert body["allowed"] is False and body["next_open_at"] == "2027-01-16T17:00:00Z"
    assert body["zones"][1] == {"timezone": "America/Edmonton", "source": "policy",
                                "local_time": "2027-01-15T20:30:00-06:00", "open": False}
    ok = cli("market", "can-contact", "BC", "--channel", "SMS", "--at", "2027-01-15T16:30:00Z",
             "--json")
    assert ok.exit_code == 0 and ok.json["allowed"] is True
    assert ok.json["zones"][0]["local_time"] == "2027-01-15T09:30:00-07:00"
    cli("market", "policy-set", "PE", "--disable")
    off = cli("market", "can-contact", "PE", "--channel", "SMS", "--at", "2027-01-15T16:30:00Z",
              "-f", "jsonl")
    assert off.exit_code == 1 and off.jsonl[0]["reason"] == "policy_disabled"
    runbook = cli("runbook", "status", "--json")
    assert runbook.exit_code == 1
    market = next(c for c in runbook.json["checks"] if c["name"] == "market")
    assert market["status"] == "fail" and "PE" in market["detail"]
    assert market["fix"] == "valhalla market policy-set PE --enable"
    cli("market", "policy-set", "QC", "--channels", "SMS")
    no_call = cli("market", "can-contact", "QC", "--channel", "CALL",
                  "--at", "2027-01-15T16:30:00Z", "--json")
    assert no_call.json["reason"] == "channel_not_allowed"


def test_answers_do_not_change_with_old_host_zone_files(db_url):
    """A real process pointed at the host's zone files (IANA 2025b here) answers the same."""
    args = ("market", "can-contact", "BC", "--channel", "CALL", "--at", "2027-01-15T16:30:00Z",
            "--json")
    plain = run_valhalla(*args, db_url=db_url)
    host = run_valhalla(*args, db_url=db_url,
                        env={"PYTHONTZPATH": "/usr/share/zoneinfo", "TZ": "America/Vancouver"})
    assert plain.exit_code == host.exit_code == 0
    assert json.loads(plain.stdout) == json.loads(host.stdout)
    assert json.loads(host.stdout)["zones"][0]["local_time"].endswith("-07:00")


def test_suppress_is_immediate_and_listed(cli, db):
    first = cli("--actor", "bob", "market", "suppress", "lead-7", "--phone", "+1 416 555 0100",
                "--reason", "replied STOP", "--json")
    assert first.exit_code == 0 and first.json["created"] is True
    again = cli("market", "suppress", "lead-7", "--phone", "+1 416 555 0100", "--reason", "x",
                "--json").json
    assert again["created"] is False and again["id"] == first.json["id"]
    rows = cli("market", "suppressions", "--json").json
    assert [(r["lead_id"], r["actor"], r["reason"]) for r in rows] == [
        ("lead-7", "bob", "replied STOP")]
    answer = cli("market", "can-contact", "ON", "--channel", "SMS", "--lead", "lead-7",
                 "--at", "2027-01-15T12:00:00-05:00", "--json")
    assert answer.exit_code == 1 and answer.json["reason"] == "suppressed"
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE action = 'suppress'") == 1


def test_bad_input_changes_nothing(cli, db):
    before = snapshot_tables(db)
    cases = [
        ("market", "policies", "--province", "ZZ"),
        ("market", "policy-set", "XX", "--enable"),
        ("market", "policy-set", "ON", "--window", "SMS mon-fri 08:00-20:00"),
        ("market", "policy-set", "ON", "--window", "CALL sat 10:00-18:30"),
        ("market", "policy-set", "ON", "--window", "CALL weekdays 10:00-11:00"),
        ("market", "policy-set", "ON", "--window", "SMS mon 11:00-10:00"),
        ("market", "policy-set", "ON", "--timezone", "Mars/Olympus"),
        ("market", "policy-set", "ON", "--timezone", "EST"),
        ("market", "policy-set", "ON", "--min-lead-score", "101"),
        ("market", "policy-set", "ON", "--min-lead-score", "-1"),
        ("market", "policy-set", "ON", "--channels", "SMS,FAX"),
        ("market", "policy-set", "ON", "--market", "bad/name", "--enable"),
        ("market", "policy-set", "ON"),
        ("market", "effective", "Ontario"),
        ("market", "can-contact", "ON", "--channel", "EMAIL"),
        ("market", "can-contact", "ON", "--channel", "SMS", "--at", "tomorrow"),
        ("market", "can-contact", "ON", "--channel", "SMS", "--lead-score", "abc"),
        ("market", "suppress", "lead-1", "--reason", " "),
        ("market", "suppress", " ", "--reason", "stop"),
        ("market", "suppress", "lead-1", "--reason", "stop", "--phone", "none"),
        ("market", "suppressions", "--limit", "0"),
    ]
    for args in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert snapshot_tables(db) == before
