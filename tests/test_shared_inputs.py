"""One definition per shared input (SPEC 2): every command that takes a province, a market, an
amount of money or a lead id accepts and refuses exactly the same values, on both engines.

A command "accepts" a value when it does not answer exit 2 (it may still say no, exit 1, for a
reason of its own); it "refuses" it with exit 2, one line on standard error, and nothing changed.
`''` and `*` are left out of the market table on purpose: in the market and ladder packs they
name the province-wide scope, not a market.
"""

from __future__ import annotations

import pytest
from conftest import snapshot_tables

AT = "2027-01-15T10:00"

PROVINCE_COMMANDS = (
    ("market", "can-contact", "{}", "--channel", "CALL", "--at", AT),
    ("market", "effective", "{}"),
    ("market", "policies", "--province", "{}"),
    ("ladder", "create", "L-9", "--province", "{}", "--at", AT),
    ("liquidity", "feedback", "{}", "--market", "TORONTO", "--buyer", "B-1", "--responded",
     "--at", AT),
    ("liquidity", "score", "{}", "--market", "TORONTO", "--at", AT),
    ("liquidity", "nodes", "--province", "{}", "--at", AT),
    ("offer", "compute", "{}", "--arv", "450000", "--repairs", "0", "--at", AT),
    ("offer", "policies", "--province", "{}"),
    ("offer", "evidence", "list", "--province", "{}"),
    ("kpi", "emit", "probe_metric", "--province", "{}", "--at", AT),
)
PROVINCES_ACCEPTED = ("ON", "qc", " bc ")
PROVINCES_REFUSED = ("ZZ", "", "O\u200bN", "ONT")

MARKET_COMMANDS = (
    ("market", "can-contact", "ON", "--market", "{}", "--channel", "CALL", "--at", AT),
    ("market", "policy-set", "ON", "--market", "{}", "--min-lead-score", "0"),
    ("market", "effective", "ON", "--market", "{}"),
    ("ladder", "create", "L-9", "--province", "ON", "--market", "{}", "--lead-score", "50",
     "--at", AT),
    ("liquidity", "feedback", "ON", "--market", "{}", "--buyer", "B-1", "--responded",
     "--at", AT),
    ("liquidity", "score", "ON", "--market", "{}", "--at", AT),
    ("offer", "compute", "ON", "--market", "{}", "--arv", "450000", "--repairs", "0",
     "--at", AT),
    ("offer", "policy-set", "ON", "--market", "{}", "--min-arv", "1000"),
    ("kpi", "emit", "probe_metric", "--market", "{}", "--at", AT),
)
MARKETS_ACCEPTED = ("TORONTO", "ST. JOHN'S", "TROIS-RIVIÈRES", "NORTH_YORK", "Montreal",
                    "MONTRÉAL", "A & B", "M" * 64)
MARKETS_REFUSED = ("TORONTO!", "M" * 65, "TOR\u200bONTO", "-TORONTO", "ΑΘΗΝΑ", "TORONTO\n2",
                   "TORONTO/EAST")

MONEY_COMMANDS = (
    ("risk", "reserve", "acquisitions", "{}", "--ref", "probe-{n}", "--at", AT),
    ("risk", "policy-set", "probe-{n}", "--daily-cap", "{}", "--reason", "probe"),
    ("offer", "compute", "ON", "--arv", "{}", "--repairs", "0", "--at", AT),
    ("offer", "compute", "ON", "--arv", "450000", "--repairs", "{}", "--at", AT),
    ("offer", "policy-set", "ON", "--assignment-fee", "{}"),
)
MONEY_ACCEPTED = ("1500", "1500.5", "1500.50", "1000000000.00")
MONEY_REFUSED = ("4.5e5", "1_000", "１５００", "١٥٠٠", "1.005", "1,000", "1000000000.01", "NaN",
                 "0x10", "")

LEAD_COMMANDS = (  # in this order: `ladder show` shows what `ladder create` made
    ("ladder", "create", "{}", "--province", "ON", "--at", AT),
    ("ladder", "show", "{}"),
    ("market", "suppress", "{}", "--reason", "probe"),
    ("market", "can-contact", "ON", "--channel", "CALL", "--lead", "{}", "--at", AT),
    ("market", "suppressions", "--lead", "{}"),
)
LEADS_ACCEPTED = ("L-1", "lead 4411", "L-É", "x" * 200)
LEADS_REFUSED = ("L-1\u200b", "\u202eL-1", "L-\x01", "x" * 201, "", "L-\ufeff1")


def _argv(template: tuple[str, ...], value: str, n: int) -> list[str]:
    return [value if part == "{}" else part.replace("{n}", str(n)) for part in template]


