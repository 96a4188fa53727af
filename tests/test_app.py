"""The root command: start-up cost, the help tree, error boundary and exit codes."""

import shutil
import subprocess
import sys

import pytest
from conftest import REPO, cli_root, walk_commands


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, check=True).stdout.strip()


def test_importing_the_app_loads_no_data_layer():
    loaded = _python(
        "import sys, valhalla_cli.app; "
        "print(' '.join(m for m in ('sqlalchemy', 'sqlmodel', 'alembic', 'rich.table', "
        "'holidays', 'valhalla_cli.services', 'valhalla_cli.db', 'jinja2') if m in sys.modules))"
    )
    assert loaded == ""


def test_help_lists_groups_and_exit_codes(cli_nodb):
    result = cli_nodb("--help")
    assert result.exit_code == 0
    for group in ("market", "ladder", "liquidity", "offer", "golive", "risk", "heimdall",
                  "regression", "kpi", "runbook", "audit", "config", "db", "init"):
        assert group in result.stdout
    assert "Exit codes" in result.stdout and "VALHALLA_DEBUG=1" in result.stdout


def test_every_command_has_a_one_line_help_and_an_example():
    missing = []
    for path, command in walk_commands(cli_root()):
        if not path:
            continue
        help_text = command.help or ""
        leaf = not getattr(command, "commands", None)
        if not help_text.strip():
            missing.append(" ".join(path) + ": no help")
        elif leaf and "Example" not in help_text:
            missing.append(" ".join(path) + ": no example")
    assert missing == []


def test_version(cli_nodb):
    result = cli_nodb("--version")
    assert result.exit_code == 0 and result.stdout.startswith("valhalla ")


@pytest.mark.parametrize("args", [["golive", "bogus"], ["--nope"], ["golive", "enable", "--x"]])
def test_usage_errors_are_one_line_exit_2(cli_nodb, args):
    result = cli_nodb(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("valhalla: error:")


def test_an_unreachable_database_is_exit_4_with_one_line(tmp_path):
    # A directory where the SQLite file should be: the driver cannot open it.
    target = tmp_path / "dir.db"
    target.mkdir()
    from conftest import run_valhalla

    result = run_valhalla("--db", f"sqlite:///{target}", "golive", "state", check_clean=False)
    assert result.exit_code == 4
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        "valhalla: error: database unavailable: unable to open database file"]


# A bug, planted in a real process: the service raises an exception whose text goes on to
# print SQL and its parameters, as driver errors do.
_BUG = (
    "import sys\n"
    "from valhalla_cli.services import golive\n"
    "def broken(*args, **kwargs):\n"
    "    raise RuntimeError('cannot compute state\\n[SQL: SELECT secret FROM vault]')\n"
    "golive.get_state = broken\n"
    "from valhalla_cli.app import main\n"
    "sys.argv = ['valhalla'] + sys.argv[1:]\n"
    "main()\n"
)


def _run_bug(db_url: str, env: dict):
    import os

    argv = [sys.executable, "-c", _BUG, "--db", db_url, "golive", "state"]
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60,
                          env={**os.environ, **env})


def test_internal_errors_hide_the_traceback_unless_debug(tmp_path):
    from conftest import run_valhalla

    url = f"sqlite:///{tmp_path / 'v.db'}"
    assert run_valhalla("db", "upgrade", db_url=url).exit_code == 0  # --db never creates
    quiet = _run_bug(url, {})
    assert quiet.returncode == 5, quiet.stderr
    lines = quiet.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in quiet.stderr
    assert "RuntimeError: cannot compute state" in lines[0]
    assert "VALHALLA_DEBUG=1" in lines[0]
    assert "SELECT secret" not in quiet.stderr  # only the first line of the exception
    debug = _run_bug(url, {"VALHALLA_DEBUG": "1"})
    assert debug.returncode == 5
    assert "Traceback (most recent call last)" in debug.stderr
    assert "in broken" in debug.stderr


HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "pydantic", "valhalla_cli.services", "jinja2")


# Typer finds the shell to complete for among the process's parents, as when a person types
# the command: under a test runner started by cron or a detached job there is none.
IN_A_SHELL = ["bash", "-c", '"$@"; exit $?', "bash"]  # a compound command: bash stays a parent


