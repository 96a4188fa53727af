"""Readable in a terminal: at 80 and 120 columns no id, phone number, money, percentage or
instant is wrapped (free text wraps between words; a table too wide becomes records); money is
right-aligned with thousands separators; instants are business-local with the zone; nested
values are rows, not JSON text; counted nouns agree ("1 market policy")."""

from __future__ import annotations

import re

import pytest

AT = "2027-01-15T10:00:00-05:00"
PHONES = ("+14165550142", "+16045550123", "+15145550199")


def _table(cli, *args, columns: int):
    result = cli(*args, "--format", "table", env={"COLUMNS": str(columns)})
    assert result.exit_code in (0, 1), result.stderr
    assert all(len(line) <= columns for line in result.stdout.splitlines()), result.stdout
    return result.stdout


@pytest.mark.parametrize("columns", [80, 120])
def test_readable_in_a_terminal_lead_list_phone_numbers_intact(cli, columns):
    for n, phone in enumerate(PHONES, 1):
        assert cli("lead", "add", f"L-{n}", "--province", "ON", "--phone", phone,
                   "--name", "Marie-Ève Tremblay-Gagnon", "--source", "a long source name",
                   "--at", AT).exit_code == 0
    for args in (("lead", "list"), ("lead", "list", "--wide")):
        out = _table(cli, *args, columns=columns)
        for phone in PHONES:
            assert phone in out, out
        assert "L-1" in out and "L-3" in out
    wide = _table(cli, "lead", "list", "--wide", columns=columns)
    assert "2027-01-15 10:00:00 Toronto" in wide  # created_at, local with the zone


@pytest.mark.parametrize("columns", [80, 120])
def test_readable_in_a_terminal_offer_evidence_money_intact(cli, columns):
    assert cli("offer", "policy-set", "ON", "--enable", "--reason", "pilot",
               "--at", AT).exit_code == 0
    assert cli("golive", "enable", "--reason", "go", "--at", AT).exit_code == 0
    computed = cli("offer", "compute", "ON", "--market", "TORONTO", "--arv", "1450000",
                   "--repairs", "50000", "--deal-ref", "D-1", "--at", AT, "--json").json
    for args in (("offer", "evidence", "list"), ("offer", "evidence", "list", "--wide")):
        out = _table(cli, *args, columns=columns)
        money = f"{float(computed['max_offer']):,.2f}"
        assert money in out, out
        assert "2027-01-15 10:00:00 Toronto" in out
    compact = _table(cli, "offer", "evidence", "list", columns=columns)
    money = re.escape(f"{float(computed['max_offer']):,.2f}")
    if columns == 120:  # a table: right-aligned, the figure ends at its column's border
        assert re.search(money + r" │", compact), compact
    else:  # too narrow for the columns: one record per offer, a field a line
        assert re.search(r"^max_offer +" + money, compact, re.M), compact


def test_readable_in_a_terminal_status_at_80_columns(cli):
    assert cli("ladder", "create", "L-1", "--province", "ON", "--owner", "alice",
               "--at", "2027-01-15T09:00:00-05:00", "--json").exit_code == 0
    tasks = cli("ladder", "show", "L-1", "--json").json[0]["tasks"]
    for task, minutes in zip(tasks[:2], ("09:10", "12:30"), strict=True):
        assert cli("ladder", "complete", str(task["task_id"]), "--outcome", "no_answer",
                   "--at", f"2027-01-15T{minutes}:00-05:00").exit_code == 0
    view = cli("status", "--at", AT, "--json").json
    out = _table(cli, "status", "--at", AT, columns=80)
    pct = f"{view['sla']['within_2h_pct']:.1f}"
    assert re.search(rf"\b{re.escape(pct)}\b", out), out
    assert "50,000.00" in out  # the GLOBAL cap, with its separator
    assert "Valhalla status at 2027-01-15 10:00:00 Toronto" in out
    state = _table(cli, "regression", "state", columns=80)
    for lever in ("followups", "offers"):
        assert re.search(rf"\b{lever}\b", state), state


def test_readable_in_a_terminal_dispatch_of_three_tasks_is_short(cli, monkeypatch):
    monkeypatch.setenv("VALHALLA_BUSINESS_NAME", "Maple Home Buyers")
    monkeypatch.setenv("VALHALLA_BUSINESS_CALLBACK", "+14165550100")
    assert cli("golive", "enable", "--reason", "go", "--at", AT).exit_code == 0
    for n, phone in enumerate((PHONES[0], "+14165550143", "+14165550144"), 1):
        assert cli("ladder", "create", f"D-{n}", "--province", "ON", "--phone", phone,
                   "--consent", "express", "--at", AT).exit_code == 0
    out = _table(cli, "ladder", "dispatch", "--worker", "w1", "--at", AT, columns=120)
    assert out.count("D-") == 3 and len(out.splitlines()) <= 12, out
    assert "+14165550143" in out


def test_readable_in_a_terminal_nested_values_are_rows_not_json(cli):
    assert cli("lead", "add", "L-1", "--province", "ON", "--phone", PHONES[0],
               "--at", AT).exit_code == 0
    out = _table(cli, "lead", "show", "L-1", "--at", AT, columns=120)
    assert '{"' not in out and '[{' not in out, out
    # the DNCL answer and the contact answers per channel, as nested rows
    assert re.search(r"^dncl +number +\+14165550142", out, re.M), out
    assert re.search(r"^ +area_code +416", out, re.M), out
    assert re.search(r"^contact +channel +allowed +reason", out, re.M), out


def test_readable_in_a_terminal_plurals(cli):
    checks = {c["name"]: c["detail"] for c in cli("runbook", "status", "--at", AT,
                                                  "--json").json["checks"]}
    assert "0 market policies" in checks["market"]
    assert cli("market", "policy-set", "ON", "--market", "TORONTO", "--min-lead-score", "40",
               "--at", AT).exit_code == 0
    checks = {c["name"]: c["detail"] for c in cli("runbook", "status", "--at", AT,
                                                  "--json").json["checks"]}
    assert "1 market policy," in checks["market"], checks["market"]
    assert checks["risk"].count("3 engines") == 1
    assert cli("offer", "policy-set", "ON", "--enable", "--reason", "pilot",
               "--at", AT).exit_code == 0
    checks = {c["name"]: c["detail"] for c in cli("runbook", "status", "--at", AT,
                                                  "--json").json["checks"]}
    assert checks["offers"].startswith("1 enabled offer policy within bounds"), checks


def test_readable_in_a_terminal_ok_warn_fail_coloured_as_the_page(cli):
    """On a colour terminal a check's verdict is green, yellow or red (as the page's badges);
    without colour the text is plain."""
    env = {"FORCE_COLOR": "1", "NO_COLOR": "", "COLUMNS": "120"}
    coloured = cli("runbook", "status", "--at", AT, "--format", "table", env=env).stdout
    assert "\x1b[32mok" in coloured and "\x1b[33mwarn" in coloured, coloured
    plain = _table(cli, "runbook", "status", "--at", AT, columns=120)
    assert "\x1b[" not in plain
