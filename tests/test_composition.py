"""How Valhalla is put together, read as a user meets it: every command module is mounted by
`app.py`, every check of `runbook.CHECKS` runs and is named by its key, `valhalla status` has a
typed field per section, `audit --pack` offers only the packs that write audit events, and the
HTTP API mounts every router module."""

from __future__ import annotations

import dataclasses
import re
import typing
from datetime import UTC, datetime

import pytest
from conftest import REPO, cli_root

AT = datetime(2027, 1, 15, 15, 0, tzinfo=UTC)
COMMANDS = REPO / "valhalla_cli" / "commands"
# Command modules that add their commands to a parent group's sub-app (the parent's name, the
# command they add) instead of being mounted at the top.
SUBCOMMAND_MODULES = {"ladder_breaches": ("ladder", "breaches"),
                      "offer_outcome": ("offer", "outcome")}


def _command_modules() -> list[str]:
    return sorted(p.stem for p in COMMANDS.glob("*.py") if not p.stem.startswith("_"))


def test_every_command_module_is_mounted_and_answers_help(cli_nodb):
    from valhalla_cli.app import MOUNTED

    root = cli_root()
    mounted = {name for name, _ in MOUNTED}
    assert len(mounted) == len(MOUNTED)  # no name mounted twice
    for module in _command_modules():
        if module in SUBCOMMAND_MODULES:
            parent, command = SUBCOMMAND_MODULES[module]
            assert command in root.commands[parent].commands, module
            path = (parent, command)
        else:
            assert module in mounted, f"commands/{module}.py is not mounted by app.py"
            path = (module,)
        helped = cli_nodb(*path, "--help", db=False)
        assert helped.exit_code == 0 and "Usage:" in helped.stdout, module
    # every mounted name is a command of `valhalla` (and `init` is config's second command)
    assert mounted <= set(root.commands)
    assert root.commands["followups"].hidden and \
        set(root.commands["followups"].commands) == set(root.commands["ladder"].commands)


def test_every_check_in_the_table_runs_and_is_reported_under_its_key(cli, db):
    from valhalla_cli.services.runbook import CHECKS, run_checks
    from valhalla_cli.settings import resolve_settings

    settings = resolve_settings(db=db.engine.url.render_as_string(hide_password=False))
    with db.transaction() as session:
        report = run_checks(session, settings, at=AT)
    assert [c.name for c in report.checks] == list(CHECKS)
    broken = [c for c in report.checks if c.detail.startswith("check could not be evaluated")]
    assert broken == []
    assert {c.status for c in report.checks} <= {"ok", "warn", "fail"}

    book = cli("runbook", "status", "--at", "2027-01-15T10:00", "--json")
    assert [c["name"] for c in book.json["checks"]] == list(CHECKS)
    assert list(book.json["checks"][0]) == ["name", "status", "detail", "fix"]


def test_a_check_that_breaks_fails_closed_under_its_own_name(db, monkeypatch):
    from valhalla_cli.services import runbook
    from valhalla_cli.settings import resolve_settings

    def broken(session, settings, at):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(runbook.CHECKS, "risk", broken)
    settings = resolve_settings(db=db.engine.url.render_as_string(hide_password=False))
    with db.transaction() as session:
        report = runbook.run_checks(session, settings, at=AT)
    risk = next(c for c in report.checks if c.name == "risk")
    assert risk.status == "fail" and "disk on fire" in risk.detail
    assert "risk" in report.failing and not report.ok_to_enable_go_live


def test_the_status_overview_has_a_typed_field_per_section(cli):
    from valhalla_cli.services.status import StatusOverview

    hints = typing.get_type_hints(StatusOverview)
    assert all(hint is not typing.Any for hint in hints.values()), hints
    shown = cli("status", "--at", "2027-01-15T10:00", "--json").json
    assert list(shown) == [f.name for f in dataclasses.fields(StatusOverview)]
    for section in ("delivery", "worklists", "inbox", "dncl", "kpi", "scorecard", "runbook"):
        assert isinstance(shown[section], dict), section
    assert [lv["lever"] for lv in shown["levers"]] == ["followups", "offers"]


def _packs_that_audit() -> set[str]:
    """The `Pack` members the services pass to the audit log (read from the source)."""
    used = set()
    for path in (REPO / "valhalla_cli" / "services").rglob("*.py"):
        used.update(m.lower() for m in re.findall(r"\bPack\.([A-Z]+)\b", path.read_text()))
    return used


def test_audit_pack_offers_exactly_the_packs_that_write_audit_events(cli):
    from valhalla_cli.services.audit import Pack

    assert {p.value for p in Pack} == _packs_that_audit()
    for pack in Pack:
        assert cli("audit", "--pack", pack.value, "--json").json == []
    for never_audited in ("kpi", "liquidity", "runbook", "status", "nope"):
        refused = cli("audit", "--pack", never_audited)
        assert refused.exit_code == 2, never_audited
        assert "--pack must be one of lead, market," in refused.stderr
        assert "kpi" not in refused.stderr.split("not ")[0]


def test_audit_pack_completes_only_the_audited_packs(cli_nodb):
    from valhalla_cli.services.audit import Pack

    root = cli_root()
    option = next(p for p in root.commands["audit"].params if p.name == "pack")
    completed = [c.value for c in option.shell_complete(None, "")]
    assert completed == [p.value for p in Pack]
    assert "kpi" not in completed and "liquidity" not in completed


@pytest.mark.parametrize("lever", ["followups", "offers"])
def test_each_lever_is_one_the_tripwire_can_release(cli, lever):
    released = cli("regression", "release", lever, "--reason", "check", "--json")
    assert released.exit_code == 0, released.stderr
    refused = cli("regression", "release", "sales", "--reason", "check")
    assert refused.exit_code == 2 and "followups, offers" in refused.stderr


def test_the_api_mounts_every_router_module():
    pytest.importorskip("fastapi")
    import importlib

    from valhalla_cli.api.app import pack_routers

    mounted = [id(r) for r in pack_routers()]
    assert len(set(mounted)) == len(mounted)
    for path in (REPO / "valhalla_cli" / "api" / "routers").glob("*.py"):
        if not path.stem.startswith("_"):
            module = importlib.import_module(f"valhalla_cli.api.routers.{path.stem}")
            assert id(module.router) in mounted, f"api/routers/{path.stem}.py is not mounted"
