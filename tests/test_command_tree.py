"""The whole command tree: every example parses, and every command with `--format` speaks JSON.

`MINIMAL` holds, for each command path that takes `--format`, the smallest valid arguments (and
any setup it needs). A test fails when a command with `--format` appears that is not in the
table, so JSON coverage cannot drop silently when a pack adds a command. The hidden `followups`
alias mounts the same sub-app as `ladder` and reuses its rows.

With the same table: `--format json` is valid JSON that follows SPEC 5 (both engines); jsonl,
tsv and table render too (SQLite: rendering does not touch the database); and every integer
parameter refuses a value no BIGINT can hold with exit 2 (both engines).
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import cli_root, walk_commands

AT = "2027-01-15T10:00:00-05:00"
ALIASES = {"followups": "ladder"}


@functools.cache
def _root():
    return cli_root()


def _leaves() -> list[tuple[tuple[str, ...], object]]:
    return [(p, c) for p, c in walk_commands(_root())
            if p and getattr(c, "commands", None) is None]


def _takes_format(command) -> bool:
    return any("--format" in param.opts for param in command.params)


def _canonical(path: tuple[str, ...]) -> tuple[str, ...]:
    return (ALIASES.get(path[0], path[0]), *path[1:])


# --- the table ---------------------------------------------------------------------------------

Setup = Callable[["object", Path], dict]


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...] = ()
    setup: Setup | None = None  # runs through the in-process CLI; returns {placeholder: value}
    files: dict = field(default_factory=dict)  # name -> content, written to tmp_path
    refused_silently: bool = False  # `ladder dispatch`: a refusal prints nothing on stdout
    exit_code: int = 0  # what this minimal call must answer: 0 (yes, done) or 1 (a "no")


def _ok(result):
    assert result.exit_code == 0, result.stderr
    return result.json


def _ladder(cli, _tmp):
    made = _ok(cli("ladder", "create", "L-1", "--province", "ON", "--at", AT, "--json"))
    return {"task": made["tasks"][0]["task_id"]}


def _ladder_texted(cli, tmp):
    """A ladder, and a `[business]` identity in this test's own config file (texts need it)."""
    from valhalla_cli.settings import default_config_path

    path = default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[business]\nname = "Maple Home Buyers"\ncallback = "+14165550100"\n')
    return _ladder(cli, tmp)


def _ladder_done(cli, tmp):
    values = _ladder(cli, tmp)
    _ok(cli("ladder", "complete", str(values["task"]), "--outcome", "sent", "--at", AT,
            "--json"))
    return values


def _dncl_zip(cli, tmp):
    import zipfile

    with zipfile.ZipFile(f"{tmp}/dncl.zip", "w") as archive:
        archive.writestr("416.csv", "416,5550100\n")
    return {}


def _dncl_zip_imported(cli, tmp):
    _dncl_zip(cli, tmp)
    _ok(cli("dncl", "import", f"{tmp}/dncl.zip", "--at", AT, "--json"))
    return {}


def _evidence(cli, _tmp):
    _ok(cli("offer", "policy-set", "ON", "--enable", "--reason", "pilot", "--at", AT, "--json"))
    made = _ok(cli("offer", "compute", "ON", "--arv", "450000", "--repairs", "50000", "--at", AT,
                   "--json"))
    return {"evidence": made["evidence_id"]}


def _checklist_item(cli, _tmp, *, sign=False):
    _ok(cli("golive", "checklist", "add", "dncl", "--title", "DNCL active", "--at", AT, "--json"))
    if sign:
        _ok(cli("golive", "checklist", "sign", "dncl", "--at", AT, "--json"))
    return {}


def _reservation(cli, _tmp):
    _ok(cli("golive", "enable", "--reason", "go", "--at", AT, "--json"))
    made = _ok(cli("risk", "reserve", "acquisitions", "100", "--ref", "r-1", "--at", AT,
                   "--json"))
    return {"reservation": made["reservation_id"]}


