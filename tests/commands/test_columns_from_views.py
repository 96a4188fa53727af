"""A table that shows a result whole prints exactly its dataclass's fields, in order: a field added
to the result appears in the table, TSV and Markdown too, never only in the JSON. Both engines."""

from __future__ import annotations

import dataclasses
import importlib

import pytest

AT = "2027-01-04T10:00:00-05:00"  # a Monday in Toronto
LATER = "2027-01-08T12:00:00-05:00"  # the Friday after


def _fields(view: type) -> list[str]:
    return [f.name for f in dataclasses.fields(view)]


def _ok(result):
    assert result.exit_code in (0, 1), (result.exit_code, result.stdout, result.stderr)
    return result


def _tsv_header(result) -> list[str]:
    return _ok(result).stdout.splitlines()[0].split("\t")


def _markdown_header(markdown: str, heading: str) -> list[str]:
    """The header row of the first table under the `## heading…` line."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## {heading}"))
    row = next(line for line in lines[start + 1:] if line.startswith("| "))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_market_tables_print_the_policy_fields(cli):
    from valhalla_cli.services.policies import EffectivePolicy, PolicyView

    assert _tsv_header(cli("market", "policies", "--format", "tsv")) == _fields(PolicyView)
    assert _tsv_header(cli("market", "policy-set", "ON", "--min-lead-score", "10",
                           "--format", "tsv")) == _fields(PolicyView)
    assert _tsv_header(cli("market", "effective", "ON", "--format", "tsv")) == \
        _fields(EffectivePolicy)


def test_ladder_breaches_table_prints_the_breach_fields(cli):
    from valhalla_cli.services.ladder_breaches import Breach

    made = _ok(cli("ladder", "create", "L-1", "--province", "ON", "--at", "2027-06-15T08:00:00",
                   "--json")).json
    call = next(t for t in made["tasks"] if t["channel"] == "CALL")
    # completed at 21:45 in Toronto: after the window closes, a breach
    _ok(cli("ladder", "complete", str(call["task_id"]), "--outcome", "no_answer",
            "--at", "2027-06-15T21:45:00"))
    result = cli("ladder", "breaches", "--since", "2027-06-01", "--until", "2027-06-30",
                 "--format", "tsv")
    assert _tsv_header(result) == _fields(Breach)
    assert len(result.stdout.splitlines()) == 2, result.stdout  # the breach, under the header
    markdown = _ok(cli("ladder", "breaches", "--since", "2027-06-01", "--until", "2027-06-30",
                       "--format", "markdown")).stdout
    assert _markdown_header(markdown, "Contact-window breaches") == _fields(Breach)


def test_runbook_tables_print_the_check_line_fields(cli):
    from valhalla_cli.services.runbook import CheckLine

    assert _tsv_header(cli("runbook", "status", "--format", "tsv")) == _fields(CheckLine)
    markdown = _ok(cli("runbook", "markdown")).stdout
    row = next(line for line in markdown.splitlines() if line.startswith("| "))
    assert [cell.strip() for cell in row.strip("|").split("|")] == _fields(CheckLine)


def test_lead_list_prints_the_lead_fields(cli):
    from valhalla_cli.services.contact_facts import LeadRecord

    _ok(cli("lead", "add", "L-1", "--province", "ON", "--phone", "+14165550142", "--at", AT))
    assert _tsv_header(cli("lead", "list", "--format", "tsv")) == _fields(LeadRecord)
    added = _tsv_header(cli("lead", "add", "L-2", "--province", "QC", "--at", AT,
                            "--format", "tsv"))
    assert added == [*_fields(LeadRecord), "created", "changed"]
    shown = _tsv_header(cli("lead", "show", "L-1", "--at", AT, "--format", "tsv"))
    assert shown[:len(_fields(LeadRecord))] == _fields(LeadRecord)


def test_status_markdown_sections_shown_whole_print_their_fields(cli):
    from valhalla_cli.services.ladder import SlaDay, TaskCounts
    from valhalla_cli.services.runbook import CheckLine
    from valhalla_cli.services.worklists import OfferItem

    _ok(cli("ladder", "create", "L-1", "--province", "ON", "--at", AT))
    _ok(cli("offer", "policy-set", "ON", "--enable", "--reason", "pilot", "--at", AT))
    _ok(cli("golive", "enable", "--reason", "go", "--at", AT))
    offer = _ok(cli("offer", "compute", "ON", "--market", "TORONTO", "--arv", "450000",
                    "--repairs", "50000", "--deal-ref", "D-1", "--at", AT, "--json")).json
    _ok(cli("offer", "outcome", str(offer["evidence_id"]), "--status", "sent",
            "--at", "2027-01-05T12:00:00-05:00"))
    markdown = _ok(cli("status", "--at", LATER, "--format", "markdown")).stdout
    assert _markdown_header(markdown, "Follow-up SLA per business day") == _fields(SlaDay)
    assert _markdown_header(markdown, "Follow-up tasks") == _fields(TaskCounts)
    assert _markdown_header(markdown, "Offers sent, not answered") == _fields(OfferItem)
    assert _markdown_header(markdown, "Runbook") == _fields(CheckLine)
    table = _ok(cli("status", "--at", LATER, "--format", "table",
                    env={"COLUMNS": "200"})).stdout
    assert "Offers sent, not answered: 1" in table


@pytest.mark.parametrize(("args", "view"), [
    (("risk", "policies"), "valhalla_cli.services.risk:Policy"),
    (("risk", "snapshot", "--day", "2027-01-04"), "valhalla_cli.services.risk:EngineSnapshot"),
    (("regression", "state"), "valhalla_cli.services.regression:LeverState"),
    (("regression", "policies"), "valhalla_cli.services.regression:PolicyView"),
    (("heimdall", "policies"), "valhalla_cli.services.heimdall:PolicyView"),
    (("golive", "checklist", "list"), "valhalla_cli.services.golive:ChecklistItem"),
    (("ladder", "due", "--at", AT), "valhalla_cli.services.ladder:DueTask"),
    (("offer", "evidence", "list"), "valhalla_cli.services.offer:EvidenceSummary"),
])
def test_other_tables_shown_whole_print_their_fields(cli, args, view):
    module, _, name = view.partition(":")
    fields = _fields(getattr(importlib.import_module(module), name))
    assert _tsv_header(cli(*args, "--format", "tsv")) == fields
