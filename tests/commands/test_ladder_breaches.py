"""`valhalla ladder breaches` (SPEC 20): completed contacts judged by the calculus of
`market can-contact` at the instant they happened: every zone of the lead, and holidays."""

from datetime import UTC, datetime, timedelta

import pytest

from valhalla_cli.services.contact_rules import ChannelRules, is_open, seeded_windows
from valhalla_cli.services.ladder_breaches import closed_spans


def _json(result, code=0):
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.json


def contact(cli, lead, province, completed, *, market=None, owner="ana", created=None):
    """A ladder whose CALL step (step 2) was completed at `completed` (Toronto local)."""
    created = created or completed[:10] + "T08:00:00"
    made = _json(cli("ladder", "create", lead, "--province", province,
                     *(("--market", market) if market else ()), "--owner", owner,
                     "--at", created, "--json"))
    call = next(t for t in made["tasks"] if t["step"] == 2)
    assert call["channel"] == "CALL"
    _json(cli("ladder", "complete", str(call["task_id"]), "--outcome", "no_answer",
              "--at", completed, "--json"))
    return call["task_id"]


def breaches(cli, since, until, *extra):
    result = cli("ladder", "breaches", "--since", since, "--until", until, *extra, "--json")
    return _json(result), result.stderr


def test_the_three_examples_of_spec_20(cli):
    late = contact(cli, "L-late", "ON", "2027-06-15T21:45:00")  # Tuesday, 21:45 Toronto
    bc = contact(cli, "L-bc", "BC", "2027-06-15T20:30:00")  # 17:30 Vancouver
    family_day = contact(cli, "L-fd", "ON", "2027-02-15T10:15:00", created="2027-02-12T10:00")
    ok = contact(cli, "L-ok", "ON", "2027-06-16T11:00:00")
    rows, summary = breaches(cli, "2027-02-01", "2027-06-30")
    by_task = {row["task_id"]: row for row in rows}
    assert set(by_task) == {late, family_day}, rows
    assert bc not in by_task and ok not in by_task
    assert by_task[late]["reason"] == "outside_window"
    assert by_task[late]["timezone"] == "America/Toronto"
    assert by_task[late]["local_time"] == "2027-06-15T21:45:00-04:00"
    assert by_task[late]["lead_id"] == "L-late" and by_task[late]["owner"] == "ana"
    assert by_task[family_day]["reason"] == "holiday"
    assert by_task[family_day]["local_time"] == "2027-02-15T10:15:00-05:00"
    # Four completed CALLs: 2 breaches -> compliance 0.5, on standard error.
    assert "2 breaches in 4 completed contacts, compliance 0.5" in summary


def test_every_zone_of_the_lead_counts(cli):
    # 09:30 Toronto on a weekday: open in Toronto, but north-west Ontario (America/Winnipeg,
    # 08:30) is closed, so the province-wide ON policy says no.
    early = contact(cli, "L-early", "ON", "2027-06-15T09:30:00", created="2027-06-14T10:00")
    rows, _ = breaches(cli, "2027-06-01", "2027-06-30")
    assert [(r["task_id"], r["timezone"], r["reason"]) for r in rows] == [
        (early, "America/Winnipeg", "outside_window")]
    # A market policy pinned to Toronto alone: the same instant is inside the window.
    _json(cli("market", "policy-set", "ON", "--market", "TORONTO", "--timezone",
              "America/Toronto", "--json"))
    pinned = contact(cli, "L-pinned", "ON", "2027-06-16T09:30:00", market="TORONTO",
                     created="2027-06-15T10:00")
    rows, summary = breaches(cli, "2027-06-01", "2027-06-30")
    assert pinned not in [r["task_id"] for r in rows]
    assert "1 breaches in 2 completed contacts" in summary