def _recommendation(cli, _tmp):
    made = cli("heimdall", "record", "lead_scoring", "--confidence", "0.9", "--subject", "s-1",
               "--at", AT, "--json")
    assert made.exit_code == 1 and made.json["decision"] == "shadow"  # sandbox
    return {"rec": made.json["recommendation_id"]}


def _token(cli, _tmp):
    _ok(cli("api", "token", "create", "t-1", "--scope", "read", "--json"))
    return {}


def _sent_message(cli, tmp):
    """A text sent through the `log` provider (no account needed)."""
    import os

    _ok(cli("golive", "enable", "--reason", "go", "--at", AT, "--json"))
    _ok(cli("ladder", "create", "L-1", "--province", "ON", "--phone", "+14165550199",
            "--consent", "express", "--consent-at", "2027-01-01T09:00", "--at", AT, "--json"))
    env = {"VALHALLA_SENDER_PROVIDER": "log", "VALHALLA_BUSINESS_NAME": "Maple",
           "VALHALLA_BUSINESS_CALLBACK": "+14165550100"}
    sent = cli("send", "--at", AT, env={**os.environ, **env})
    assert sent.exit_code == 0, sent.stderr
    return {"message": sent.jsonl[0]["message_id"]}


def _inbox_item(cli, _tmp):
    _ok(cli("ladder", "create", "L-1", "--province", "ON", "--phone", "+14165550199",
            "--at", AT, "--json"))
    _ok(cli("lead", "inbound", "--from", "+14165550199", "--body", "call me", "--at", AT,
            "--json"))
    return {}


