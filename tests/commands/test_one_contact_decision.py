"""One contact decision: `market can-contact`, `ladder create`, `ladder dispatch` and `ladder
breaches` give the same lead at the same instant the same reason, because they all ask
`contact_rules.decide`, in one order; and what dispatch does with a refused task follows one
table (cancel, move, skip, hold)."""

from datetime import UTC, datetime

import pytest

from valhalla_cli.services.contact_rules import DISPATCH_ACTION, Action, Reason, decide

PHONE = "+14165550142"  # Toronto: the lead's number adds no zone to the ON policy's


@pytest.fixture(autouse=True)
def _business(monkeypatch):
    """Texts identify their sender, so `no_identification` never comes first here."""
    monkeypatch.setenv("VALHALLA_BUSINESS_NAME", "Maple Home Buyers")
    monkeypatch.setenv("VALHALLA_BUSINESS_CALLBACK", "+14165550100")


def _run(cli, *args, code=0):
    result = cli(*args)
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return result


def _ladder(cli, lead, at):
    made = _run(cli, "ladder", "create", lead, "--province", "ON", "--phone", PHONE,
                "--consent", "express", "--consent-at", "2027-01-01T09:00", "--at", at,
                "--json").json
    assert made["created"] is True
    return made


def _tasks(cli, lead):
    return {t["step"]: t for t in _run(cli, "ladder", "show", lead, "--json").json[0]["tasks"]}


def _can_contact(cli, lead, at, channel="SMS"):
    return _run(cli, "market", "can-contact", "--lead", lead, "--channel", channel, "--at", at,
                "--json", code=1).json


