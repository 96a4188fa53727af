"""`valhalla golive`: switches, kill switch, checklist, audit trail."""

from conftest import db_count, snapshot_tables

AT = "2027-01-15T10:00:00-05:00"


def test_fresh_install_is_disabled_with_kill_switch_released(cli):
    state = cli("golive", "state", "--json").json
    assert state["enabled"] is False
    assert state["kill_switch"] is False
    assert state["live"] is False
    assert state["enforce"] is True
    assert state["last_change"] is None


def test_enable_then_disable_is_audited_with_actor_and_reason(cli, db):
    result = cli("--actor", "alice", "golive", "enable", "--reason", "pilot start", "--at", AT,
                 "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["state"]["live"] is True
    off = cli("golive", "disable", "--reason", "pilot end", "--at", "2027-01-15T11:00", "--json")
    assert off.json["state"]["live"] is False
    events = cli("golive", "history", "--json").json
    assert [e["action"] for e in events] == ["disable", "enable"]
    enable = events[1]
    assert enable["actor"] == "alice"
    assert enable["reason"] == "pilot start"
    assert enable["before"] == {"enabled": False, "kill_switch": False}
    assert enable["after"] == {"enabled": True, "kill_switch": False}
    assert enable["at"] == "2027-01-15T15:00:00Z"
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'golive'") == 2


def test_kill_switch_blocks_enable_and_fails_runbook(cli):
    assert cli("golive", "kill-switch", "engage", "--reason", "duplicates").exit_code == 0
    runbook = cli("runbook", "status", "--json")
    assert runbook.exit_code == 1
    golive_check = next(c for c in runbook.json["checks"] if c["name"] == "golive")
    assert golive_check["status"] == "fail"
    assert "kill switch" in golive_check["detail"]
    refused = cli("golive", "enable", "--reason", "try", "--json")
    assert refused.exit_code == 1
    assert refused.json["refused"] is True
    assert refused.json["reason"] == "runbook_not_ok"
    assert "golive" in refused.json["failing_checks"]
    assert "runbook" in refused.stderr
    assert cli("golive", "state", "--json").json["enabled"] is False
    assert cli("golive", "kill-switch", "release", "--reason", "fixed").exit_code == 0
    assert cli("golive", "enable", "--reason", "go").exit_code == 0


def test_unsigned_checklist_item_fails_runbook_until_signed(cli):
    cli("golive", "checklist", "add", "dncl", "--title", "DNCL subscription active")
    assert cli("runbook", "status").exit_code == 1
    items = cli("golive", "checklist", "--json").json
    assert items == [{"key": "dncl", "title": "DNCL subscription active", "signed": False,
                      "signed_by": None, "signed_at": None, "note": None}]
    signed = cli("--actor", "bob", "golive", "checklist", "sign", "dncl", "--note", "acct 4411",
                 "--json").json
    assert signed["signed"] is True and signed["signed_by"] == "bob"
    assert cli("runbook", "status").exit_code == 0
    cli("golive", "checklist", "unsign", "dncl", "--reason", "lapsed")
    assert cli("runbook", "status").exit_code == 1


def test_bad_input_changes_nothing(cli, db):
    before = snapshot_tables(db)
    cases = [
        ("golive", "enable"),  # missing --reason
        ("golive", "enable", "--reason", "   "),
        ("golive", "disable", "--reason", "x", "--at", "yesterday-ish"),
        ("golive", "kill-switch", "engage", "--reason", ""),
        ("golive", "checklist", "add", "bad key!", "--title", "t"),
        ("golive", "checklist", "sign", "missing"),
        ("golive", "checklist", "unsign", "missing", "--reason", "r"),
        ("golive", "state", "--format", "xml"),
    ]
    for args in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert snapshot_tables(db) == before


def test_enforcement_off_warns_and_acts_as_live(cli):
    result = cli("golive", "state", "--json", env={"VALHALLA_GOLIVE_ENFORCE": "0"})
    assert result.json["live"] is True
    assert "enforcement is off" in result.stderr
    runbook = cli("runbook", "status", "--json", env={"VALHALLA_GOLIVE_ENFORCE": "0"}).json
    assert next(c for c in runbook["checks"] if c["name"] == "golive")["status"] == "warn"
