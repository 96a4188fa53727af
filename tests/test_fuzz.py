"""Property-based fuzzing of the whole command tree (issue 10, "must show").

For every command of the tree as it stands (walked from the app, so a new command joins by
itself) and every option and argument of it, Hypothesis draws hostile values — empty, white
space, control and invisible characters, huge, non-ASCII and exponent numbers, out-of-range
dates, daylight-saving gaps and overlaps, long strings — puts one in that parameter (the other
required ones get a valid value, flags are drawn at random) and runs the CLI. Each run must exit
0, 1 or 2, never 5 (the `Cli` runner also fails on a traceback and on more than one line on
standard error for exit 2); and a run that exits 2 must leave the database exactly as it was
(every row of every table compared). Both engines (the `db_url` fixture).

Default run: `VALHALLA_TEST_FUZZ_EXAMPLES` examples per command (4), derandomized so CI is
repeatable. A long run, e.g. before a release::

    VALHALLA_TEST_FUZZ_EXAMPLES=300 VALHALLA_TEST_FUZZ_RANDOM=1 pytest tests/test_fuzz.py

Not fuzzed: `serve` (a valid value starts a server that never returns), and the root options
`--db` / `--config`, which select the database and the config file (a hostile one is rightly
exit 3 or 4; `tests/test_faults.py` covers them). `--actor` is fuzzed on its own.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest
from conftest import Cli, snapshot_tables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("VALHALLA_TEST_FUZZ_EXAMPLES", "4"))
RANDOM = os.environ.get("VALHALLA_TEST_FUZZ_RANDOM", "") not in ("", "0")
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.filter_too_much])
SKIPPED = {("serve",)}
ALIASES = {"followups"}

# A valid value for each required parameter (by name), so the hostile one gets past the others.
VALID = {
    "province": "ON", "lead": "L-1", "market": "TORONTO", "channel": "SMS", "reason": "drill",
    "buyer": "b1", "task": "1", "outcome": "sent", "engine": "GLOBAL", "amount": "10",
    "ref": "r1", "domain": "lead_scoring", "confidence": "0.9", "subject": "s1",
    "recommendation_id": "1", "lever": "followups", "metric": "buyer_feedback", "key": "k1",
    "title": "Title", "name": "t-1", "scope": "read", "revision": "head", "evidence_id": "1",
    "reservation_id": "1",
}
FILES = {
    ("ladder", "import"): ("leads.csv", "lead_id,province\nL-9,ON\n"),
    ("kpi", "import"): ("events.csv",
                        "metric,value,occurred_at\nbuyer_feedback,1,2027-01-15T10:00:00Z\n"),
    ("liquidity", "import"): ("feedback.csv", "province,market,buyer,responded,at\n"
                              "ON,TORONTO,b1,true,2027-01-10T10:00:00Z\n"),
    ("db", "backup"): ("new-backup.db", None),
}

NASTY = [
    "", " ", "\t", "\n", " \u00a0 ", "\x00", "x\x00y", "\x1b[31mred", "\x1b]0;title\x07",
    "\u200b", "\u202eevil", "\ufeffON", "\u2028", "a\rb", "\x7f", "\x85",
    "١٢٣", "１２３", "٣.٥", "Ⅻ", "²", "1e308", "-1e308", "1E5", "4.5e5", "1e-400", "nan", "NaN",
    "inf", "-Infinity", "0x10", "1_000", "1,000", "0", "-0", "-1", "+1", "00012",
    "99999999999999999999", "-9223372036854775809", "9223372036854775808", "2" * 5000,
    "0.000000001", "1.005", "-0.00",
    "9999-12-31T23:59", "0001-01-01T00:00", "1969-12-31T23:59:59Z", "2200-01-01T00:00Z",
    "2027-03-14T02:30", "2027-11-07T01:30", "2027-02-30T10:00", "2027-01-15T25:00",
    "2027-01-15T10:00+25:00", "2027-01-15", "99999d", "0m", "-5m", "1y", "15 m",
    "x" * 5000, "é" * 300, "TORONTO\n", "ON\x00", "../../etc/passwd", "/dev/null", "NULL",
    "'; DROP TABLE audit_event;--", "%s%n%x", "{}", "[]", "*", "-", "--", "-h",
    "sqlite:///x.db", "🙂", "ÀÉÎÕÜ", "S̶M̶S̶",
]


def _leaves():
    import typer.main

    from valhalla_cli.app import app

    def walk(command, path=()):
        subs = getattr(command, "commands", None)
        if subs is None:
            yield path, command
            return
        for name, sub in subs.items():
            if name not in ALIASES:
                yield from walk(sub, (*path, name))

    return [(p, c) for p, c in walk(typer.main.get_command(app)) if p not in SKIPPED]


@functools.cache
def _tree() -> dict:
    return dict(_leaves())


COMMANDS = sorted(p for p, _ in _leaves())


def _numberish() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(min_value=-(2**80), max_value=2**80).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.decimals(allow_nan=False, allow_infinity=False, places=5).map(str),
        st.from_regex(r"\A[+-]?[0-9]{1,30}(\.[0-9]{0,12})?([eE][+-]?[0-9]{1,4})?\Z"),
    )


def _datish() -> st.SearchStrategy[str]:
    return st.one_of(
        st.datetimes().map(lambda d: d.isoformat()),
        st.dates().map(str),
        st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?\Z"),
    )


HOSTILE = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8", categories=("Cc", "Cf", "Zs", "Nd", "No")),
            max_size=12),
    _numberish(),
    _datish(),
)


def _value_params(command) -> list:
    return [p for p in command.params if p.name != "help" and not getattr(p, "is_flag", False)]


def _flags(command) -> list:
    return [p for p in command.params if p.name != "help" and getattr(p, "is_flag", False)]


def _argv(command, target, hostile: str, flags: list, valid_file: str | None) -> list[str]:
    """The command's required parameters valid, `target` hostile, some flags on."""
    positional: list[str] = []
    options: list[str] = []
    for param in command.params:
        if param.name == "help" or getattr(param, "is_flag", False):
            continue
        is_argument = param.param_type_name == "argument"
        if param is target:
            value = hostile
        elif param.required or (is_argument and param.name == "path"):
            value = valid_file if param.name == "path" and valid_file else VALID.get(
                param.name, "x")
        else:
            continue
        if is_argument:
            positional.append(value)
        else:
            options += [param.opts[0], value]
    for flag in flags:
        options.append(flag.opts[0])
    # `--` keeps a hostile positional that starts with '-' a value rather than an option
    return [*options, "--", *positional] if positional else options


