"""`valhalla scorecard` (SPEC 20): the seed's eight metrics, each from its pack, on an empty
database, on a month that meets every target and on one that misses two; and `status` shows it."""

from datetime import UTC, datetime

import pytest

PERIOD = ("--since", "2027-06-01", "--until", "2027-06-30", "--at", "2027-07-02T10:00")
ORDER = ["runbook_gate", "contact_window_compliance", "ladder_sla_within_2h",
         "buyer_response_rate", "offer_accept_rate", "offer_contract_rate",
         "daily_cap_overages", "regression_throttles"]


def _json(result, code=0):
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.json


def metrics(out):
    return {m["metric"]: m for m in out["metrics"]}


def test_empty_database_figures_needing_events_are_null(cli):
    result = cli("scorecard", *PERIOD, "--json")
    out = _json(result)
    assert [m["metric"] for m in out["metrics"]] == ORDER
    found = metrics(out)
    for name in ORDER[1:6]:
        assert found[name]["value"] is None and found[name]["met"] is None, name
    assert found["runbook_gate"]["met"] is True and found["runbook_gate"]["value"] == 1.0
    assert (found["daily_cap_overages"]["value"], found["daily_cap_overages"]["met"]) == (0, True)
    assert found["regression_throttles"]["value"] == 0
    assert out["ok"] is True and out["missed"] == [] and out["reason"] is None
    assert (out["since"], out["until"]) == ("2027-06-01", "2027-06-30")
    assert found["offer_accept_rate"]["detail"] == (
        "valhalla offer funnel --since 2027-06-01 --until 2027-06-30")


def test_default_period_is_the_last_30_business_days(cli):
    out = _json(cli("scorecard", "--at", "2027-07-02T10:00", "--json"))
    assert (out["since"], out["until"]) == ("2027-06-03", "2027-07-02")


def _call_done(cli, lead, completed, created):
    made = _json(cli("ladder", "create", lead, "--province", "ON", "--at", created, "--json"))
    call = next(t for t in made["tasks"] if t["step"] == 2)
    _json(cli("ladder", "complete", str(call["task_id"]), "--outcome", "no_answer", "--at",
              completed, "--json"))


def _feedback(cli, buyer, responded):
    _json(cli("liquidity", "feedback", "ON", "--market", "TORONTO", "--buyer", buyer,
              "--responded" if responded else "--no-response", "--at", "2027-06-10T12:00",
              "--json"))


def _offer_life(cli, *stages):
    made = _json(cli("offer", "compute", "ON", "--market", "TORONTO", "--arv", "450000",
                     "--repairs", "50000", "--at", "2027-06-07T10:00", "--json"))
    for day, (status, *amount) in enumerate(stages, start=8):
        _json(cli("offer", "outcome", str(made["evidence_id"]), "--status", status,
                  *(("--amount", amount[0]) if amount else ()), "--at",
                  f"2027-06-{day:02d}T11:00", "--json"))


def _good_month(cli):
    _json(cli("offer", "policy-set", "ON", "--enable", "--reason", "pilot", "--at",
              "2027-06-01T09:00", "--json"))
    _json(cli("golive", "enable", "--reason", "go", "--at", "2027-06-01T09:00", "--json"))
    for i in range(3):  # weekday CALLs 25 minutes after due, inside every ON zone's window
        _call_done(cli, f"L-{i}", f"2027-06-1{4 + i}T10:30", f"2027-06-1{4 + i}T10:00")
    for i, responded in enumerate((True, True, True, False)):
        _feedback(cli, f"B-{i}", responded)
    _offer_life(cli, ("sent",), ("accepted",), ("contracted", "250000"))
    _offer_life(cli, ("sent",), ("rejected",))


