"""Every `valhalla` command the README shows runs, in order, with the exit code it claims."""

import re
import shlex

from conftest import REPO, Cli

README = (REPO / "README.md").read_text()
BLOCK = re.compile(r"```(console|crontab)\n(.*?)```", re.S)


def readme_commands() -> list[tuple[str, list[str], set[int]]]:
    """(kind, argv after 'valhalla', allowed exit codes) for each command in the README; an
    `$ export VALHALLA_BUSINESS_...=VALUE` line is ("export", [NAME, VALUE], set())."""
    commands = []
    for kind, body in BLOCK.findall(README):
        for line in body.splitlines():
            if kind == "console" and line.startswith("$ export VALHALLA_BUSINESS_"):
                # the tour's business identity (other exports, such as a team's database
                # URL in the set-up notes, describe another machine)
                name, _, value = shlex.split(line[len("$ export "):])[0].partition("=")
                commands.append(("export", [name, value], set()))
                continue
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


def test_every_readme_command_runs_as_documented(cli_nodb: Cli, monkeypatch):
    for kind, argv, expected in readme_commands():
        if kind == "export":  # the tour's shell environment, as a user's shell would keep it
            monkeypatch.setenv(*argv)
            continue
        if kind == "crontab":
            argv = [a for a in argv if a not in ("-q", "--quiet")]
        result = cli_nodb(*argv)
        assert result.exit_code in expected, (argv, result.exit_code, result.stderr)