@pytest.fixture
def fuzz_dir(tmp_path, monkeypatch):
    """Commands that write files (`config init --path`, `db backup`) write here, never into
    the checkout."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: "-".join(p))
def test_hostile_values_never_reach_exit_5(db_url, db, fuzz_dir, path):
    command = _tree()[path]
    params = _value_params(command)
    flags = _flags(command)
    cli = Cli(db_url)
    valid_file = None
    if path in FILES:
        name = FILES[path][0]
        valid_file = str(fuzz_dir / name)
    if not params:
        pytest.skip("no parameter takes a value")

    @FUZZ
    @given(data=st.data())
    def run(data):
        if path in FILES and FILES[path][1] is not None:
            Path(valid_file).write_text(FILES[path][1])
        elif path in FILES:
            Path(valid_file).unlink(missing_ok=True)
        target = data.draw(st.sampled_from(params), label="parameter")
        hostile = data.draw(HOSTILE, label="value")
        chosen = data.draw(st.lists(st.sampled_from(flags), unique=True, max_size=2)
                           if flags else st.just([]), label="flags")
        argv = _argv(command, target, hostile, chosen, valid_file)
        before = snapshot_tables(db)
        if os.environ.get("VALHALLA_TEST_FUZZ_TRACE"):
            print("FUZZ", path, argv)
        result = cli(*path, *argv)  # fails on exit 5, a traceback, or >1 stderr line on 2/3/4
        assert result.exit_code in (0, 1, 2), (path, argv, result.exit_code, result.stderr)
        if result.exit_code == 2:
            assert snapshot_tables(db) == before, (path, argv, result.stderr)

    run()


@FUZZ
@given(actor=HOSTILE)
def test_hostile_actor_never_reaches_exit_5(db_url, db, actor):
    before = snapshot_tables(db)
    result = Cli(db_url)("--actor", actor, "golive", "kill-switch", "engage", "--reason", "x")
    assert result.exit_code in (0, 2), (actor, result.stderr)
    if result.exit_code == 2:
        assert snapshot_tables(db) == before