R = ("--reason", "table test")
MINIMAL: dict[tuple[str, ...], Case] = {
    ("audit",): Case(),
    ("market", "policies"): Case(),
    ("market", "policy-set"): Case(("ON", "--market", "TORONTO", "--min-lead-score", "10",
                                    "--at", AT)),
    ("market", "effective"): Case(("ON", "--market", "TORONTO")),
    ("market", "can-contact"): Case(("ON", "--channel", "SMS", "--at", AT)),
    ("market", "suppress"): Case(("L-9", "--reason", "replied STOP", "--at", AT)),
    ("market", "suppressions"): Case(),
    ("ladder", "create"): Case(("L-1", "--province", "ON", "--at", AT)),
    ("lead", "add"): Case(("L-1", "--province", "ON", "--phone", "+14165550199", "--at", AT)),
    ("lead", "show"): Case(("L-1", "--at", AT), setup=_ladder),
    ("lead", "list"): Case(),
    ("lead", "import"): Case(("{tmp}/leads.csv", "--at", AT),
                             files={"leads.csv": "lead_id,province,phone\nL-1,ON,4165550199\n"}),
    ("lead", "consent"): Case(("L-1", "--kind", "inquiry", "--at", AT), setup=_ladder),
    ("lead", "inbound"): Case(("--from", "+14165550199", "--body", "hello", "--at", AT)),
    ("dncl", "import"): Case(("{tmp}/dncl.zip", "--at", AT), setup=_dncl_zip),
    ("dncl", "status"): Case(("--at", AT)),
    ("dncl", "check"): Case(("+14165550199", "--at", AT), setup=_dncl_zip_imported),
    ("template", "list"): Case(),
    ("template", "set"): Case(("--language", "en", "--text", "{{business}}: hi. STOP to end",
                               "--at", AT)),
    ("ladder", "import"): Case(("{tmp}/leads.csv", "--at", AT),
                               files={"leads.csv": "lead_id,province\nL-1,ON\nL-2,QC\n"}),
    ("ladder", "show"): Case(("L-1",), setup=_ladder),
    ("ladder", "due"): Case(("--at", AT), setup=_ladder),
    ("ladder", "overdue"): Case(("--at", AT), setup=_ladder),
    ("ladder", "dispatch"): Case(("--at", AT), setup=_ladder, refused_silently=True),
    ("ladder", "complete"): Case(("{task}", "--outcome", "sent", "--at", AT), setup=_ladder),
    ("ladder", "stop"): Case(("L-1", *R, "--at", AT), setup=_ladder),
    ("ladder", "release"): Case(("{task}", *R, "--at", AT), setup=_ladder),
    ("ladder", "amend"): Case(("{task}", "--outcome", "contacted", *R, "--at", AT),
                              setup=_ladder_done),
    ("template", "preview"): Case(("L-1",), setup=_ladder_texted),
    ("ladder", "sla"): Case(("--at", AT)),
    ("ladder", "breaches"): Case(("--at", AT), setup=_ladder),
    ("liquidity", "feedback"): Case(("ON", "--market", "TORONTO", "--buyer", "B1", "--responded",
                                     "--at", AT)),
    ("liquidity", "import"): Case(
        ("{tmp}/feedback.csv",),
        files={"feedback.csv": "province,market,buyer,responded,at\n"
                               "ON,TORONTO,B1,true,2027-01-15T10:00:00-05:00\n"}),
    ("liquidity", "score"): Case(("ON", "--market", "TORONTO", "--at", AT)),
    ("liquidity", "nodes"): Case(("--at", AT)),
    # Seeded disabled: a "no" that still prints its whole answer.
    ("offer", "compute"): Case(("ON", "--arv", "450000", "--repairs", "50000", "--at", AT),
                               exit_code=1),
    ("offer", "policies"): Case(),
    ("offer", "policy-set"): Case(("ON", "--enable", *R, "--at", AT)),
    ("offer", "evidence"): Case(setup=_evidence),
    ("offer", "evidence", "list"): Case(setup=_evidence),
    ("offer", "evidence", "show"): Case(("{evidence}",), setup=_evidence),
    # the evidence was computed in sandbox mode: it cannot be sent (evidence_sandbox)
    ("offer", "outcome"): Case(("{evidence}", "--status", "sent", "--at", AT), setup=_evidence,
                               exit_code=1),
    ("offer", "funnel"): Case(("--at", AT)),
    ("golive", "state"): Case(),
    ("golive", "enable"): Case((*R, "--at", AT)),
    ("golive", "disable"): Case((*R, "--at", AT)),
    ("golive", "history"): Case(),
    ("golive", "kill-switch", "engage"): Case((*R, "--at", AT)),
    ("golive", "kill-switch", "release"): Case((*R, "--at", AT)),
    ("golive", "checklist"): Case(setup=_checklist_item),
    ("golive", "checklist", "list"): Case(setup=_checklist_item),
    ("golive", "checklist", "add"): Case(("dncl", "--title", "DNCL active", "--at", AT)),
    ("golive", "checklist", "sign"): Case(("dncl", "--at", AT), setup=_checklist_item),
    ("golive", "checklist", "unsign"): Case(
        ("dncl", *R, "--at", AT), setup=lambda cli, tmp: _checklist_item(cli, tmp, sign=True)),
    # Not live on a fresh install: refused, with the whole answer.
    ("risk", "reserve"): Case(("acquisitions", "100", "--ref", "r-1", "--at", AT), exit_code=1),
    ("risk", "settle"): Case(("{reservation}", "--pnl", "-50", "--at", AT), setup=_reservation),
    ("risk", "release"): Case(("--ref", "r-1", "--at", AT), setup=_reservation),
    ("risk", "snapshot"): Case(("--at", AT)),
    ("risk", "policies"): Case(),
    ("risk", "policy-set"): Case(("marketing", "--daily-cap", "12000", *R, "--at", AT)),
    ("risk", "events"): Case(("--at", AT), setup=_reservation),
    # Sandbox: shadowed, not acted on (exit 1).
    ("heimdall", "record"): Case(("lead_scoring", "--confidence", "0.9", "--subject", "s-1",
                                  "--at", AT), exit_code=1),
    ("heimdall", "outcome"): Case(("{rec}", "--success", "--at", AT), setup=_recommendation),
    ("heimdall", "scorecard"): Case(("--at", AT)),
    # No sandbox samples yet: not promoted.
    ("heimdall", "promote"): Case(("lead_scoring", *R, "--at", AT), exit_code=1),
    ("heimdall", "demote"): Case(("lead_scoring", *R, "--at", AT)),
    ("heimdall", "policies"): Case(),
    ("heimdall", "policy-set"): Case(("lead_scoring", "--min-confidence", "0.85", *R,
                                      "--at", AT)),
    ("regression", "evaluate"): Case(("--at", AT)),
    ("regression", "state"): Case(),
    ("regression", "release"): Case(("followups", *R, "--at", AT)),
    ("regression", "policies"): Case(),
    ("regression", "policy-set"): Case(("buyer_feedback", "--max-drop-pct", "25", *R,
                                        "--at", AT)),
    ("kpi", "emit"): Case(("buyer_feedback", "--value", "1", "--at", AT)),
    ("kpi", "import"): Case(("{tmp}/events.csv",), files={
        "events.csv": "metric,value,occurred_at\nladder_created,1,2027-01-15T10:00:00Z\n"}),
    ("kpi", "list"): Case(),
    ("kpi", "summary"): Case(("--at", AT)),
    ("runbook", "status"): Case(("--at", AT)),
    ("status",): Case(("--at", AT)),
    ("scorecard",): Case(("--at", AT)),
    ("config", "show"): Case(),
    ("db", "current"): Case(),
    ("db", "history"): Case(),
    ("db", "check"): Case(),
    ("api", "token", "create"): Case(("t-1", "--scope", "read")),
    ("api", "token", "list"): Case(setup=_token),
    ("api", "token", "revoke"): Case(("t-1", *R), setup=_token),
    ("send",): Case(("--at", AT), exit_code=3),  # no provider configured
    ("send", "show"): Case(("{message}",), setup=_sent_message),
    ("send", "status"): Case(("SM0123", "--status", "delivered", "--at", AT)),
    ("send", "report"): Case(),
    ("inbox",): Case(("--at", AT), setup=_inbox_item),
    ("desk",): Case(("--owner", "va1", "--at", AT)),
    ("inbox", "show"): Case(("L-1", "--at", AT), setup=_inbox_item),
    # not live (and no provider): a rule's "no", printed with its reason
    ("inbox", "reply"): Case(("L-1", "--text", "hi", "--at", AT), setup=_inbox_item,
                             exit_code=1),
    ("inbox", "close"): Case(("L-1", "--outcome", "resume", "--at", AT), setup=_inbox_item),
    ("inbox", "sla"): Case(("--at", AT)),
}

