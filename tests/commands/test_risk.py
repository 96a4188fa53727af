"""`valhalla risk`: reserve, settle, release, snapshot, policies, policy-set, events."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import db_count, run_valhalla, snapshot_tables

AT = "2027-01-15T10:00:00-05:00"
LATER = "2027-01-15T14:00:00-05:00"


def _live(cli) -> None:
    assert cli("golive", "enable", "--reason", "pilot", "--at", AT).exit_code == 0


def _engine(snapshot: dict, name: str) -> dict:
    return next(e for e in snapshot["engines"] if e["engine"] == name)


def test_reserve_settle_release_and_snapshot(cli, db):
    _live(cli)
    first = cli("risk", "reserve", "acquisitions", "2500.50", "--ref", "emd-1", "--at", AT,
                "--json")
    assert first.exit_code == 0, first.stderr
    assert first.json == {
        "reservation_id": first.json["reservation_id"], "engine": "acquisitions",
        "amount": "2500.50", "ref": "emd-1", "day": "2027-01-15", "status": "reserved",
        "reason": None, "binding_cap": None, "replayed": False, "reservation_status": "open",
        "engine_headroom": "22499.50", "global_headroom": "47499.50",
    }
    again = cli("risk", "reserve", "acquisitions", "2500.5", "--ref", "emd-1", "--at", AT,
                "--json")
    assert again.exit_code == 0
    assert again.json["replayed"] is True
    assert again.json["reservation_id"] == first.json["reservation_id"]
    cli("risk", "reserve", "marketing", "800", "--ref", "ads-1", "--at", AT)

    settled = cli("risk", "settle", "--ref", "emd-1", "--pnl", "-500", "--at", LATER, "--json")
    assert settled.exit_code == 0, settled.stderr
    assert (settled.json["status"], settled.json["pnl"], settled.json["realized_loss"]) == (
        "settled", "-500.00", "500.00")
    released = cli("risk", "release", "--ref", "ads-1", "--at", LATER, "--json")
    assert released.json["status"] == "released" and released.json["pnl"] is None

    snap = cli("risk", "snapshot", "--day", "2027-01-15", "--json").json
    assert snap["day"] == "2027-01-15" and snap["breaches"] == []
    assert _engine(snap, "acquisitions") == {
        "engine": "acquisitions", "enabled": True, "cap": "25000.00", "reserved": "0.00",
        "realized_loss": "500.00", "realized_profit": "0.00", "exposure": "500.00",
        "headroom": "24500.00", "utilization_pct": 2.0,
    }
    assert _engine(snap, "GLOBAL")["exposure"] == "500.00"
    assert [e["engine"] for e in snap["engines"]] == [
        "GLOBAL", "acquisitions", "dispositions", "marketing"]
    # the same snapshot chosen by --at (business local day)
    assert cli("risk", "snapshot", "--at", "2027-01-16T03:00:00Z", "--json").json == snap

    journal = cli("risk", "events", "--day", "2027-01-15", "--json").json
    assert [(e["kind"], e["ref"]) for e in journal] == [
        ("reserve", "emd-1"), ("reserve", "ads-1"), ("settle", "emd-1"), ("release", "ads-1")]
    assert journal[2]["pnl"] == "-500.00" and journal[2]["actor"] == "tester"
    only = cli("risk", "events", "--day", "2027-01-15", "--engine", "marketing", "--json").json
    assert [e["kind"] for e in only] == ["reserve", "release"]
    assert db_count(db, "SELECT COUNT(*) FROM risk_reservation") == 2


def test_settle_by_id_with_negative_pnl_forms(cli):
    _live(cli)
    rid = cli("risk", "reserve", "dispositions", "1000", "--ref", "dc", "--at", AT,
              "--json").json["reservation_id"]
    result = cli("risk", "settle", str(rid), "--pnl=-0.01", "--at", LATER, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["realized_loss"] == "0.01"
    twice = cli("risk", "settle", str(rid), "--pnl", "-0.01", "--at", LATER, "--json")
    assert twice.exit_code == 1
    assert twice.json["refused"] is True and twice.json["reason"] == "already_settled"
    assert "already settled" in twice.stderr
    assert cli("risk", "release", str(rid), "--at", LATER, "--json").json["reason"] == \
        "already_settled"


def test_denied_reservation_prints_its_answer_and_exits_1(cli, db):
    _live(cli)
    cli("risk", "reserve", "dispositions", "9000", "--ref", "d1", "--at", AT)
    denied = cli("risk", "reserve", "dispositions", "1000.01", "--ref", "d2", "--at", AT,
                 "--json")
    assert denied.exit_code == 1
    assert denied.json["status"] == "denied"
    assert (denied.json["reason"], denied.json["binding_cap"]) == ("cap_exceeded", "dispositions")
    assert denied.json["reservation_id"] is None
    assert denied.json["engine_headroom"] == "1000.00"
    assert "daily cap of 10000.00" in denied.stderr
    assert db_count(db, "SELECT COUNT(*) FROM risk_reservation WHERE ref = 'd2'") == 0
    tsv = cli("risk", "reserve", "dispositions", "1000.01", "--ref", "d2", "--at", AT,
              "--format", "tsv")
    assert tsv.exit_code == 1 and tsv.stdout.splitlines()[0].startswith("reservation_id\t")


def test_kill_switch_blocks_reserve_with_who_and_why(cli, db):
    _live(cli)
    cli("--actor", "dana", "golive", "kill-switch", "engage", "--reason", "bank fraud alert",
        "--at", AT)
    refused = cli("risk", "reserve", "acquisitions", "10", "--ref", "x", "--at", LATER, "--json")
    assert refused.exit_code == 1
    assert refused.json["reason"] == "kill_switch_engaged"
    assert "dana" in refused.stderr and "bank fraud alert" in refused.stderr
    assert db_count(db, "SELECT COUNT(*) FROM risk_reservation") == 0
    not_live = cli("golive", "kill-switch", "release", "--reason", "ok")
    assert not_live.exit_code == 0
    cli("golive", "disable", "--reason", "pause")
    assert cli("risk", "reserve", "acquisitions", "10", "--ref", "x", "--at", LATER,
               "--json").json["reason"] == "golive_disabled"


def test_enforcement_off_warns_and_reserves(cli):
    result = cli("risk", "reserve", "marketing", "10", "--ref", "dev", "--at", AT, "--json",
                 env={"VALHALLA_GOLIVE_ENFORCE": "0"})
    assert result.exit_code == 0
    assert result.json["status"] == "reserved"
    assert "enforcement is off" in result.stderr


def test_breach_after_big_loss_blocks_the_day_and_fails_the_runbook(cli):
    _live(cli)
    assert cli("runbook", "status", "--at", AT).exit_code == 0
    cli("risk", "reserve", "marketing", "15000", "--ref", "tv", "--at", AT)
    assert cli("risk", "settle", "--ref", "tv", "--pnl", "-15000.01", "--at", LATER).exit_code \
        == 0
    snap = cli("risk", "snapshot", "--day", "2027-01-15", "--json")
    assert snap.json["breaches"] == [{"engine": "marketing", "cap": "15000.00",
                                      "exposure": "15000.01", "over": "0.01"}]
    table = cli("risk", "snapshot", "--day", "2027-01-15", "--format", "table")
    assert "marketing" in table.stdout and "breach" in table.stderr
    blocked = cli("risk", "reserve", "marketing", "1", "--ref", "more", "--at", LATER, "--json")
    assert blocked.exit_code == 1 and blocked.json["binding_cap"] == "marketing"
    runbook = cli("runbook", "status", "--at", LATER, "--json")
    assert runbook.exit_code == 1
    check = next(c for c in runbook.json["checks"] if c["name"] == "risk")
    assert check["status"] == "fail" and "marketing over by 0.01" in check["detail"]
    assert cli("runbook", "status", "--at", "2027-01-16T10:00").exit_code == 0


def test_policies_and_policy_set(cli, db):
    listing = cli("risk", "policies", "--json").json
    assert [(p["engine"], p["daily_cap"], p["enabled"]) for p in listing] == [
        ("GLOBAL", "50000.00", True), ("acquisitions", "25000.00", True),
        ("dispositions", "10000.00", True), ("marketing", "15000.00", True)]
    created = cli("--actor", "erin", "risk", "policy-set", "legal", "--daily-cap", "3000",
                  "--reason", "closing attorneys", "--at", AT, "--json")
    assert created.exit_code == 0, created.stderr
    assert created.json["created"] is True and created.json["daily_cap"] == "3000.00"
    off = cli("risk", "policy-set", "legal", "--disable", "--json").json
    assert off["enabled"] is False and off["before"] == {"daily_cap": "3000.00", "enabled": True}
    _live(cli)
    refused = cli("risk", "reserve", "legal", "1", "--ref", "l", "--at", AT, "--json")
    assert refused.exit_code == 1 and refused.json["reason"] == "engine_disabled"
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'risk'") == 2
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'risk' AND actor = 'erin' "
                        "AND reason = 'closing attorneys'") == 1


def test_bad_input_changes_nothing(cli, db):
    _live(cli)
    cli("risk", "reserve", "acquisitions", "100", "--ref", "held", "--at", AT)
    before = snapshot_tables(db)
    cases = [
        ("risk", "reserve", "acquisitions", "-5", "--ref", "r"),
        ("risk", "reserve", "acquisitions", "--ref", "r", "--", "-5"),
        ("risk", "reserve", "acquisitions", "0", "--ref", "r"),
        ("risk", "reserve", "acquisitions", "abc", "--ref", "r"),
        ("risk", "reserve", "acquisitions", "10.005", "--ref", "r"),
        ("risk", "reserve", "acquisitions", "1e3", "--ref", "r"),
        ("risk", "reserve", "lottery", "10", "--ref", "r"),
        ("risk", "reserve", "GLOBAL", "10", "--ref", "r"),
        ("risk", "reserve", "bad name!", "10", "--ref", "r"),
        ("risk", "reserve", "acquisitions", "10"),  # missing --ref
        ("risk", "reserve", "acquisitions", "10", "--ref", " "),
        ("risk", "reserve", "acquisitions", "10", "--ref", "r", "--at", "next tuesday"),
        ("risk", "reserve", "acquisitions", "200", "--ref", "held"),  # ref with another amount
        ("risk", "reserve", "marketing", "100", "--ref", "held"),  # ref with another engine
        ("risk", "reserve", "acquisitions", "10", "--ref", "r", "--format", "xml"),
        ("risk", "settle", "--pnl", "-5"),  # neither id nor ref
        ("risk", "settle", "1", "--ref", "held", "--pnl", "-5"),  # both
        ("risk", "settle", "--ref", "held"),  # missing --pnl
        ("risk", "settle", "--ref", "held", "--pnl", "abc"),
        ("risk", "settle", "--ref", "held", "--pnl", "-1.001"),
        ("risk", "settle", "--ref", "nope", "--pnl", "1"),
        ("risk", "settle", "999", "--pnl", "1"),
        ("risk", "settle", "abc", "--pnl", "1"),
        ("risk", "settle", "--ref", "held", "--pnl", "1", "--at", "garbage"),
        ("risk", "settle", "--ref", "held", "--pnl", "1", "--at", "2027-01-15T09:00"),  # before
        ("risk", "release"),
        ("risk", "release", "--ref", "nope"),
        ("risk", "release", "0"),
        ("risk", "release", "--ref", "held", "--at", "13/13/2027"),
        ("risk", "snapshot", "--day", "2027-02-30"),
        ("risk", "snapshot", "--at", "soon"),
        ("risk", "snapshot", "--day", "2027-01-15", "--at", AT),
        ("risk", "policies", "--format", "xml"),
        ("risk", "policy-set", "acquisitions", "--daily-cap", "50000.01"),  # above GLOBAL
        ("risk", "policy-set", "GLOBAL", "--daily-cap", "24999.99"),  # below acquisitions
        ("risk", "policy-set", "marketing", "--daily-cap", "-1"),
        ("risk", "policy-set", "marketing", "--daily-cap", "lots"),
        ("risk", "policy-set", "marketing", "--daily-cap", "1.234"),
        ("risk", "policy-set", "marketing"),  # nothing to change
        ("risk", "policy-set", "legal", "--enable"),  # new engine without a cap
        ("risk", "policy-set", "no way", "--daily-cap", "10"),
        ("risk", "policy-set", "marketing", "--daily-cap", "10", "--at", "x"),
        ("risk", "events", "--day", "yesterday"),
        ("risk", "events", "--engine", "lottery", "--day", "2027-01-15"),
        ("risk", "events", "--at", "never"),
    ]
    for args in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.exit_code, result.stdout, result.stderr)
        assert result.stdout == "", (args, result.stdout)
    assert snapshot_tables(db) == before


def test_every_risk_command_has_help_with_an_example(cli_nodb):
    for command in ("reserve", "settle", "release", "snapshot", "policies", "policy-set",
                    "events"):
        result = cli_nodb("risk", command, "--help")
        assert result.exit_code == 0
        assert "Example:" in result.stdout and "valhalla risk" in result.stdout


@pytest.mark.slow
def test_same_ref_from_two_processes_yields_one_reservation(db_url):
    assert run_valhalla("golive", "enable", "--reason", "go", db_url=db_url).exit_code == 0
    args = ("risk", "reserve", "acquisitions", "777.77", "--ref", "dup", "--at", AT, "--json")
    with ThreadPoolExecutor(2) as pool:  # the threads only wait on two real processes
        results = list(pool.map(lambda _: run_valhalla(*args, db_url=db_url), range(2)))
    assert [r.exit_code for r in results] == [0, 0], [r.stderr for r in results]
    answers = [r.json for r in results]
    assert answers[0]["reservation_id"] == answers[1]["reservation_id"]
    assert sorted(a["replayed"] for a in answers) == [False, True]
    from valhalla_cli.bootstrap import open_database

    db = open_database(db_url)
    try:
        assert db_count(db, "SELECT COUNT(*) FROM risk_reservation") == 1
        assert db_count(db, "SELECT reserved_cents FROM risk_ledger WHERE engine = 'GLOBAL'") \
            == 77777
    finally:
        db.dispose()
