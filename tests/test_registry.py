"""The pack registry (valhalla_cli/registry.py): one entry per pack, read by the CLI mounting,
the runbook, `audit --pack`, the levers and `valhalla status`."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, datetime

import pytest
import typer

from valhalla_cli import registry

AT = datetime(2027, 1, 15, 15, 0, tzinfo=UTC)


def test_every_pack_has_a_unique_name_and_a_known_kind():
    names = [p.name for p in registry.packs()]
    aliases = [a for p in registry.packs() for a in p.aliases]
    assert len(set(names + aliases)) == len(names) + len(aliases)
    assert {p.kind for p in registry.packs()} <= set(registry.KINDS)
    checks = [c.name for c in registry.runbook_checks()]
    assert len(set(checks)) == len(checks)


def test_every_cli_loader_returns_a_sub_app_or_a_documented_command():
    for pack in registry.packs():
        mounted = pack.cli()
        if not isinstance(mounted, typer.Typer):
            assert callable(mounted) and inspect.getdoc(mounted), pack.name


def test_every_check_and_status_section_is_a_function_that_runs(db):
    """The heavy parts are function objects resolved here, on a real database: a misspelt
    service or function fails this test (and mypy), not a user's runbook."""
    from valhalla_cli.services.runbook import CheckResult
    from valhalla_cli.services.status import StatusOverview
    from valhalla_cli.settings import resolve_settings

    settings = resolve_settings(db=str(db.engine.url.render_as_string(hide_password=False)))
    fields = {f.name for f in dataclasses.fields(StatusOverview)}
    with db.transaction() as session:
        for check in registry.runbook_checks():
            assert list(inspect.signature(check.run).parameters) == ["session", "settings", "at"]
            result = check.run(session, settings, AT)
            assert isinstance(result, CheckResult) and result.name == check.name
        for section in registry.status_sections():
            assert set(section(session, settings, AT)) <= fields, section.__name__


def test_levers_come_from_the_packs_that_obey_them():
    from valhalla_cli.services.levers import known_levers

    assert known_levers() == ("followups", "offers")


# --- a toy pack, added through the registry alone ----------------------------------------------

toy_app = typer.Typer(help="Toy pack: proves a registry entry is all a pack needs.",
                      no_args_is_help=True)


@toy_app.command("ping")
def _ping() -> None:
    """Answer pong.

    \b
    Example:
      valhalla toy ping
    """
    typer.echo("pong")


def _toy_cli() -> typer.Typer:
    return toy_app


def _toy_check(session, settings, at):
    from valhalla_cli.services.runbook import WARN, CheckResult

    return CheckResult("toy", WARN, "the toy pack is only a test", None)


@pytest.fixture
def with_toy_pack(monkeypatch):
    import valhalla_cli.app as app_module

    toy = registry.Pack("toy", registry.OPERATIONS, _toy_cli,
                        check=registry.Check("toy", _toy_check))
    monkeypatch.setattr(registry, "PACKS", (*registry.PACKS, toy))
    monkeypatch.setattr(app_module, "app", app_module.build_app())


def test_a_toy_pack_appears_in_help_runbook_and_audit_with_no_other_edit(cli, with_toy_pack):
    helped = cli("--help", db=False)
    assert helped.exit_code == 0
    assert "toy" in helped.stdout and "Toy pack" in helped.stdout
    assert cli("toy", "ping", db=False).stdout == "pong\n"

    book = cli("runbook", "status", "--json")
    assert book.exit_code == 0, book.stderr
    checks = {c["name"]: c for c in book.json["checks"]}
    assert checks["toy"]["status"] == "warn"
    assert list(checks)[-1] == "toy"  # operations packs after the control plane

    assert cli("audit", "--pack", "toy", "--json").json == []
    refused = cli("audit", "--pack", "nope")
    assert refused.exit_code == 2 and "toy" in refused.stderr


def test_without_the_toy_pack_it_is_unknown(cli):
    assert cli("audit", "--pack", "toy").exit_code == 2
    assert "toy" not in cli("--help", db=False).stdout
