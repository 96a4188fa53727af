"""`valhalla offer outcome` and `valhalla offer funnel` (SPEC 20): the stages of an offer, the
refusals, the idempotent repeat, the KPIs, the append-only table, and the funnel to the cent."""

import pytest
from conftest import db_count

AT = "2027-01-04T10:00:00-05:00"


def _json(result, code=0):
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.json


def go_live(cli):
    _json(cli("offer", "policy-set", "ON", "--enable", "--reason", "pilot", "--at", AT,
              "--json"))
    _json(cli("golive", "enable", "--reason", "go", "--at", AT, "--json"))


def offer(cli, *extra, market="TORONTO", at=AT):
    out = _json(cli("offer", "compute", "ON", "--market", market, "--arv", "450000",
                    "--repairs", "50000", *extra, "--at", at, "--json"))
    assert out["mode"] == "production" and out["max_offer"] == "255000.00"
    return out["evidence_id"]


def stage(cli, evidence, status, day, *extra, code=0):
    return _json(cli("offer", "outcome", str(evidence), "--status", status, *extra,
                     "--at", f"2027-01-{day:02d}T12:00:00-05:00", "--json"), code)


def test_an_offers_life_sent_accepted_contracted_closed(cli, db):
    go_live(cli)
    evidence = offer(cli, "--deal-ref", "D-1")
    sent = stage(cli, evidence, "sent", 5)
    assert (sent["recorded"], sent["previous"], sent["stage"], sent["reason"]) == (
        True, None, "sent", None)
    stage(cli, evidence, "accepted", 6, "--amount", "250000")
    contracted = stage(cli, evidence, "contracted", 8, "--amount", "250000.50", "--note", "signed")
    assert contracted["amount"] == "250000.50" and contracted["max_offer"] == "255000.00"
    closed = stage(cli, evidence, "closed", 20, "--amount", "250000.50")
    assert [s["status"] for s in closed["stages"]] == ["sent", "accepted", "contracted", "closed"]
    assert closed["stages"][0]["at"] == "2027-01-05T17:00:00Z"
    assert db_count(db, "SELECT amount_cents FROM offer_outcome WHERE status = 'contracted'"
                    ) == 25_000_050
    # KPIs: offer_accepted 1, offer_contracted 1, referenced by the deal.
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'offer_accepted' "
                    "AND value = 1 AND ref = 'D-1'") == 1
    assert db_count(db, "SELECT COUNT(*) FROM kpi_event WHERE metric = 'offer_contracted'") == 1
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE action = 'outcome'") == 4


def test_the_same_stage_twice_is_a_no_op(cli, db):
    go_live(cli)
    evidence = offer(cli)
    stage(cli, evidence, "sent", 5)
    again = cli("offer", "outcome", str(evidence), "--status", "sent", "--at",
                "2027-01-07T12:00:00-05:00", "--json")
    out = _json(again)
    assert (out["recorded"], out["stage"], out["reason"]) == (False, "sent", None)
    assert "nothing changed" in again.stderr
    assert db_count(db, "SELECT COUNT(*) FROM offer_outcome") == 1


@pytest.mark.parametrize("history, attempt, reason", [
    ((), "accepted", "out_of_order"),
    (("sent",), "contracted", "out_of_order"),
    (("sent", "countered"), "contracted", "out_of_order"),
    (("sent", "accepted"), "sent", "out_of_order"),
    (("sent", "accepted", "contracted", "closed"), "withdrawn", "offer_final"),
    (("sent", "accepted", "contracted", "closed"), "contracted", "offer_final"),
    (("sent", "rejected"), "accepted", "offer_final"),
    (("sent", "withdrawn"), "sent", "offer_final"),
])
def test_out_of_order_and_after_a_final_stage_are_refused(cli, db, history, attempt, reason):
    go_live(cli)
    evidence = offer(cli)
    for day, status in enumerate(history, start=5):
        stage(cli, evidence, status, day)
    before = db_count(db, "SELECT COUNT(*) FROM offer_outcome")
    result = cli("offer", "outcome", str(evidence), "--status", attempt, "--at",
                 "2027-01-25T12:00:00-05:00", "--json")
    out = _json(result, 1)
    assert (out["recorded"], out["reason"], out["status"]) == (False, reason, attempt)
    assert reason in result.stderr
    assert db_count(db, "SELECT COUNT(*) FROM offer_outcome") == before