def _instant(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def test_a_suppressed_lead_under_a_disabled_policy_is_policy_disabled_everywhere(cli, db):
    assert cli("golive", "enable", "--reason", "test").exit_code == 0
    _ladder(cli, "L-sd", "2027-01-18T12:00:00-05:00")  # a Monday, every ON zone open
    # Suppressed behind the ladder's back (another tool wrote the opt-out), so its tasks are
    # still pending; then the province's policy is disabled.
    from valhalla_cli.models import ContactSuppression

    with db.transaction(write=True) as session:
        session.add(ContactSuppression(lead_id="L-sd", reason="STOP", actor="sms-gateway",
                                       at=datetime(2027, 1, 18, 16, tzinfo=UTC)))
    _run(cli, "market", "policy-set", "ON", "--disable")
    at = "2027-01-18T12:30:00-05:00"

    answer = _can_contact(cli, "L-sd", at)
    assert answer["reason"] == "policy_disabled"

    refused = _run(cli, "ladder", "create", "L-sd", "--province", "ON", "--at", at, "--json",
                   code=1).json
    assert refused["reason"] == "policy_disabled"

    result = _run(cli, "ladder", "dispatch", "--at", at, "--format", "jsonl")
    assert result.stdout.strip() == ""
    first = _tasks(cli, "L-sd")[1]
    # policy_disabled moves the task (looked at again in an hour); suppressed would cancel it
    assert (first["status"], first["status_reason"]) == ("pending", "policy_disabled")
    assert _instant(first["due_at"]) == datetime(2027, 1, 18, 18, 30, tzinfo=UTC)
    assert "0 cancelled" in result.stderr

    # Once the policy is enabled again, the suppression is the first reason everywhere.
    _run(cli, "market", "policy-set", "ON", "--enable")
    later = "2027-01-18T14:00:00-05:00"
    assert _can_contact(cli, "L-sd", later)["reason"] == "suppressed"
    assert _run(cli, "ladder", "create", "L-sd", "--province", "ON", "--at", later, "--json",
                code=1).json["reason"] == "suppressed"
    _run(cli, "ladder", "dispatch", "--at", later, "--format", "jsonl")
    assert {t["status"] for t in _tasks(cli, "L-sd").values()} == {"cancelled"}


def test_a_provincial_holiday_is_holiday_everywhere(cli):
    assert cli("golive", "enable", "--reason", "test").exit_code == 0
    # Friday before Family Day (Ontario, Monday 2027-02-15): the first text is due then, and
    # is still pending when dispatch runs on the holiday.
    _ladder(cli, "L-hol", "2027-02-12T11:00:00-05:00")
    holiday = "2027-02-15T11:00:00-05:00"

    answer = _can_contact(cli, "L-hol", holiday)
    assert answer["reason"] == "holiday"
    opens = _instant(answer["next_open_at"])
    assert opens.date().isoformat() == "2027-02-16"  # the morning after the holiday

    # ladder create on the holiday: not refused (hours move a step, they do not refuse a
    # ladder); its first step is due when can-contact says the lead can be reached.
    fresh = _run(cli, "ladder", "create", "L-hol-2", "--province", "ON", "--phone",
                 "+14165550143", "--at", holiday, "--json").json
    assert fresh["created"] is True
    assert _instant(fresh["tasks"][0]["due_at"]) == opens

    result = _run(cli, "ladder", "dispatch", "--at", holiday, "--format", "jsonl")
    assert result.stdout.strip() == ""
    first = _tasks(cli, "L-hol")[1]
    assert (first["status"], first["status_reason"]) == ("pending", "holiday")
    assert _instant(first["due_at"]) == opens

    # The contact made anyway, on the holiday: a breach, for the same reason.
    _run(cli, "ladder", "complete", str(first["task_id"]), "--outcome", "sent", "--at", holiday)
    rows = _run(cli, "ladder", "breaches", "--since", "2027-02-01", "--until", "2027-02-28",
                "--at", "2027-03-01T12:00:00-05:00", "--json").json
    assert [(r["task_id"], r["reason"]) for r in rows] == [(first["task_id"], "holiday")]


def test_the_leads_own_zones_close_the_hours_everywhere(cli):
    assert cli("golive", "enable", "--reason", "test").exit_code == 0
    # An Ontario property, its owner in Vancouver (604): 10:00 in Toronto on a January Monday
    # is 08:00 there (UTC-7 all year since 2026), so every answer is outside_window until
    # 09:00 Vancouver (11:00 Toronto).
    at = "2027-01-18T10:00:00-05:00"
    made = _run(cli, "ladder", "create", "L-bc", "--province", "ON", "--phone", "+16045550142",
                "--consent", "express", "--consent-at", "2027-01-01T09:00", "--at", at,
                "--json").json
    answer = _can_contact(cli, "L-bc", at)
    assert answer["reason"] == "outside_window"
    assert [z["timezone"] for z in answer["zones"] if not z["open"]] == ["America/Vancouver"]
    opens = _instant(answer["next_open_at"])
    assert opens == datetime(2027, 1, 18, 16, tzinfo=UTC)
    # ladder create puts the first step at that opening, not at Toronto's
    assert _instant(made["tasks"][0]["due_at"]) == opens
    assert _run(cli, "ladder", "dispatch", "--at", at, "--format", "jsonl").stdout.strip() == ""
    first = _tasks(cli, "L-bc")[1]
    _run(cli, "ladder", "complete", str(first["task_id"]), "--outcome", "sent", "--at",
         "2027-01-18T10:30:00-05:00")
    rows = _run(cli, "ladder", "breaches", "--since", "2027-01-18", "--until", "2027-01-18",
                "--at", "2027-01-19T12:00:00-05:00", "--json").json
    assert [(r["task_id"], r["reason"], r["timezone"]) for r in rows] == [
        (first["task_id"], "outside_window", "America/Vancouver")]


def test_every_reason_has_one_dispatch_action_and_the_order_is_the_enumeration():
    assert set(DISPATCH_ACTION) == set(Reason)
    assert DISPATCH_ACTION[Reason.SUPPRESSED] is Action.CANCEL
    assert DISPATCH_ACTION[Reason.HOLIDAY] is DISPATCH_ACTION[Reason.OUTSIDE_WINDOW] is Action.MOVE
    assert {r for r, a in DISPATCH_ACTION.items() if a is Action.HOLD} == {
        Reason.DNCL_NOT_CHECKED, Reason.NO_IDENTIFICATION}
    # Everything against the lead at once: the policy's reason comes first; take the reasons
    # away one by one and the next in the enumeration's order answers.
    from valhalla_cli.services.contact_rules import ChannelRules, seeded_windows

    rules = ChannelRules.build("ON", ["America/Toronto"], seeded_windows(), "SMS", True)
    at = datetime(2027, 2, 15, 4, tzinfo=UTC)  # Family Day, 23:00 the night before in Toronto
    facts = dict(enabled=False, channel_allowed=False, min_lead_score=50, lead_score=None,
                 suppressed=True, lead_block=Reason.NO_PHONE, identified=False)
    seen = []
    for key, cleared in (("enabled", True), ("channel_allowed", True),
                         ("min_lead_score", 0), ("suppressed", False), ("lead_block", None),
                         ("identified", True)):
        seen.append(decide(rules=rules, instant=at, **facts).reason)
        facts[key] = cleared
    seen.append(decide(rules=rules, instant=at, **facts).reason)
    assert seen == [Reason.POLICY_DISABLED, Reason.CHANNEL_NOT_ALLOWED,
                    Reason.LEAD_SCORE_BELOW_MINIMUM, Reason.SUPPRESSED, Reason.NO_PHONE,
                    Reason.NO_IDENTIFICATION, Reason.OUTSIDE_WINDOW]