# Leaves, and the groups that list something when called without a subcommand.
FORMAT_PATHS = sorted(p for p, c in walk_commands(_root()) if p and _takes_format(c))


def test_every_command_with_format_is_in_the_table():
    covered = {p for p in FORMAT_PATHS if _canonical(p) in MINIMAL}
    missing = [" ".join(p) for p in FORMAT_PATHS if p not in covered]
    assert missing == [], f"add minimal arguments to MINIMAL for: {missing}"
    stale = sorted(" ".join(p) for p in set(MINIMAL) - {_canonical(p) for p in FORMAT_PATHS}
                   - set(INT_PATHS))
    assert stale == [], f"MINIMAL names commands without --format (or gone): {stale}"


SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def _items(value, where="$") -> Iterator[tuple[str, str, object]]:
    """Every (parent path, key, value) of a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield where, key, item
            yield from _items(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _items(item, f"{where}[{i}]")


INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")


def _convention_breaks(body) -> list[str]:
    """SPEC 5: snake_case keys, instants in UTC with Z (local times say so), rates numbers in
    0..1, `_pct` fields numbers (a drop or a breach may leave 0..100)."""
    bad = []
    for where, key, value in _items(body):
        if DATA_KEYED.search(where):
            continue
        name = f"{where}.{key}"
        if not SNAKE.match(key):
            bad.append(f"{name}: key not snake_case")
        if isinstance(value, str) and INSTANT.match(value) and "local" not in key \
                and not value.endswith("Z"):
            bad.append(f"{name}: instant {value!r} not UTC with Z")
        if key.endswith("_rate") and value is not None and not (
                isinstance(value, (int, float)) and 0 <= value <= 1):
            bad.append(f"{name}: rate {value!r} not a number in 0..1")
        if key.endswith("_pct") and key not in MONEY_PCT and value is not None and not (
                isinstance(value, (int, float)) and not isinstance(value, bool)):
            bad.append(f"{name}: {value!r} not a number")
    return bad


# `arv_times_pct` is the amount ARV x arv_pct (money), named after SPEC 12's `arv_pct`.
MONEY_PCT = {"arv_times_pct"}
# Keys that are data, not field names: channel names and payloads an operator typed in.
DATA_KEYED = re.compile(r"\.(windows|payload)$")


@pytest.mark.parametrize("path", FORMAT_PATHS, ids=lambda p: "-".join(p))
def test_format_json_prints_valid_json(cli, tmp_path, path):
    case = MINIMAL.get(_canonical(path))
    if case is None:
        pytest.fail(f"{' '.join(path)} is not in MINIMAL")
    values = {"tmp": str(tmp_path)}
    for name, content in case.files.items():
        (tmp_path / name).write_text(content)
    if case.setup is not None:
        values.update(case.setup(cli, tmp_path))
    args = [a.format(**values) for a in case.args]
    result = cli(*path, *args, "--format", "json")
    expected = 1 if case.refused_silently else case.exit_code
    assert result.exit_code == expected, (result.exit_code, result.stderr)
    if case.refused_silently:
        assert result.stdout == "" and result.stderr.strip()
        return
    assert result.stdout.strip(), f"no output (exit {result.exit_code}): {result.stderr}"
    try:
        body = json.loads(result.stdout)
    except json.JSONDecodeError as exc:  # pragma: no cover - the failure message
        pytest.fail(f"not JSON ({exc}): {result.stdout[:300]!r}")
    assert isinstance(body, (dict, list))
    if isinstance(body, list):
        assert all(isinstance(item, dict) for item in body), "a listing is an array of objects"
    assert _convention_breaks(body) == []
    if result.exit_code == 1:
        # A "no" prints its whole answer with a machine-readable reason, and says why on stderr.
        assert result.stderr.strip()
        if isinstance(body, dict):
            assert body.get("reason"), body


# --- examples ----------------------------------------------------------------------------------

def _examples(help_text: str) -> list[list[str]]:
    """The command lines of a help text's Example block, split as a shell would."""
    block = help_text.split("Example", 1)[1].split("\n", 1)[1] if "Example" in help_text else ""
    text = block.replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("valhalla "):
            continue
        words = shlex.split(line)
        for i, word in enumerate(words):
            if word in ("|", "&&", "||", ">", ">>"):
                words = words[:i]
                break
        commands.append(words[1:])
    return commands


