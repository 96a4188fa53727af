"""`valhalla offer`: compute (to the cent, every refusal, throttle, mode), policies, evidence,
and the `offers` runbook check."""

from datetime import UTC, datetime

import pytest
from conftest import db_count, snapshot_tables

AT = "2027-01-15T10:00:00-05:00"


def enable_on(cli, *extra):
    result = cli("offer", "policy-set", "ON", "--enable", *extra, "--reason", "pilot", "--json")
    assert result.exit_code == 0, result.stderr
    return result.json


def compute(cli, *args):
    return cli("offer", "compute", *args, "--at", AT, "--json")


def test_seed_example_and_awkward_example_to_the_cent(cli, db):
    enable_on(cli)
    first = compute(cli, "ON", "--market", "TORONTO", "--arv", "450000", "--repairs", "50000")
    assert first.exit_code == 0, first.stderr
    out = first.json
    assert (out["mao"], out["max_offer"], out["opening_offer"]) == (
        "255000.00", "255000.00", "229500.00")
    assert out["fees"] == {"assignment_fee": "10000.00", "closing_costs": "0.00",
                           "holding_costs": "0.00", "total": "10000.00",
                           "assignment_fee_overridden": False}
    assert (out["province"], out["market"], out["property_type"]) == ("ON", "TORONTO", "SFR")
    assert out["policy"]["arv_pct"] == 0.7 and out["policy"]["enabled"] is True
    assert out["liquidity"]["band"] == "unknown" and out["liquidity"]["score"] is None
    assert out["mode"] == "sandbox" and out["throttled"] is False and out["reason"] is None
    second = compute(cli, "ON", "--market", "TORONTO", "--arv", "147333", "--repairs", "20000")
    out2 = second.json
    assert (out2["arv_times_pct"], out2["mao"], out2["max_offer"], out2["opening_offer"]) == (
        "103133.10", "73133.10", "73000.00", "65500.00")
    assert out2["mao_times_opening_ratio"] == "65819.79"
    # Evidence in cents, and one offer_generated KPI per computed offer.
    assert db_count(db, "SELECT mao_cents FROM offer_evidence WHERE id = :i",
                    i=out2["evidence_id"]) == 7_313_310
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'offer_generated'") == 2
    assert db_count(db, "SELECT COUNT(*) FROM offer_evidence") == 2


def test_table_output_explains_the_arithmetic(cli):
    enable_on(cli)
    result = cli("offer", "compute", "ON", "--arv", "147333", "--repairs", "20000", "--at", AT,
                 "--format", "table")
    assert result.exit_code == 0
    for text in ("103133.10", "-20000.00", "-10000.00", "73133.10", "73000.00", "65819.79",
                 "65500.00", "rounded down", "sandbox"):
        assert text in result.stdout, text


def test_fees_and_overrides_add_exactly(cli):
    enable_on(cli, "--closing-costs", "0.10", "--holding-costs", "0.20", "--rounding", "0.10")
    out = compute(cli, "ON", "--arv", "100000.10", "--repairs", "0.20",
                  "--assignment-fee", "0.30").json
    assert out["fees"]["total"] == "0.60" and out["fees"]["assignment_fee_overridden"] is True
    assert (out["arv_times_pct"], out["mao"], out["max_offer"]) == (
        "70000.07", "69999.27", "69999.20")


def test_comps_give_the_arv(cli, tmp_path):
    enable_on(cli)
    comps = tmp_path / "comps.csv"
    comps.write_text("address,sold_price,sqft,sold_on\n1 A St,400000,1300,2026-10-01\n"
                     "2 B St,455000.50,1450,2026-09-12\n3 C St,390000,1200,2026-11-02\n")
    out = compute(cli, "ON", "--market", "TORONTO", "--comps", comps, "--sqft", "1450",
                  "--repairs", "50000").json
    assert out["arv"] == "455000.50" and out["arv_source"] == "comps"
    assert out["comps"]["count"] == 3 and out["comps"]["median_price_per_sqft"] == "313.7934"
    assert out["mao"] == "258500.35" and out["max_offer"] == "258500.00"
    shown = cli("offer", "evidence", "show", str(out["evidence_id"]), "--json").json
    assert [c["line"] for c in shown["comps"]] == [2, 3, 4]
    assert shown["comps"][1]["sold_price"] == "455000.50"


