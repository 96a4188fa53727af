"""The registry of packs: the one list that says which packs exist and what each contributes.

Everything that used to keep its own list of packs reads this one (SPEC 2, "One source for
each fact"):

| reader | what it takes from each `Pack` |
| --- | --- |
| `app.py` (the CLI) | `cli()`: the sub-app (or single command) mounted as `name`, `aliases` |
| `services/runbook.py` | `check`: the runbook check, control-plane packs before operations packs |
| `commands/audit.py` (`--pack`) | `name`, when `audited` |
| `services/levers.py` | `levers`: the levers the regression tripwire may throttle |
| `services/status.py` | `status`: the fields of the Monday overview this pack fills |
| `api/routers/__init__.py` (the HTTP API) | `api()`: the pack's router (`api/routers/<name>.py`) |

The name of a pack is the name of its CLI group, the `pack` of its audit events and (by
convention) of its modules: `commands/<name>.py`, `services/<name>.py` (or a package),
`models/<name>.py`.

Importing this module must stay as cheap as importing Typer: `valhalla --help` and every Tab of
shell completion import it. So the heavy parts are real function objects defined here whose
bodies import the service they call: `check=_market_check` is a plain function, type-checked by
mypy (a misspelt import fails CI, not a run) and resolved by `tests/test_registry.py`, which
calls every check against a fresh database; nothing is imported until it runs.

Adding a pack (e.g. `lead`):

1. write `models/lead.py` (and a migration), `services/lead.py` (rules: functions taking a
   session, returning dataclasses; its runbook check is `runbook_check(session, settings, at)`
   returning a `CheckResult`), and `commands/lead.py` (a Typer sub-app `app` that parses, calls
   one service function and renders);
2. add one entry to `PACKS` below, with two small loaders::

       def _lead_cli() -> Mountable:
           from valhalla_cli.commands import lead
           return lead.app

       def _lead_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
           from valhalla_cli.services import lead
           return lead.runbook_check(session, settings, at)

       Pack("lead", OPERATIONS, _lead_cli, check=Check("leads", _lead_check)),

That is all: the group appears in `valhalla --help`, the check in `valhalla runbook status`
(and so in `golive enable`'s gate and `valhalla status`), and `lead` in `valhalla audit --pack`.
A pack that adds a section to `valhalla status` also adds its field to
`services/status.StatusOverview` and its rendering to `commands/status.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer
    from sqlalchemy.orm import Session

    from valhalla_cli.api.routing import PackRouter
    from valhalla_cli.services.runbook import CheckResult
    from valhalla_cli.settings import Settings

# What a pack is, in the order `valhalla --help` lists them (the runbook checks the control
# plane first: nothing should go live on a broken gate).
OPERATIONS, CONTROL, HOUSEKEEPING = "operations", "control", "housekeeping"
KINDS = (OPERATIONS, CONTROL, HOUSEKEEPING)

Mountable = Any  # a typer.Typer sub-app, or a function registered as a single command
CheckFn = Callable[["Session", "Settings", datetime], "CheckResult"]
SectionFn = Callable[["Session", "Settings", datetime], dict[str, Any]]


@dataclass(frozen=True)
class Check:
    """A runbook check: its name in the report and the function that evaluates it."""

    name: str
    run: CheckFn


@dataclass(frozen=True)
class Pack:
    name: str  # CLI group name = audit pack name
    kind: str  # OPERATIONS, CONTROL or HOUSEKEEPING
    cli: Callable[[], Mountable]  # returns the Typer sub-app or the single command (cheap)
    aliases: tuple[str, ...] = ()  # hidden second names of the same sub-app
    check: Check | None = None
    levers: tuple[str, ...] = ()
    status: SectionFn | None = None
    audited: bool = True  # writes audit events under `name` (offered by `audit --pack`)
    api: Callable[[], PackRouter] | None = None  # its HTTP router (needs the [api] extra)
    more_checks: tuple[Check, ...] = ()  # a pack with more than one runbook check


# --- CLI loaders (command modules import only Typer) -------------------------------------------

def _lead_cli() -> typer.Typer:
    from valhalla_cli.commands import lead
    return lead.app


def _dncl_cli() -> typer.Typer:
    from valhalla_cli.commands import dncl
    return dncl.app


def _template_cli() -> typer.Typer:
    from valhalla_cli.commands import template
    return template.app


def _market_cli() -> typer.Typer:
    from valhalla_cli.commands import market
    return market.app


def _inbox_cli() -> typer.Typer:
    from valhalla_cli.commands import inbox
    return inbox.app


def _inbox_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services import inbox
    return inbox.runbook_check(session, settings, at)


def _inbox_status(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    from valhalla_cli.services import inbox
    return inbox.status_section(session, settings, at)


def _desk_cli() -> Callable[..., None]:
    from valhalla_cli.commands import desk
    return desk.desk_command


def _send_cli() -> typer.Typer:
    from valhalla_cli.commands import send
    return send.app


def _ladder_cli() -> typer.Typer:
    from valhalla_cli.commands import ladder
    return ladder.app


def _liquidity_cli() -> typer.Typer:
    from valhalla_cli.commands import liquidity
    return liquidity.app


def _offer_cli() -> typer.Typer:
    from valhalla_cli.commands import offer
    return offer.app


def _golive_cli() -> typer.Typer:
    from valhalla_cli.commands import golive
    return golive.app


def _risk_cli() -> typer.Typer:
    from valhalla_cli.commands import risk
    return risk.app


def _heimdall_cli() -> typer.Typer:
    from valhalla_cli.commands import heimdall
    return heimdall.app


def _regression_cli() -> typer.Typer:
    from valhalla_cli.commands import regression
    return regression.app


def _kpi_cli() -> typer.Typer:
    from valhalla_cli.commands import kpi
    return kpi.app


def _runbook_cli() -> typer.Typer:
    from valhalla_cli.commands import runbook
    return runbook.app


def _status_cli() -> Callable[..., None]:
    from valhalla_cli.commands import status
    return status.status_command


def _scorecard_cli() -> Callable[..., None]:
    from valhalla_cli.commands import scorecard
    return scorecard.scorecard_command


def _audit_cli() -> Callable[..., None]:
    from valhalla_cli.commands import audit
    return audit.audit_command


def _api_cli() -> typer.Typer:
    from valhalla_cli.commands import api
    return api.app


def _serve_cli() -> Callable[..., None]:
    from valhalla_cli.commands import serve
    return serve.serve_command


def _config_cli() -> typer.Typer:
    from valhalla_cli.commands import config
    return config.app


def _db_cli() -> typer.Typer:
    from valhalla_cli.commands import db
    return db.app


def _init_cli() -> Callable[..., None]:
    from valhalla_cli.commands import config
    return config.init_command


# --- runbook checks (each imports its service when it runs) ------------------------------------

def _db_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services import db
    return db.runbook_check(session, settings, at)


def _golive_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services import golive
    return golive.runbook_check(session, settings, at)


def _risk_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services import risk
    return risk.runbook_check(session, settings, at)


def _heimdall_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services import heimdall
    return heimdall.runbook_check(session, settings, at)


def _regression_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services import regression
    return regression.runbook_check(session, settings, at)


def _market_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services import market
    return market.runbook_check(session, settings, at)


def _ladder_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services import ladder
    return ladder.runbook_check(session, settings, at)


def _dncl_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services import dncl
    return dncl.runbook_check(session, settings, at)


def _delivery_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services.sending import report
    result: CheckResult = report.delivery_check(session, settings, at)
    return result


def _sender_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services.sending import report
    result: CheckResult = report.sender_check(session, settings, at)
    return result


def _template_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services import template
    return template.runbook_check(session, settings, at)


def _offer_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    from valhalla_cli.services import offer
    return offer.runbook_check(session, settings, at)


# --- status sections ---------------------------------------------------------------------------

def _golive_status(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    from valhalla_cli.services import status
    return status.golive_section(session, settings, at)


def _risk_status(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    from valhalla_cli.services import status
    return status.risk_section(session, settings, at)


def _regression_status(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    from valhalla_cli.services import status
    return status.levers_section(session, settings, at)


def _heimdall_status(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    from valhalla_cli.services import status
    return status.heimdall_section(session, settings, at)


def _ladder_status(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    from valhalla_cli.services import status
    return status.ladder_section(session, settings, at)


def _send_status(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    from valhalla_cli.services import status
    return status.delivery_section(session, settings, at)


def _dncl_status(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    from valhalla_cli.services import status
    return status.dncl_section(session, settings, at)


def _kpi_status(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    from valhalla_cli.services import status
    return status.kpi_section(session, settings, at)


def _scorecard_status(session: Session, settings: Settings, at: datetime) -> dict[str, Any]:
    from valhalla_cli.services import status
    return status.scorecard_section(session, settings, at)


# --- HTTP routers (imported only by `valhalla serve`, which needs the [api] extra) ------------

def _router(name: str) -> Callable[[], PackRouter]:
    def load() -> PackRouter:
        from importlib import import_module

        return import_module(f"valhalla_cli.api.routers.{name}").router
    load.__name__ = f"_{name}_api"
    return load


# --- the packs, in the order of `valhalla --help` ----------------------------------------------

PACKS: tuple[Pack, ...] = (
    Pack("lead", OPERATIONS, _lead_cli, api=_router("lead")),
    Pack("market", OPERATIONS, _market_cli, check=Check("market", _market_check),
         api=_router("market")),
    Pack("dncl", OPERATIONS, _dncl_cli, check=Check("dncl", _dncl_check), status=_dncl_status,
         api=_router("dncl")),
    Pack("template", OPERATIONS, _template_cli, check=Check("messages", _template_check),
         api=_router("template")),
    Pack("ladder", OPERATIONS, _ladder_cli, aliases=("followups",),
         check=Check("followups", _ladder_check), levers=("followups",),
         status=_ladder_status, api=_router("ladder")),
    Pack("send", OPERATIONS, _send_cli, check=Check("delivery", _delivery_check),
         more_checks=(Check("sender", _sender_check),), status=_send_status),
    Pack("inbox", OPERATIONS, _inbox_cli, check=Check("inbox", _inbox_check),
         status=_inbox_status, api=_router("inbox")),
    Pack("desk", OPERATIONS, _desk_cli, audited=False, api=_router("desk")),
    Pack("liquidity", OPERATIONS, _liquidity_cli, api=_router("liquidity")),
    Pack("offer", OPERATIONS, _offer_cli, check=Check("offers", _offer_check),
         levers=("offers",), api=_router("offer")),
    Pack("golive", CONTROL, _golive_cli, check=Check("golive", _golive_check),
         status=_golive_status, api=_router("golive")),
    Pack("risk", CONTROL, _risk_cli, check=Check("risk", _risk_check), status=_risk_status,
         api=_router("risk")),
    Pack("heimdall", CONTROL, _heimdall_cli, check=Check("heimdall", _heimdall_check),
         status=_heimdall_status, api=_router("heimdall")),
    Pack("regression", CONTROL, _regression_cli, check=Check("regression", _regression_check),
         status=_regression_status, api=_router("regression")),
    Pack("kpi", CONTROL, _kpi_cli, status=_kpi_status, api=_router("kpi")),
    Pack("runbook", CONTROL, _runbook_cli, audited=False, api=_router("runbook")),
    Pack("status", HOUSEKEEPING, _status_cli, audited=False, api=_router("status")),
    Pack("scorecard", HOUSEKEEPING, _scorecard_cli, status=_scorecard_status, audited=False),
    Pack("audit", HOUSEKEEPING, _audit_cli, audited=False, api=_router("audit")),
    Pack("api", HOUSEKEEPING, _api_cli),
    Pack("serve", HOUSEKEEPING, _serve_cli, audited=False),
    Pack("config", HOUSEKEEPING, _config_cli, audited=False),
    Pack("db", HOUSEKEEPING, _db_cli, check=Check("backup", _db_check)),
    Pack("init", HOUSEKEEPING, _init_cli, audited=False),
)


def packs() -> tuple[Pack, ...]:
    """Every pack, in `--help` order (read at call time, so a test may add one)."""
    return PACKS


def audited_packs() -> tuple[str, ...]:
    """The `pack` names the audit log holds (what `audit --pack` accepts)."""
    return tuple(p.name for p in packs() if p.audited)


def api_routers() -> tuple[PackRouter, ...]:
    """The HTTP routers of the packs that have one, in `--help` order (imports FastAPI)."""
    return tuple(p.api() for p in packs() if p.api is not None)


def runbook_checks() -> tuple[Check, ...]:
    """The packs' runbook checks: the control plane first, then the operations packs."""
    ordered = sorted(packs(), key=lambda p: (0 if p.kind == CONTROL else 1))
    return tuple(check for p in ordered
                 for check in ((p.check,) if p.check is not None else ()) + p.more_checks)


def levers() -> tuple[str, ...]:
    """The levers the regression tripwire can throttle, each obeyed by its pack."""
    return tuple(lever for p in packs() for lever in p.levers)


def status_sections() -> tuple[SectionFn, ...]:
    """The overview sections of `valhalla status`, control plane first (as it is read)."""
    ordered = sorted(packs(), key=lambda p: (0 if p.kind == CONTROL else 1))
    return tuple(p.status for p in ordered if p.status is not None)
