"""Worklists, not counts: `valhalla status` (every format) and the review page list the work
waiting for a person (overdue, stuck and held tasks with lead, owner, age and reason; replies
nobody has answered; offers sent and not answered), each bounded; `valhalla ladder overdue`
prints the overdue list. Both engines."""

from __future__ import annotations

import re

AT = "2027-01-04T10:00:00-05:00"  # a Monday in Toronto
LATER = "2027-01-08T12:00:00-05:00"  # the Friday after


def _ok(result):
    assert result.exit_code in (0, 1), (result.exit_code, result.stdout, result.stderr)
    return result


def _status(cli, fmt="json", at=LATER, env=None):
    return _ok(cli("status", "--at", at, "--format", fmt, env=env))


def test_worklists_not_counts_overdue_tasks_listed_with_lead_owner_age(cli):
    for n, owner in enumerate(("alice", "bob", "alice"), 1):
        _ok(cli("ladder", "create", f"L-{n}", "--province", "ON", "--owner", owner,
                "--at", AT))
    view = _status(cli).json
    overdue = view["worklists"]["overdue"]
    assert overdue["total"] == view["tasks"]["overdue"] > 0
    first = overdue["rows"][0]
    assert (first["lead_id"], first["owner"], first["step"], first["reason"]) == (
        "L-1", "alice", 1, "overdue")
    # due 2027-01-04 15:00Z; the status is at 2027-01-08 17:00Z: 4 days 2 hours
    assert first["due_at"] == "2027-01-04T15:00:00Z" and first["age_minutes"] == 4 * 1440 + 120

    listed = _ok(cli("ladder", "overdue", "--owner", "alice", "--at", LATER, "--json")).json
    assert {r["lead_id"] for r in listed} == {"L-1", "L-3"}
    assert all(r["owner"] == "alice" for r in listed)
    assert listed == sorted(listed, key=lambda r: (r["due_at"], r["task_id"]))

    table = _status(cli, "table", env={"COLUMNS": "100"}).stdout
    assert f"Overdue tasks: {overdue['total']}" in table
    assert re.search(r"L-1\s+│\s+alice\s+│\s+1 SMS\s+│\s+4 d 2 h\s+│\s+overdue", table), table
    markdown = _status(cli, "markdown").stdout
    assert f"## Overdue tasks: {overdue['total']}" in markdown
    assert "| 1 | L-1 | alice | 1 | SMS | 2027-01-04 10:00:00 Toronto | 4 d 2 h | overdue |" \
        in markdown
    tsv = dict(line.split("\t", 1) for line in _status(cli, "tsv").stdout.splitlines()[1:])
    assert tsv["worklists.overdue.total"] == str(overdue["total"])
    # a machine format keeps UTC RFC 3339 instants
    assert tsv["worklists.overdue.rows.0.due_at"] == "2027-01-04T15:00:00Z"


def test_worklists_not_counts_each_list_is_bounded_with_and_n_more(cli):
    for n in range(5):  # 5 ladders of 6 steps: 30 tasks, all overdue a month later
        _ok(cli("ladder", "create", f"B-{n}", "--province", "ON", "--at", AT))
    month = "2027-02-05T12:00:00-05:00"
    overdue = _status(cli, at=month).json["worklists"]["overdue"]
    assert (overdue["total"], overdue["shown"], overdue["more"]) == (30, 20, 10)
    assert len(overdue["rows"]) == 20
    assert "… and 10 more (valhalla ladder overdue)" in _status(cli, "table", at=month).stdout
    all_of_them = cli("ladder", "overdue", "--limit", "25", "--at", month, "--json")
    assert len(all_of_them.json) == 25 and "… and 5 more overdue" in all_of_them.stderr


def test_worklists_not_counts_held_tasks_with_their_reason(cli):
    _ok(cli("golive", "enable", "--reason", "pilot", "--at", AT))
    # An SMS to a lead with consent, but no [business] identity to send it under: held.
    _ok(cli("ladder", "create", "H-1", "--province", "ON", "--phone", "+14165550160",
            "--consent", "express", "--owner", "carol", "--at", AT))
    _ok(cli("ladder", "dispatch", "--worker", "w1", "--at", "2027-01-04T10:10:00-05:00"))
    view = _status(cli, at="2027-01-04T10:40:00-05:00").json
    held = view["worklists"]["held"]
    assert held["total"] == view["tasks"]["held_no_identification"] == 1
    row = held["rows"][0]
    assert (row["lead_id"], row["owner"], row["step"], row["reason"]) == (
        "H-1", "carol", 1, "no_identification")