@pytest.mark.parametrize("path", [p for p, _ in _leaves() if p[0] not in ALIASES],
                         ids=lambda p: "-".join(p))
def test_every_example_names_its_command_and_parses(path):
    """The example in each command's help runs that command with options it really has."""
    root = _root()
    command = root
    for name in path:
        command = command.commands[name]
    examples = _examples(command.help or "")
    assert examples, f"{' '.join(path)}: no example"
    for words in examples:
        head = _canonical(tuple(words[: len(path)]))
        assert head == path, f"example {words} is not for {' '.join(path)}"
        rest = words[len(path):]
        # Parse (not run) the arguments: unknown options and missing required ones fail here.
        ctx = command.make_context(" ".join(path), list(rest), resilient_parsing=False)
        assert ctx.command is command


# --- the other formats -------------------------------------------------------------------------

def _run_case(cli, tmp_path: Path, path: tuple[str, ...], fmt: str):
    case = MINIMAL[_canonical(path)]
    values = {"tmp": str(tmp_path)}
    for name, content in case.files.items():
        (tmp_path / name).write_text(content)
    if case.setup is not None:
        values.update(case.setup(cli, tmp_path))
    # A listing shows its compact columns on a terminal; --wide shows the ones compared here.
    wide = ("--wide",) if fmt == "table" and any(
        "--wide" in p.opts for p in _command(path).params) else ()
    return case, cli(*path, *[a.format(**values) for a in case.args], "--format", fmt, *wide)


