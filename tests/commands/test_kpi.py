"""`valhalla kpi`: emit, import (all or nothing), list, summary."""

import json

from conftest import db_count, snapshot_tables


def test_emit_and_list(cli):
    made = cli("kpi", "emit", "buyer_feedback", "--value", "0", "--province", "on", "--market",
               "toronto", "--at", "2027-01-15T09:30", "--json").json
    assert made["metric"] == "buyer_feedback" and made["value"] == 0.0
    assert made["province"] == "ON" and made["market"] == "TORONTO"
    assert made["occurred_at"] == "2027-01-15T14:30:00Z"  # business time (Toronto) to UTC
    listed = cli("kpi", "list", "--metric", "buyer_feedback", "--json").json
    assert [e["id"] for e in listed] == [made["id"]]


def test_import_csv_and_jsonl(cli, db, tmp_path):
    csv_file = tmp_path / "events.csv"
    csv_file.write_text(
        "metric,value,occurred_at,province,market\n"
        "ladder_created,1,2027-01-15T10:00:00Z,ON,TORONTO\n"
        "offer_generated,1,2027-01-15T11:00:00-05:00,,\n"
    )
    result = cli("kpi", "import", str(csv_file), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["imported"] == 2
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_text(json.dumps({"metric": "buyer_feedback", "value": 0.5,
                                 "occurred_at": "2027-01-16T10:00:00Z", "ref": "d-1"}) + "\n")
    assert cli("kpi", "import", str(jsonl), "--json").json["imported"] == 1
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event") == 3
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE source = 'import'") == 3


def test_malformed_import_is_rejected_whole_naming_line_and_field(cli, db, tmp_path):
    good = "ladder_created,1,2027-01-15T10:00:00Z\n" * 3
    cases = {
        "metric,value,occurred_at\n" + good + "ladder_created,abc,2027-01-15T10:00:00Z\n":
            ("events.csv:5", "value"),
        "metric,value,occurred_at\n" + good + "ladder_created,1,yesterday\n":
            ("events.csv:5", "occurred_at"),
        "metric,value,occurred_at,province\n" + "ladder_created,1,2027-01-15T10:00:00Z,ZZ\n":
            ("events.csv:2", "province"),
        "metric,occurred_at\nladder_created,2027-01-15T10:00:00Z\n": ("events.csv:1", "value"),
    }
    before = snapshot_tables(db)
    for text, (where, field) in cases.items():
        path = tmp_path / "events.csv"
        path.write_text(text)
        result = cli("kpi", "import", str(path))
        assert result.exit_code == 2, text
        assert where in result.stderr and field in result.stderr, result.stderr
    assert snapshot_tables(db) == before


def test_bad_input(cli, db, tmp_path):
    before = snapshot_tables(db)
    for args in [
        ("kpi", "emit", "Bad-Metric"),
        ("kpi", "emit", "ok_metric", "--value", "abc"),
        ("kpi", "emit", "ok_metric", "--province", "XX"),
        ("kpi", "emit", "ok_metric", "--at", "not-a-time"),
        ("kpi", "emit", "ok_metric", "--value", "nan"),
        ("kpi", "import", str(tmp_path / "missing.csv")),
        ("kpi", "import", str(tmp_path / "events.txt")),
        ("kpi", "summary", "--days", "0"),
        ("kpi", "list", "--since", "garbage"),
    ]:
        result = cli(*args)
        assert result.exit_code == 2, args
    assert snapshot_tables(db) == before


def test_summary_counts_and_means_per_business_day(cli):
    # 23:30 Toronto on the 14th is 04:30Z on the 15th: it belongs to the 14th's business day.
    for at, value in [("2027-01-14T23:30", 1), ("2027-01-15T09:00", 0), ("2027-01-15T10:00", 1)]:
        cli("kpi", "emit", "buyer_feedback", "--value", str(value), "--at", at)
    summary = cli("kpi", "summary", "--days", "2", "--at", "2027-01-15T12:00", "--json").json
    assert len(summary) == 1
    metric = summary[0]
    assert metric["metric"] == "buyer_feedback" and metric["count"] == 3
    assert [(d["day"], d["count"], d["mean"]) for d in metric["days"]] == [
        ("2027-01-14", 1, 1.0), ("2027-01-15", 2, 0.5)]
    table = cli("kpi", "summary", "--days", "2", "--at", "2027-01-15T12:00", "--format", "table")
    assert "buyer_feedback" in table.stdout


def test_summary_table_of_an_empty_period_still_has_its_header(cli):
    table = cli("kpi", "summary", "--days", "3", "--at", "2027-01-15T12:00", "--format", "table")
    assert table.exit_code == 0
    assert "metric" in table.stdout and "per_day" in table.stdout
    tsv = cli("kpi", "summary", "--days", "3", "--at", "2027-01-15T12:00", "--format", "tsv")
    assert tsv.stdout == "metric\tday\tcount\tmean\n"


def test_a_nul_character_in_any_import_is_bad_input_on_every_engine(cli, db, tmp_path):
    """PostgreSQL cannot store NUL in text (SQLite can): refuse it up front, naming the line
    and the field, for every importer and both file types; nothing is imported."""
    cases = [
        ("kpi", "events.csv", "metric,value,occurred_at,ref\n"
         "ladder_created,1,2027-01-15T10:00:00Z,ok\nladder_created,1,2027-01-15T10:00:00Z,a\0b\n",
         ":3", "ref"),
        ("kpi", "events.jsonl", json.dumps({"metric": "ladder_created", "value": 1,
                                            "occurred_at": "2027-01-15T10:00:00Z",
                                            "source": "crm\u0000"}) + "\n", ":1", "source"),
        ("liquidity", "feedback.csv", "province,market,buyer,responded,at\n"
         "ON,TORONTO,B\0 1,true,2027-01-15T10:00:00Z\n", ":2", "buyer"),
        ("ladder", "leads.csv", "lead_id,province,owner\nL-1,ON,va\0\n", ":2", "owner"),
    ]
    before = snapshot_tables(db)
    for pack, name, text, where, field in cases:
        path = tmp_path / name
        path.write_text(text)
        result = cli(pack, "import", str(path), "--json")
        assert result.exit_code == 2, (pack, name, result.stderr)
        assert f"{name}{where}" in result.stderr and field in result.stderr, result.stderr
        assert "NUL" in result.stderr
    assert snapshot_tables(db) == before