def _modules_after(argv: list[str], env: dict | None = None,
                   in_a_shell: bool = False) -> tuple[str, list[str]]:
    """Run the CLI in a fresh interpreter; return its stdout and the heavy modules it loaded."""
    import json
    import os

    code = (
        "import sys, json, io, contextlib\n"
        f"sys.argv = {['valhalla', *argv]!r}\n"
        "from valhalla_cli.app import main\n"
        "out = io.StringIO()\n"
        "try:\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(json.dumps([out.getvalue(), heavy]))\n"
    )
    proc = subprocess.run([*(IN_A_SHELL if in_a_shell else []), sys.executable, "-c", code],
                          capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, check=True)
    stdout, heavy = json.loads(proc.stdout.strip().splitlines()[-1])
    return stdout, heavy


@pytest.mark.parametrize("argv", [["--help"], ["golive", "--help"],
                                  ["golive", "kill-switch", "--help"]])
def test_help_imports_nothing_heavy(argv):
    stdout, heavy = _modules_after(argv)
    assert "Usage:" in stdout
    assert heavy == []


@pytest.mark.parametrize(("words", "cword", "expected"), [
    ("valhalla gol", "1", "golive"),
    ("valhalla golive kil", "2", "kill-switch"),
    ("valhalla golive kill-switch eng", "3", "engage"),
    ("valhalla lad", "1", "ladder"),
    ("valhalla ladder dis", "2", "dispatch"),
    ("valhalla regression rel", "2", "release"),
])
def test_shell_completion_offers_commands_without_heavy_imports(words, cword, expected):
    env = {"_VALHALLA_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
    stdout, heavy = _modules_after([], env=env)
    assert expected in stdout.split()
    assert heavy == []


def test_command_modules_keep_real_annotations():
    """String annotations make Typer eval every signature on each start (see commands/__init__)."""
    offenders = [
        path.name for path in (REPO / "valhalla_cli" / "commands").glob("*.py")
        if path.name not in ("_common.py", "__init__.py")
        and "from __future__ import annotations" in path.read_text()
    ]
    assert offenders == []


def test_shell_completion_hides_the_followups_alias():
    env = {"_VALHALLA_COMPLETE": "complete_bash", "COMP_WORDS": "valhalla f", "COMP_CWORD": "1"}
    stdout, heavy = _modules_after([], env=env)
    assert "followups" not in stdout.split()
    assert heavy == []


@pytest.mark.parametrize("shell_env", [None, "/bin/bash"])
def test_show_completion_prints_the_bash_script(shell_env):
    """`valhalla --show-completion bash` works with or without $SHELL, and stays light."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "SHELL"}
    if shell_env:
        env["SHELL"] = shell_env
    proc = subprocess.run([*IN_A_SHELL, sys.executable, "-m", "valhalla_cli",
                           "--show-completion", "bash"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "_VALHALLA_COMPLETE=complete_bash" in proc.stdout
    assert "complete -o default -F _valhalla_completion valhalla" in proc.stdout
    assert "Traceback" not in proc.stderr
    stdout, heavy = _modules_after(["--show-completion", "bash"], in_a_shell=True)
    assert "_VALHALLA_COMPLETE" in stdout and heavy == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_really_completes_with_the_generated_script(tmp_path):
    """Source the script in bash and press Tab (call the completion function) twice."""
    import os
    from pathlib import Path

    # `valhalla` on PATH, as the installed console script would be.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    launcher = bindir / "valhalla"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m valhalla_cli "$@"\n')
    launcher.chmod(0o755)
    script = (
        "source <(valhalla --show-completion bash)\n"
        "COMP_WORDS=(valhalla lad); COMP_CWORD=1; _valhalla_completion valhalla\n"
        'echo "1:${COMPREPLY[*]}"\n'
        "COMP_WORDS=(valhalla ladder dis); COMP_CWORD=2; _valhalla_completion valhalla\n"
        'echo "2:${COMPREPLY[*]}"\n'
    )
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(Path(REPO))}
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["1:ladder", "2:dispatch"], proc.stdout


def test_internal_error_message_shows_no_sql(monkeypatch, capsys):
    """A bug surfaces as one line, exit 5, without the statement or its parameters."""
    from sqlalchemy.exc import IntegrityError

    from valhalla_cli.app import run_guarded

    def broken():
        raise IntegrityError("INSERT INTO secret_table VALUES (?)", ("s3cret",),
                             Exception("constraint failed"))

    assert run_guarded(broken) == 5
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "s3cret" not in err and "INSERT" not in err and "VALHALLA_DEBUG=1" in err
