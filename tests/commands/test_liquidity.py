"""`valhalla liquidity`: feedback, import, nodes and score through the CLI."""

from conftest import db_count, snapshot_tables

AT = "2027-01-15T12:00"


def feedback(cli, *args):
    return cli("liquidity", "feedback", "ON", "--market", "TORONTO", *args, "--json")


def test_feedback_scores_and_emits_kpi(cli, db):
    for i in range(10):
        args = ["--buyer", f"b{i}", "--responded" if i < 6 else "--no-response", "--at", AT]
        if i < 2:
            args.append("--closed")
        assert feedback(cli, *args).exit_code == 0
    score = cli("liquidity", "score", "ON", "--market", "toronto", "--at", AT, "--json").json
    assert score == {"province": "ON", "market": "TORONTO", "property_type": "SFR",
                     "window_start": "2026-10-18", "window_end": "2027-01-15", "sent": 10,
                     "responded": 6, "closed": 2, "response_rate": 0.6, "close_rate": 0.2,
                     "score": 90, "band": "hot", "note": None}
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'buyer_feedback'") == 10
    assert db_count(db, "SELECT SUM(value) FROM kpi_event WHERE metric = 'buyer_feedback'") == 6
    condo = cli("liquidity", "score", "ON", "--market", "TORONTO", "--type", "condo", "--at",
                AT, "--json").json
    assert (condo["sent"], condo["score"], condo["band"]) == (0, None, "unknown")


def test_deal_ref_makes_feedback_idempotent(cli, db):
    first = feedback(cli, "--buyer", "acme", "--responded", "--deal-ref", "D-1", "--at", AT)
    again = feedback(cli, "--buyer", "acme", "--responded", "--deal-ref", "D-1", "--at", AT)
    assert first.json["created"] is True and again.json["created"] is False
    assert again.json["id"] == first.json["id"]
    conflict = feedback(cli, "--buyer", "acme", "--no-response", "--deal-ref", "D-1")
    assert conflict.exit_code == 2 and "already recorded" in conflict.stderr
    assert db_count(db, "SELECT SUM(sent) FROM buyer_liquidity_node") == 1
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event") == 1


def test_nodes_lists_markets_in_the_window(cli):
    feedback(cli, "--buyer", "a", "--responded", "--at", "2027-01-10T09:00")
    cli("liquidity", "feedback", "BC", "--market", "Vancouver", "--buyer", "b", "--no-response",
        "--type", "CONDO", "--at", "2027-01-11T09:00")
    feedback(cli, "--buyer", "c", "--responded", "--at", "2026-06-01T09:00")  # outside
    nodes = cli("liquidity", "nodes", "--at", AT, "--json").json
    assert [(n["province"], n["market"], n["property_type"], n["sent"], n["last_feedback_on"])
            for n in nodes] == [("BC", "VANCOUVER", "CONDO", 1, "2027-01-11"),
                                ("ON", "TORONTO", "SFR", 1, "2027-01-10")]
    only_on = cli("liquidity", "nodes", "--province", "on", "--at", AT, "--json").json
    assert [n["province"] for n in only_on] == ["ON"]


def test_import_csv_and_jsonl(cli, db, tmp_path):
    csv_file = tmp_path / "fb.csv"
    csv_file.write_text(
        "province,market,buyer,responded,closed,property_type,deal_ref,at\n"
        "ON,Toronto,a,true,true,SFR,D-1,2027-01-10T09:00\n"
        "ON,TORONTO,b,no,,,D-1,2027-01-10T10:00\n"
        "ON,TORONTO,a,yes,,,D-1,2027-01-10T11:00\n"  # same deal and buyer: duplicate
        "QC,MONTREAL,c,1,0,CONDO,,2027-01-11T09:00\n")
    result = cli("liquidity", "import", str(csv_file), "--json")
    assert result.exit_code == 0, result.stderr
    out = result.json
    assert (out["imported"], out["skipped"]) == (3, 1)
    assert out["skipped_rows"][0]["line"] == 4
    assert out["skipped_rows"][0]["reason"] == "duplicate"
    jsonl = tmp_path / "fb.jsonl"
    jsonl.write_text('{"province": "ON", "market": "TORONTO", "buyer": "d", "responded": true,'
                     ' "at": "2027-01-12T09:00"}\n')
    assert cli("liquidity", "import", str(jsonl), "--json").json["imported"] == 1
    score = cli("liquidity", "score", "ON", "--market", "TORONTO", "--at", AT, "--json").json
    assert (score["sent"], score["responded"], score["closed"]) == (3, 2, 1)
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'buyer_feedback'") == 4
    assert db_count(db, "SELECT SUM(sent) FROM buyer_liquidity_node") == 4


def test_bad_input_is_exit_2_and_changes_nothing(cli, db, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("province,market,buyer,responded,at\n"
                   "ON,TORONTO,a,true,2027-01-10T09:00\n"
                   "ZZ,TORONTO,b,true,2027-01-10T09:00\n")
    bad_flag = tmp_path / "flag.csv"
    bad_flag.write_text("province,market,buyer,responded,at\nON,TORONTO,a,maybe,2027-01-10\n")
    before = snapshot_tables(db)
    cases = [
        ("liquidity", "feedback", "ZZ", "--market", "T", "--buyer", "a", "--responded"),
        ("liquidity", "feedback", "ON", "--market", "T", "--buyer", "a"),
        ("liquidity", "feedback", "ON", "--market", "T", "--buyer", "a", "--no-response",
         "--closed"),
        ("liquidity", "feedback", "ON", "--market", "T", "--buyer", " ", "--responded"),
        ("liquidity", "feedback", "ON", "--market", "*", "--buyer", "a", "--responded"),
        ("liquidity", "feedback", "ON", "--market", "T", "--buyer", "a", "--responded",
         "--type", "BOAT"),
        ("liquidity", "feedback", "ON", "--market", "T", "--buyer", "a", "--responded",
         "--at", "never"),
        ("liquidity", "import", str(bad)),
        ("liquidity", "import", str(bad_flag)),
        ("liquidity", "import", str(tmp_path / "missing.csv")),
        ("liquidity", "score", "ON", "--market", "T", "--type", "HUT"),
        ("liquidity", "score", "XX", "--market", "T"),
        ("liquidity", "nodes", "--province", "XX"),
    ]
    for args in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert snapshot_tables(db) == before
    message = cli("liquidity", "import", str(bad)).stderr
    assert "bad.csv:3" in message and "province" in message