def test_the_verdict_is_can_contacts(cli):
    """Every listed breach is a "no" of `market can-contact` at the same instant, and a
    completion it allows is not listed."""
    tasks = {
        contact(cli, "L-1", "ON", "2027-06-15T21:45:00"): ("ON", "2027-06-15T21:45:00"),
        contact(cli, "L-2", "NL", "2027-06-15T19:00:00"): ("NL", "2027-06-15T19:00:00"),
        contact(cli, "L-3", "QC", "2027-06-24T12:00:00", created="2027-06-23T10:00"):
            ("QC", "2027-06-24T12:00:00"),
        contact(cli, "L-4", "AB", "2027-06-15T12:00:00"): ("AB", "2027-06-15T12:00:00"),
    }
    rows, _ = breaches(cli, "2027-06-01", "2027-06-30")
    listed = {r["task_id"]: r["reason"] for r in rows}
    for task, (province, instant) in tasks.items():
        answer = cli("market", "can-contact", province, "--channel", "CALL", "--at", instant,
                     "--json")
        if answer.exit_code == 0:
            assert task not in listed
        else:
            assert listed[task] == answer.json["reason"]
    assert len(listed) == 3  # NL 20:30 Newfoundland, QC Saint-Jean-Baptiste, ON 21:45


def test_no_contacts_no_figure_and_bad_input(cli):
    rows, summary = breaches(cli, "2027-06-01", "2027-06-30")
    assert rows == [] and "0 breaches in 0 completed contacts, compliance n/a" in summary
    assert cli("ladder", "breaches", "--since", "2027-07-01", "--until", "2027-06-01"
               ).exit_code == 2
    assert cli("ladder", "breaches", "--limit", "0").exit_code == 2


def test_limit_lists_the_first_and_counts_all(cli):
    first = contact(cli, "L-a", "ON", "2027-06-15T21:40:00")
    contact(cli, "L-b", "ON", "2027-06-15T21:45:00")
    rows, summary = breaches(cli, "2027-06-01", "2027-06-30", "--limit", "1")
    assert [r["task_id"] for r in rows] == [first]
    assert "2 breaches in 2 completed contacts" in summary and "listing the first 1" in summary


# --- the closed spans against the calculus, minute by minute -----------------------------------

@pytest.mark.parametrize("province, zones, start", [
    ("ON", ("America/Toronto", "America/Winnipeg", "America/Atikokan"),
     datetime(2027, 3, 10, tzinfo=UTC)),  # the spring clock change and a weekend
    ("NL", ("America/St_Johns", "America/Goose_Bay"), datetime(2027, 10, 29, tzinfo=UTC)),
    ("ON", ("America/Toronto",), datetime(2027, 2, 12, tzinfo=UTC)),  # Family Day
])
def test_closed_spans_agree_with_is_open_at_every_minute(province, zones, start):
    rules = ChannelRules.build(province, zones, seeded_windows(), "CALL", True)
    end = start + timedelta(days=6)
    spans = closed_spans(rules, start, end)
    instant, index = start, 0
    while instant < end:
        while index < len(spans) and spans[index][1] <= instant:
            index += 1
        inside = index < len(spans) and spans[index][0] <= instant < spans[index][1]
        assert inside == (not is_open(rules, instant)), instant
        instant += timedelta(minutes=1)


def test_a_market_policy_applies_whatever_the_spelling_of_the_market(cli):
    # 19:30 Toronto on a winter weekday is 20:30 in Blanc-Sablon (UTC-4): the province-wide QC
    # policy (both zones) says no; a Montréal policy pinned to Toronto says yes, and it is found
    # by the market's identity for a task written "Montreal".
    _json(cli("market", "policy-set", "QC", "--market", "MONTRÉAL", "--timezone",
              "America/Toronto", "--json"))
    spelled = contact(cli, "L-mtl", "QC", "2027-01-19T19:30:00", market="Montreal",
                      created="2027-01-18T10:00")
    plain = contact(cli, "L-qc", "QC", "2027-01-20T19:30:00", created="2027-01-19T10:00")
    rows, summary = breaches(cli, "2027-01-01", "2027-01-31")
    assert [(r["task_id"], r["timezone"]) for r in rows] == [(plain, "America/Blanc-Sablon")]
    assert spelled != plain and "1 breaches in 2 completed contacts" in summary