def test_countered_is_answered_then_contracted(cli):
    go_live(cli)
    evidence = offer(cli)
    stage(cli, evidence, "sent", 5)
    stage(cli, evidence, "countered", 6, "--amount", "262000")
    assert stage(cli, evidence, "accepted", 7, "--amount", "254000")["stage"] == "accepted"
    assert stage(cli, evidence, "contracted", 8, "--amount", "254000")["stage"] == "contracted"


def test_a_refused_sandbox_or_throttled_offer_cannot_be_sent(cli, db):
    # Sandbox: computed before go-live.
    _json(cli("offer", "policy-set", "ON", "--enable", "--reason", "pilot", "--at", AT,
              "--json"))
    sandbox = _json(cli("offer", "compute", "ON", "--arv", "450000", "--repairs", "50000",
                        "--at", AT, "--json"))
    assert sandbox["mode"] == "sandbox"
    _json(cli("golive", "enable", "--reason", "go", "--at", AT, "--json"))
    refused = _json(cli("offer", "compute", "ON", "--arv", "450000", "--repairs", "400000",
                        "--at", AT, "--json"), 1)
    assert refused["reason"] == "no_viable_offer"
    for evidence, reason in ((sandbox["evidence_id"], "evidence_sandbox"),
                             (refused["evidence_id"], "evidence_refused")):
        result = cli("offer", "outcome", str(evidence), "--status", "sent", "--at",
                     "2027-01-05T12:00:00-05:00", "--json")
        assert _json(result, 1)["reason"] == reason
        assert reason in result.stderr
    assert db_count(db, "SELECT COUNT(*) FROM offer_outcome") == 0


@pytest.mark.parametrize("args, fragment", [
    (("--status", "maybe"), "--status"),
    (("--status", "sent", "--amount", "100"), "--amount goes with"),
    (("--status", "sent", "--at", "2027-01-01T09:00:00-05:00"), "before the offer was computed"),
])
def test_bad_input_changes_nothing(cli, db, args, fragment):
    go_live(cli)
    evidence = offer(cli)
    result = cli("offer", "outcome", str(evidence), *args, "--json")
    assert result.exit_code == 2 and fragment in result.stderr
    assert db_count(db, "SELECT COUNT(*) FROM offer_outcome") == 0


@pytest.mark.parametrize("amount", ["12.345", "-5", "0", "abc", "2000000000"])
def test_amount_follows_the_money_rules(cli, db, amount):
    go_live(cli)
    evidence = offer(cli)
    stage(cli, evidence, "sent", 5)
    result = cli("offer", "outcome", str(evidence), "--status", "accepted", "--amount", amount,
                 "--at", "2027-01-06T12:00:00-05:00")
    assert result.exit_code == 2, result.stderr
    assert db_count(db, "SELECT COUNT(*) FROM offer_outcome") == 1


def test_unknown_evidence_is_bad_input(cli):
    result = cli("offer", "outcome", "999", "--status", "sent")
    assert result.exit_code == 2 and "no offer evidence 999" in result.stderr