def _check(cli, db, commands, accepted, refused):
    n = 0
    for template in commands:
        for value in accepted:
            n += 1
            result = cli(*_argv(template, value, n))
            assert result.exit_code in (0, 1), (template, value, result.stderr)
    before = snapshot_tables(db)
    for template in commands:
        for value in refused:
            n += 1
            result = cli(*_argv(template, value, n))
            assert result.exit_code == 2, (template, value, result.exit_code, result.stdout)
            assert result.stdout == "", (template, value)
    assert snapshot_tables(db) == before, "a refused value changed the database"


def test_provinces_are_one_definition(cli, db):
    _check(cli, db, PROVINCE_COMMANDS, PROVINCES_ACCEPTED, PROVINCES_REFUSED)


def test_markets_are_one_definition(cli, db):
    _check(cli, db, MARKET_COMMANDS, MARKETS_ACCEPTED, MARKETS_REFUSED)


def test_money_is_one_definition(cli, db):
    # Room under GLOBAL for a new engine of any valid cap.
    assert cli("risk", "policy-set", "global", "--daily-cap", "1000000000",
               "--reason", "probe").exit_code == 0
    _check(cli, db, MONEY_COMMANDS, MONEY_ACCEPTED, MONEY_REFUSED)


def test_lead_ids_are_one_definition(cli, db):
    _check(cli, db, LEAD_COMMANDS, LEADS_ACCEPTED, LEADS_REFUSED)


@pytest.mark.parametrize("argv", [
    ("--actor", "a" * 201, "golive", "checklist", "add", "probe", "--title", "t"),
    ("--actor", "a\u200bb", "golive", "checklist", "add", "probe", "--title", "t"),
    ("kpi", "emit", "probe_metric", "--ref", "r" * 100_000),
    ("kpi", "emit", "probe_metric", "--source", "s" * 81),
    ("kpi", "emit", "probe_metric", "--market", "m" * 100_000),
    ("heimdall", "record", "offer_pricing", "--confidence", "0.9", "--subject", "s" * 201),
    ("risk", "reserve", "acquisitions", "10", "--ref", "r" * 201),
])
def test_text_longer_than_its_column_or_invisible_is_bad_input(cli, db, argv):
    before = snapshot_tables(db)
    result = cli(*argv)
    assert result.exit_code == 2, result.stderr
    assert snapshot_tables(db) == before


def test_a_market_is_the_same_market_whatever_its_case_or_accents(cli):
    """`Montreal` finds `MONTRÉAL` in the market, liquidity and offer packs."""
    assert cli("market", "policy-set", "QC", "--market", "MONTRÉAL",
               "--min-lead-score", "30").exit_code == 0
    effective = cli("market", "effective", "QC", "--market", "montreal", "--json").json
    assert effective["market"] == "MONTRÉAL"
    assert effective["min_lead_score"] == 30
    assert effective["sources"]["min_lead_score"] == "market"
    # Setting it again under another spelling updates the same policy, keeping the first name.
    assert cli("market", "policy-set", "QC", "--market", "Montreal",
               "--min-lead-score", "35").exit_code == 0
    markets = [p["market"] for p in cli("market", "policies", "--province", "QC", "--json").json]
    assert markets.count("MONTRÉAL") == 1 and "MONTREAL" not in markets

    for i, spelling in enumerate(("MONTRÉAL", "Montreal", "montréal")):
        assert cli("liquidity", "feedback", "QC", "--market", spelling, "--buyer", f"B-{i}",
                   "--responded", "--at", "2027-01-14T12:00").exit_code == 0
    score = cli("liquidity", "score", "QC", "--market", "MONTREAL", "--at", AT, "--json").json
    assert score["sent"] == 3 and score["responded"] == 3
    nodes = cli("liquidity", "nodes", "--province", "QC", "--at", AT, "--json").json
    assert [(n["market"], n["sent"]) for n in nodes] == [("MONTRÉAL", 3)]

    assert cli("offer", "policy-set", "QC", "--market", "Montréal", "--min-arv", "1000",
               "--json").exit_code == 0
    again = cli("offer", "policy-set", "QC", "--market", "MONTREAL", "--min-arv", "2000",
                "--json").json
    assert again["created"] is False and again["market"] == "Montréal".upper()


@pytest.mark.parametrize("command,header,row", [
    ("kpi", "metric,value,occurred_at,market", "probe_metric,1,2027-01-15T10:00,TORONTO!"),
    ("ladder", "lead_id,province,market", "L-1,ON,TOR\u200bONTO"),
    ("liquidity", "province,market,buyer,responded,at", "ON,M-{long},B-1,true,2027-01-14T12:00"),
])
def test_imports_check_markets_like_every_command(cli, db, tmp_path, command, header, row):
    path = tmp_path / "rows.csv"
    path.write_text(f"{header}\n{row.replace('{long}', 'X' * 70)}\n", encoding="utf-8")
    before = snapshot_tables(db)
    result = cli(command, "import", str(path))
    assert result.exit_code == 2, result.stderr
    assert f"{path}:2: field 'market'" in result.stderr
    assert snapshot_tables(db) == before