@pytest.mark.parametrize("path", [p for p in FORMAT_PATHS if _canonical(p) in MINIMAL],
                         ids=lambda p: "-".join(p))
def test_jsonl_tsv_and_table_agree_with_json(sqlite_template, tmp_path, path):
    """Rendering does not depend on the engine: SQLite only, a fresh copy per format."""
    import shutil

    from conftest import Cli

    outputs = {}
    for fmt in ("json", "jsonl", "tsv", "table"):
        where = tmp_path / fmt
        where.mkdir()
        shutil.copy(sqlite_template, where / "valhalla.db")
        case, result = _run_case(Cli(f"sqlite:///{where / 'valhalla.db'}"), where, path, fmt)
        assert result.exit_code in (0, 1), (fmt, result.exit_code, result.stderr)
        outputs[fmt] = result.stdout
    if case.refused_silently:
        assert set(outputs.values()) == {""}
        return
    body = json.loads(outputs["json"])
    items = body if isinstance(body, list) else [body]
    lines = [json.loads(line) for line in outputs["jsonl"].splitlines()]
    assert all(isinstance(line, dict) for line in lines)
    # Tabular formats may flatten a report (a ladder's tasks, the runbook's checks): the rows
    # differ in number, but never in whether there is anything to show.
    assert bool(lines) == bool(items)
    rows = outputs["tsv"].splitlines()
    assert rows, "tsv prints at least its header"
    assert len({len(row.split("\t")) for row in rows}) == 1, "tsv rows have the header's width"
    assert outputs["table"].strip()
    stable = {fmt: _stable(text, tmp_path / fmt) for fmt, text in outputs.items()}
    _assert_same_values(path, json.loads(stable["json"]),
                        [json.loads(line) for line in stable["jsonl"].splitlines()],
                        stable["tsv"].splitlines(), stable["table"])


# Values that differ between two fresh runs of the same command: the run's directory, random
# ids (ladder ids, claim tokens, API tokens), the wall clock and the process (workers).
_VOLATILE = (re.compile(r"\b[0-9a-f]{32}\b"), re.compile(r"\b[0-9a-f]{8}-[0-9a-f-]{27}\b"),
             re.compile(r"@[\w.-]+:\d+\b"), re.compile(r"\bvh_[A-Za-z0-9_-]{43}"),
             re.compile(r"\bLOG[0-9a-f]{32}\b"))  # the `log` provider's message sids
# Every test instant is in 2027; one written with the wall clock (evidence's recorded_at) is now.
_WALL_CLOCK = re.compile(r"\b(?!2027-)\d{4}-\d{2}-\d{2}T[\d:.]+Z")
# Commands whose terminal output is a laid-out explanation rather than their rows.
_LAYOUTS = {("offer", "compute")}


def _stable(text: str, where: Path) -> str:
    text = text.replace(str(where), "<tmp>")
    for pattern in _VOLATILE:
        text = pattern.sub("<id>", text)
    return _WALL_CLOCK.sub("<now>", text)