@pytest.mark.parametrize(
    ("setup", "args", "reason"),
    [
        ((), ("--arv", "450000", "--repairs", "50000"), "policy_disabled"),
        (("--enable",), ("--arv", "49999.99", "--repairs", "0"), "arv_below_minimum"),
        (("--enable",), ("--arv", "100000", "--repairs", "60000"), "no_viable_offer"),
        (("--enable", "--min-liquidity-score", "50"), ("--arv", "450000", "--repairs", "50000"),
         "liquidity_below_minimum"),
    ],
)
def test_each_refusal_has_its_reason_and_leaves_evidence(cli, db, setup, args, reason):
    if setup:
        assert cli("offer", "policy-set", "ON", *setup).exit_code == 0
    result = compute(cli, "ON", "--market", "TORONTO", *args)
    assert result.exit_code == 1
    out = result.json
    assert out["reason"] == reason and out["outcome"] == "refused"
    assert out["max_offer"] is None and out["opening_offer"] is None
    assert result.stderr.startswith("valhalla: no offer:")
    assert db_count(db, "SELECT COUNT(*) FROM offer_evidence WHERE reason = :r", r=reason) == 1
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event") == 0


def _feedback(cli, n, responded, closed=0, market="TORONTO"):
    for i in range(n):
        args = ["--responded" if i < responded else "--no-response"]
        if i < closed:
            args.append("--closed")
        assert cli("liquidity", "feedback", "ON", "--market", market, "--buyer", f"b{i}",
                   *args, "--at", "2027-01-10T12:00").exit_code == 0


def test_cold_market_under_minimum_refuses_and_a_hot_one_passes(cli):
    enable_on(cli, "--min-liquidity-score", "60")
    _feedback(cli, 10, responded=3, closed=0, market="TORONTO")  # 25: cold
    _feedback(cli, 10, responded=6, closed=2, market="OTTAWA")  # 90: hot
    cold = compute(cli, "ON", "--market", "TORONTO", "--arv", "450000", "--repairs", "50000")
    assert cold.exit_code == 1 and cold.json["reason"] == "liquidity_below_minimum"
    assert cold.json["liquidity"] == {"score": 25, "band": "cold", "sent": 10, "responded": 3,
                                      "closed": 0, "window_start": "2026-10-18",
                                      "window_end": "2027-01-15", "min_liquidity_score": 60}
    hot = compute(cli, "ON", "--market", "OTTAWA", "--arv", "450000", "--repairs", "50000")
    assert hot.exit_code == 0 and hot.json["liquidity"]["score"] == 90
    # No market: no node to score, fail closed under a minimum.
    none = compute(cli, "ON", "--arv", "450000", "--repairs", "50000")
    assert none.exit_code == 1 and none.json["reason"] == "liquidity_below_minimum"


def test_throttled_lever_still_computes_but_exits_1(cli, db):
    enable_on(cli)
    from valhalla_cli.models import RegressionState

    with db.transaction(write=True) as session:
        session.add(RegressionState(lever="offers", throttled=True,
                                    since=datetime(2027, 1, 14, tzinfo=UTC),
                                    metric="offer_generated", reason="offer rate dropped 30%"))
    result = compute(cli, "ON", "--arv", "450000", "--repairs", "50000")
    assert result.exit_code == 1
    out = result.json
    assert out["throttled"] is True and out["reason"] == "offers_throttled"
    assert out["outcome"] == "offer" and out["max_offer"] == "255000.00"
    assert "do not send" in result.stderr and "regression release offers" in result.stderr
    assert db_count(db, "SELECT throttled FROM offer_evidence") in (1, True)


def test_mode_is_production_only_when_live(cli):
    enable_on(cli)
    assert compute(cli, "ON", "--arv", "450000", "--repairs", "50000").json["mode"] == "sandbox"
    assert cli("golive", "enable", "--reason", "go").exit_code == 0
    assert compute(cli, "ON", "--arv", "450000", "--repairs", "50000").json["mode"] == \
        "production"
    cli("golive", "kill-switch", "engage", "--reason", "stop")
    assert compute(cli, "ON", "--arv", "450000", "--repairs", "50000").json["mode"] == "sandbox"