def test_worklists_not_counts_stuck_tasks_claimed_past_their_lease(cli, monkeypatch):
    monkeypatch.setenv("VALHALLA_BUSINESS_NAME", "Maple Home Buyers")
    monkeypatch.setenv("VALHALLA_BUSINESS_CALLBACK", "+14165550100")
    _ok(cli("golive", "enable", "--reason", "pilot", "--at", AT))
    _ok(cli("ladder", "create", "S-1", "--province", "ON", "--owner", "dave", "--phone",
            "+14165550161", "--consent", "express", "--at", AT))
    claimed = cli("ladder", "dispatch", "--worker", "w1", "--lease", "15m", "--at", AT,
                  "--json")
    assert [c["lead_id"] for c in claimed.json] == ["S-1"], claimed.stderr
    view = _status(cli, at="2027-01-04T10:40:00-05:00").json
    stuck = view["worklists"]["stuck"]
    assert stuck["total"] == 1
    row = stuck["rows"][0]
    assert (row["lead_id"], row["owner"], row["reason"], row["age_minutes"]) == (
        "S-1", "dave", "lease expired (claimed by w1)", 25)


def test_worklists_not_counts_replies_wait_until_a_task_is_completed(cli):
    created = _ok(cli("ladder", "create", "R-1", "--province", "ON", "--phone",
                      "+14165550170", "--at", AT, "--json")).json
    _ok(cli("lead", "inbound", "--from", "+14165550170", "--body", "call me after 6",
            "--at", "2027-01-04T11:00:00-05:00"))
    _ok(cli("lead", "inbound", "--from", "+14165550999", "--body", "who is this?",
            "--at", "2027-01-04T11:05:00-05:00"))
    _ok(cli("lead", "inbound", "--from", "+14165550171", "--body", "STOP",
            "--at", "2027-01-04T11:10:00-05:00"))  # an opt-out is handled already
    at = "2027-01-04T12:00:00-05:00"
    replies = _status(cli, at=at).json["worklists"]["replies"]
    assert [(r["lead_id"], r["body"], r["age_minutes"]) for r in replies["rows"]] == [
        ("R-1", "call me after 6", 60), (None, "who is this?", 55)]
    _ok(cli("ladder", "complete", str(created["tasks"][0]["task_id"]), "--outcome",
            "contacted", "--at", "2027-01-04T11:30:00-05:00"))
    replies = _status(cli, at=at).json["worklists"]["replies"]
    assert [r["body"] for r in replies["rows"]] == ["who is this?"]


def test_worklists_not_counts_offers_sent_and_not_answered(cli):
    _ok(cli("offer", "policy-set", "ON", "--enable", "--reason", "pilot", "--at", AT))
    _ok(cli("golive", "enable", "--reason", "go", "--at", AT))
    ids, opening = [], []
    for ref in ("D-1", "D-2"):
        out = _ok(cli("offer", "compute", "ON", "--market", "TORONTO", "--arv", "450000",
                      "--repairs", "50000", "--deal-ref", ref, "--at", AT, "--json")).json
        ids.append(out["evidence_id"])
        opening.append(out["opening_offer"])
        _ok(cli("offer", "outcome", str(out["evidence_id"]), "--status", "sent",
                "--at", "2027-01-05T12:00:00-05:00"))
    _ok(cli("offer", "outcome", str(ids[1]), "--status", "rejected",
            "--at", "2027-01-06T12:00:00-05:00"))
    offers = _status(cli).json["worklists"]["offers"]
    assert offers["total"] == 1
    row = offers["rows"][0]
    assert (row["evidence_id"], row["deal_ref"], row["amount"], row["age_days"]) == (
        ids[0], "D-1", opening[0], 3)
    table = _status(cli, "table", env={"COLUMNS": "100"}).stdout
    money = f"{float(opening[0]):,.2f}"
    assert "Offers sent, not answered: 1" in table and money in table