def _assert_same_values(path, body, lines, tsv_rows, table):
    """Every format prints the same values as the JSON, not merely something."""
    from valhalla_cli.output import cell, flatten

    header = tsv_rows[0].split("\t")
    cells = [row.split("\t") for row in tsv_rows[1:]]
    if header == ["key", "value"]:  # an overview flattened to dotted keys (valhalla status)
        expected = [[key, cell(value).replace("\t", " ")] for key, value in flatten(body)]
        assert cells == expected
        return
    items = body if isinstance(body, list) else [body]
    if [set(line) for line in lines] == [set(item) for item in items]:
        assert lines == items, "jsonl prints the JSON's objects, one per line"
    # (otherwise a report the tabular formats flatten: a ladder's tasks, the runbook's checks)
    if len(cells) != len(lines):
        return  # a report whose tsv flattens a nested list (risk snapshot's engines)
    # The tsv rows are the jsonl rows, column by column, as cells.
    for line, row in zip(lines, cells, strict=True):
        for name, text in zip(header, row, strict=True):
            assert text == cell(line.get(name)).replace("\t", " "), (path, name)
    # A terminal shows the first row's short values in those columns (long ones may wrap).
    if lines and _canonical(path) not in _LAYOUTS:
        values = [line_value for name in header
                  if (line_value := lines[0].get(name)) not in (None, "")
                  and not isinstance(line_value, (bool, dict, list))]
        # Money reads with thousands separators on a terminal (25000.00 -> 25,000.00).
        shown = [_as_read(cell(v)) for v in values if len(cell(v)) <= 12 and "<" not in cell(v)]
        missing = [v for v in shown if v not in table]
        assert not missing, (path, missing)


def _as_read(text: str) -> str:
    from decimal import Decimal

    return f"{Decimal(text):,.2f}" if re.fullmatch(r"-?\d+\.\d\d", text) else text


# --- integers the database cannot hold -----------------------------------------------------------

BIG = str(2**63)  # one past BIGINT's maximum


def _command(path: tuple[str, ...]):
    command = _root()
    for name in path:
        command = command.commands[name]
    return command


def _int_params(command) -> list:
    return [p for p in command.params
            if getattr(getattr(p, "type_descriptor", None), "annotation", None) is int]


# `serve` takes no ids or limits, only a port and a worker count bounded by their options
# (tests/api/test_status_codes.py covers them); it would start a server here.
INT_PATHS = sorted(p for p, c in walk_commands(_root())
                   if p and p[0] not in ALIASES and p != ("serve",) and _int_params(c))


class _AnyId(dict):
    def __missing__(self, key):
        return "1"


def test_every_integer_parameter_is_in_the_table():
    assert [" ".join(p) for p in INT_PATHS if p not in MINIMAL] == []


@pytest.mark.parametrize("path", INT_PATHS, ids=lambda p: "-".join(p))
def test_an_integer_no_bigint_can_hold_is_bad_input(cli, db, tmp_path, path):
    """2**63 as an id or a limit: exit 2 with one line, not a driver overflow; nothing changes."""
    from conftest import snapshot_tables

    command = _command(path)
    case = MINIMAL[path]
    for name, content in case.files.items():
        (tmp_path / name).write_text(content)
    base = [a.format_map(_AnyId(tmp=str(tmp_path))) for a in case.args]
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    before = snapshot_tables(db)
    for param in _int_params(command):
        args = list(base)
        if param.param_type_name == "argument":
            assert arguments[0] is param, "only a first positional integer is handled here"
            if args and not args[0].startswith("-"):
                args[0] = BIG
            else:
                args.insert(0, BIG)
        else:
            args += [param.opts[0], BIG]
        result = cli(*path, *args, *(("--format", "json") if _takes_format(command) else ()))
        assert result.exit_code == 2, (param.name, result.exit_code, result.stderr)
        assert "whole number" in result.stderr or "range" in result.stderr, result.stderr
        assert result.stdout == ""
    assert snapshot_tables(db) == before