def test_bad_input_is_exit_2_and_writes_nothing(cli, db, tmp_path):
    enable_on(cli)
    bad_comps = tmp_path / "bad.csv"
    bad_comps.write_text("address,sold_price,sqft,sold_on\n1 A St,abc,1300,2026-10-01\n")
    before = snapshot_tables(db)
    base = ("offer", "compute")
    cases = [
        (*base, "ZZ", "--arv", "450000", "--repairs", "50000"),
        (*base, "ON", "--arv", "450000.001", "--repairs", "50000"),
        (*base, "ON", "--arv", "-450000", "--repairs", "50000"),
        (*base, "ON", "--arv", "lots", "--repairs", "50000"),
        (*base, "ON", "--arv", "450000", "--repairs", "-1"),
        (*base, "ON", "--arv", "450000"),
        (*base, "ON", "--arv", "450000", "--repairs", "5", "--type", "CASTLE"),
        (*base, "ON", "--arv", "450000", "--repairs", "5", "--market", "!!"),
        (*base, "ON", "--arv", "450000", "--repairs", "5", "--assignment-fee", "1e3x"),
        (*base, "ON", "--repairs", "5"),
        (*base, "ON", "--arv", "1", "--comps", str(bad_comps), "--sqft", "1", "--repairs", "5"),
        (*base, "ON", "--comps", str(bad_comps), "--sqft", "1000", "--repairs", "5"),
        (*base, "ON", "--comps", str(tmp_path / "missing.csv"), "--sqft", "10", "--repairs", "5"),
        (*base, "ON", "--comps", str(bad_comps), "--repairs", "5"),
        (*base, "ON", "--arv", "450000", "--repairs", "5", "--at", "someday"),
        ("offer", "policy-set", "ON", "--arv-pct", "0.85"),
        ("offer", "policy-set", "ON", "--arv-pct", "70"),
        ("offer", "policy-set", "ON", "--rounding", "0"),
        ("offer", "policy-set", "ON", "--assignment-fee", "-5"),
        ("offer", "policy-set", "ON", "--opening-ratio", "1.2"),
        ("offer", "policy-set", "ON", "--min-liquidity-score", "101"),
        ("offer", "policy-set", "ON", "--min-liquidity-score", "5", "--no-min-liquidity-score"),
        ("offer", "policy-set", "XX", "--enable"),
        ("offer", "policy-set", "ON"),
        ("offer", "policies", "--province", "QQ"),
        ("offer", "evidence", "show", "999"),
        ("offer", "evidence", "show", "abc"),
        ("offer", "evidence", "list", "--province", "Q"),
        ("offer", "evidence", "list", "--limit", "0"),
    ]
    for args in cases:
        result = cli(*args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
    assert snapshot_tables(db) == before
    unknown = cli(*base, "ZZ", "--arv", "450000", "--repairs", "50000")
    assert "AB BC MB NB NL NS NT NU ON PE QC SK YT" in unknown.stderr


def test_policies_seeded_disabled_and_policy_set_is_audited(cli, db):
    listed = cli("offer", "policies", "--json").json
    assert [p["province"] for p in listed] == ["AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU",
                                               "ON", "PE", "QC", "SK", "YT"]
    assert all(p["enabled"] is False and p["arv_pct"] == 0.7 and p["assignment_fee"] ==
               "10000.00" and p["rounding"] == "500.00" and p["opening_ratio"] == 0.9 and
               p["min_arv"] == "50000.00" and p["min_liquidity_score"] is None
               and p["closing_costs"] == "0.00" for p in listed)
    preview = cli("offer", "policy-set", "ON", "--enable", "--dry-run", "--json").json
    assert preview["dry_run"] is True and preview["policy"]["enabled"] is True
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'offer'") == 0
    cli("--actor", "alice", "offer", "policy-set", "ON", "--market", "toronto", "--arv-pct",
        "0.72", "--reason", "hot market")
    market = cli("offer", "policies", "--province", "ON", "--json").json
    assert [(p["market"], p["scope"]) for p in market] == [("*", "province"),
                                                          ("TORONTO", "market")]
    assert market[1]["arv_pct"] == 0.72 and market[1]["overrides"] == ["arv_pct"]
    events = cli("audit", "--json").json
    offer_events = [e for e in events if e["pack"] == "offer"]
    assert len(offer_events) == 1
    assert offer_events[0]["actor"] == "alice" and offer_events[0]["reason"] == "hot market"
    assert offer_events[0]["subject"] == "ON/TORONTO"
    assert offer_events[0]["after"]["arv_pct"] == 0.72
    # Setting the same value again changes nothing and audits nothing.
    again = cli("offer", "policy-set", "ON", "--market", "TORONTO", "--arv-pct", "0.72",
                "--json").json
    assert again["changed"] == []
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'offer'") == 1


def test_evidence_list_and_show(cli):
    enable_on(cli)
    a = compute(cli, "ON", "--arv", "450000", "--repairs", "50000", "--deal-ref", "D-1",
                "--note", "first look").json
    compute(cli, "ON", "--arv", "40000", "--repairs", "0", "--deal-ref", "D-2")
    listed = cli("offer", "evidence", "--json").json
    assert [(e["deal_ref"], e["outcome"], e["reason"]) for e in listed] == [
        ("D-2", "refused", "arv_below_minimum"), ("D-1", "offer", None)]
    only = cli("offer", "evidence", "list", "--deal-ref", "D-1", "--json").json
    assert len(only) == 1 and only[0]["max_offer"] == "255000.00"
    shown = cli("offer", "evidence", "show", str(a["evidence_id"]), "--json").json
    assert shown["actor"] == "tester" and shown["note"] == "first look"
    assert shown["at"] == "2027-01-15T15:00:00Z"
    assert shown["inputs"]["arv"] == "450000.00" and shown["inputs"]["repairs"] == "50000.00"
    assert shown["policy"]["arv_pct"] == 0.7 and shown["policy"]["enabled"] is True
    assert shown["liquidity"]["band"] == "unknown"
    assert shown["result"]["max_offer"] == "255000.00" and shown["mode"] == "sandbox"


def test_runbook_offers_check(cli, db):
    def check():
        report = cli("runbook", "status", "--json")
        return report.exit_code, next(c for c in report.json["checks"] if c["name"] == "offers")

    code, result = check()
    assert (code, result["status"]) == (0, "warn")  # nothing enabled: warn only
    enable_on(cli)
    code, result = check()
    assert (code, result["status"]) == (0, "ok")
    from sqlalchemy import text

    with db.engine.begin() as conn:  # a policy edited outside valhalla, out of bounds
        conn.execute(text("UPDATE offer_policy SET arv_pct_bps = 9000 WHERE province = 'ON'"))
    code, result = check()
    assert (code, result["status"]) == (1, "fail")
    assert "ON" in result["detail"] and "arv_pct" in result["detail"]
    assert result["fix"] == "valhalla offer policy-set ON --disable"


def test_amounts_beyond_a_billion_are_bad_input_and_extremes_refuse_cleanly(cli, db, tmp_path):
    """Huge amounts used to crash the insert (exit 5: BIGINT overflow / Decimal precision)."""
    assert cli("offer", "policy-set", "ON", "--enable", "--reason", "pilot").exit_code == 0
    comps = tmp_path / "comps.csv"
    comps.write_text("address,sold_price,sqft,sold_on\n1 Main,500000,1000,2027-01-02\n")
    before = snapshot_tables(db)
    for args in [
        ("offer", "compute", "ON", "--arv", "1e400", "--repairs", "0"),
        ("offer", "compute", "ON", "--arv", "1000000000.01", "--repairs", "0"),
        ("offer", "compute", "ON", "--arv", "450000", "--repairs", "99999999999999999999"),
        ("offer", "compute", "ON", "--arv", "450000", "--repairs", "0", "--assignment-fee",
         "9999999999999999999"),
        ("offer", "compute", "ON", "--comps", str(comps), "--sqft", "999999999999999999",
         "--repairs", "0"),
        ("offer", "policy-set", "ON", "--closing-costs", "99999999999999999999999", "--reason",
         "typo"),
        ("offer", "policy-set", "ON", "--min-arv", "1000000000.01", "--reason", "typo"),
    ]:
        result = cli(*args, "--at", "2027-01-15T10:00", "--json")
        assert result.exit_code == 2, (args, result.stderr)
    assert snapshot_tables(db) == before
    # Every input at the largest allowed amount: a refusal (no viable offer), not a crash.
    big = "1000000000"
    assert cli("offer", "policy-set", "ON", "--assignment-fee", big, "--closing-costs", big,
               "--holding-costs", big, "--reason", "stress").exit_code == 0
    refused = cli("offer", "compute", "ON", "--arv", big, "--repairs", big, "--at",
                  "2027-01-15T10:00", "--json")
    assert refused.exit_code == 1
    assert refused.json["reason"] == "no_viable_offer"
    assert refused.json["mao"] == "-3300000000.00"
    assert db_count(db, "SELECT COUNT(*) FROM offer_evidence") == 1