def test_offer_outcome_rejects_update_and_delete(cli, db):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    go_live(cli)
    evidence = offer(cli)
    stage(cli, evidence, "sent", 5)
    for statement in ("UPDATE offer_outcome SET status = 'closed'",
                      "DELETE FROM offer_outcome"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    assert db_count(db, "SELECT status FROM offer_outcome") == "sent"


# --- the funnel --------------------------------------------------------------------------------

# Ten offers sent in January: six decided (four accepted, two rejected), three contracted (one
# closed), one withdrawn, three still open. Contract prices against max_offer 255 000.00:
# -5 000.00, -2 499.50, +5 000.00 -> mean gap -833.17 (half up). Days sent -> accepted: 1, 2,
# 3, 5 (median 2.5); sent -> contracted: 4, 6, 10 (median 6.0).
LIVES = [
    ("TORONTO", [("sent", 5), ("accepted", 6), ("contracted", 9, "250000"), ("closed", 25)]),
    ("TORONTO", [("sent", 5), ("countered", 6), ("accepted", 7),
                 ("contracted", 11, "252500.50")]),
    ("OTTAWA", [("sent", 6), ("accepted", 9), ("contracted", 16, "260000")]),
    ("OTTAWA", [("sent", 6), ("accepted", 11)]),
    ("TORONTO", [("sent", 7), ("rejected", 8)]),
    ("OTTAWA", [("sent", 7), ("countered", 8), ("rejected", 10)]),
    ("TORONTO", [("sent", 8), ("withdrawn", 9)]),
    ("TORONTO", [("sent", 8)]),
    ("OTTAWA", [("sent", 12)]),
    ("OTTAWA", [("sent", 12), ("countered", 13)]),
]


def _history(cli):
    go_live(cli)
    for market, steps in LIVES:
        evidence = offer(cli, market=market)
        for status, day, *amount in steps:
            stage(cli, evidence, status, day, *(("--amount", amount[0]) if amount else ()))
    # Outside the period (sent in February) and never sent: not in January's funnel.
    late = offer(cli, at="2027-02-01T10:00:00-05:00")
    _json(cli("offer", "outcome", str(late), "--status", "sent", "--at",
              "2027-02-02T10:00:00-05:00", "--json"))
    offer(cli)


def test_funnel_to_the_cent_and_the_ratios(cli):
    _history(cli)
    out = _json(cli("offer", "funnel", "--since", "2027-01-01", "--until", "2027-01-31",
                    "--at", "2027-02-10T10:00", "--json"))
    assert {k: out[k] for k in ("sent", "accepted", "rejected", "contracted", "closed",
                                "countered", "withdrawn", "decided")} == {
        "sent": 10, "accepted": 4, "rejected": 2, "contracted": 3, "closed": 1, "countered": 3,
        "withdrawn": 1, "decided": 6}
    assert out["accept_rate"] == 0.667 and out["contract_rate"] == 0.3
    assert out["median_days_to_accept"] == 2.5 and out["median_days_to_contract"] == 6.0
    assert out["avg_contract_gap"] == "-833.17" and out["contracts_priced"] == 3
    assert (out["since"], out["until"]) == ("2027-01-01", "2027-01-31")

    grouped = _json(cli("offer", "funnel", "--since", "2027-01-01", "--until", "2027-01-31",
                        "--by", "market", "--at", "2027-02-10T10:00", "--json"))
    by_market = {row["market"]: row for row in grouped}
    assert set(by_market) == {"OTTAWA", "TORONTO"}
    toronto, ottawa = by_market["TORONTO"], by_market["OTTAWA"]
    assert (toronto["sent"], toronto["accepted"], toronto["rejected"], toronto["contracted"]
            ) == (5, 2, 1, 2)
    assert toronto["accept_rate"] == 0.667 and toronto["contract_rate"] == 0.4
    assert toronto["avg_contract_gap"] == "-3749.75"
    assert (ottawa["sent"], ottawa["accepted"], ottawa["rejected"], ottawa["contracted"]
            ) == (5, 2, 1, 1)
    assert ottawa["median_days_to_accept"] == 4.0 and ottawa["avg_contract_gap"] == "5000.00"


def test_funnel_of_an_empty_period_has_no_rates(cli):
    out = _json(cli("offer", "funnel", "--since", "2027-01-01", "--until", "2027-01-31",
                    "--json"))
    assert out["sent"] == 0 and out["accept_rate"] is None and out["contract_rate"] is None
    assert out["avg_contract_gap"] is None and out["median_days_to_accept"] is None
    assert cli("offer", "funnel", "--by", "seller").exit_code == 2
    assert cli("offer", "funnel", "--since", "2027-02-01", "--until", "2027-01-01"
               ).exit_code == 2