def test_a_month_meeting_every_target(cli):
    _good_month(cli)
    out = _json(cli("scorecard", *PERIOD, "--json"))
    found = metrics(out)
    assert {name: found[name]["value"] for name in ORDER} == {
        "runbook_gate": 1.0, "contact_window_compliance": 1.0, "ladder_sla_within_2h": 1.0,
        "buyer_response_rate": 0.75, "offer_accept_rate": 0.5, "offer_contract_rate": 0.5,
        "daily_cap_overages": 0, "regression_throttles": 0}
    assert all(found[name]["met"] is True for name in ORDER)
    assert out["ok"] is True


def test_a_month_missing_two_targets_exits_1_naming_them(cli):
    _good_month(cli)
    _call_done(cli, "L-late", "2027-06-15T21:45", "2027-06-15T21:30")  # a window breach
    for i in range(3):
        _feedback(cli, f"B-x{i}", False)  # response 3 / 7
    result = cli("scorecard", *PERIOD, "--json")
    out = _json(result, 1)
    found = metrics(out)
    assert out["missed"] == ["contact_window_compliance", "buyer_response_rate"]
    assert out["reason"] == "targets_missed" and out["ok"] is False
    assert found["contact_window_compliance"]["value"] == 0.75
    assert found["buyer_response_rate"]["value"] == 0.4286
    assert found["ladder_sla_within_2h"]["met"] is True
    assert "contact_window_compliance" in result.stderr and "buyer_response_rate" in result.stderr
    table = cli("scorecard", *PERIOD, "--format", "markdown")
    assert table.exit_code == 1 and "| contact_window_compliance | 0.75 | == 1.00 | false |" \
        in table.stdout


def test_cap_overages_and_throttles_count_in_their_period(cli, db):
    from valhalla_cli.services import audit

    _json(cli("golive", "enable", "--reason", "go", "--at", "2027-06-01T09:00", "--json"))
    _json(cli("risk", "reserve", "acquisitions", "20000", "--ref", "r-1", "--at",
              "2027-06-10T10:00", "--json"))
    # The cap lowered below the day's exposure: 2027-06-10 is over by 5 000.
    _json(cli("risk", "policy-set", "acquisitions", "--daily-cap", "15000", "--reason", "cut",
              "--at", "2027-06-10T11:00", "--json"))
    with db.transaction(write=True) as session:
        for action, at in (("throttle", datetime(2027, 5, 20, tzinfo=UTC)),  # carried in
                           ("release", datetime(2027, 6, 3, tzinfo=UTC)),
                           ("throttle", datetime(2027, 6, 20, tzinfo=UTC))):
            audit.record(session, pack="regression", action=action, actor="t", at=at,
                         subject="offers")
        audit.record(session, pack="regression", action="throttle", actor="t",
                     at=datetime(2027, 4, 1, tzinfo=UTC), subject="followups")
        audit.record(session, pack="regression", action="release", actor="t",
                     at=datetime(2027, 4, 2, tzinfo=UTC), subject="followups")
    result = cli("scorecard", *PERIOD, "--json")
    found = metrics(_json(result, 1))
    assert found["daily_cap_overages"]["value"] == 1
    assert found["daily_cap_overages"]["detail"] == "valhalla risk snapshot --day 2027-06-10"
    assert found["regression_throttles"]["value"] == 2
    assert "daily_cap_overages" in result.stderr and "regression_throttles" in result.stderr


@pytest.mark.parametrize("fmt", ["table", "markdown", "tsv", "json"])
def test_status_shows_the_scorecard(cli, fmt):
    _good_month(cli)
    result = cli("status", "--at", "2027-07-02T10:00", "--format", fmt)
    assert result.exit_code == 0, result.stderr
    if fmt == "json":
        card = result.json["scorecard"]
        assert [m["metric"] for m in card["metrics"]] == ORDER and card["ok"] is True
        assert metrics(card)["offer_accept_rate"]["value"] == 0.5
    elif fmt == "tsv":
        assert "scorecard.metrics.offer_accept_rate.value\t0.5" in result.stdout
    else:
        assert "Scorecard 2027-06-03 to 2027-07-02" in result.stdout
        assert "offer_contract_rate" in result.stdout
