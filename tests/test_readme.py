"""Every `valhalla` command the README shows runs, in order, with the exit code it claims.

One test per command line, all against one home (config and database) in README order, so a
failing line is reported by itself and the lines after it still run.
"""

import re
import shlex

import pytest
from conftest import REPO, Cli

README = (REPO / "README.md").read_text()
BLOCK = re.compile(r"```(console|crontab)\n(.*?)```", re.S)


def readme_commands() -> list[tuple[str, list[str], set[int]]]:
    """(kind, argv after 'valhalla', allowed exit codes) for each command in the README."""
    commands = []
    for kind, body in BLOCK.findall(README):
        for line in body.splitlines():
            if kind == "console":
                if not line.startswith("$ valhalla "):
                    continue
                text = line[len("$ valhalla "):]
            else:
                if line.startswith("#") or " valhalla " not in line:
                    continue
                text = line.split(" valhalla ", 1)[1]
                text = re.split(r"\s(?:\||>>|2>)", text)[0]
            text, _, comment = text.partition("  # ")
            expected = {1} if comment.strip() == "exit 1" else {0}
            if kind == "crontab":
                expected = {0, 1}  # cron mails on 1: either answer is a correct run
            commands.append((kind, shlex.split(text), expected))
    return commands


def test_readme_shows_commands():
    kinds = [kind for kind, _, _ in readme_commands()]
    assert kinds.count("console") >= 30
    assert kinds.count("crontab") >= 2


@pytest.fixture(scope="module")
def readme_home(tmp_path_factory: pytest.TempPathFactory):
    """One home for the whole walk: the tour builds on what the lines before it did."""
    return tmp_path_factory.mktemp("readme-home")


@pytest.fixture
def tour_cli(readme_home, monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(readme_home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(readme_home / "data"))
    return Cli(None)


COMMANDS = readme_commands()


@pytest.mark.parametrize(
    "kind,argv,expected", COMMANDS,
    ids=[f"{i:02d} {' '.join(argv)[:60]}" for i, (_, argv, _) in enumerate(COMMANDS)])
def test_readme_command_runs_as_documented(tour_cli: Cli, kind, argv, expected):
    if kind == "crontab":
        argv = [a for a in argv if a not in ("-q", "--quiet")]
    result = tour_cli(*argv)
    assert result.exit_code in expected, (argv, result.exit_code, result.stderr)
