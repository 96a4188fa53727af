"""One router per pack. Each endpoint parses, calls the service its CLI command calls, and
answers what that command prints with `--format json`."""

from __future__ import annotations

from importlib import import_module

from valhalla_cli.api.routing import PackRouter

# In the order of `valhalla --help`: operations packs, the control plane, housekeeping.
PACK_MODULES = ("market", "ladder", "liquidity", "offer", "golive", "risk", "heimdall",
                "regression", "kpi", "runbook", "audit", "status")


def all_routers() -> list[PackRouter]:
    return [import_module(f"valhalla_cli.api.routers.{name}").router for name in PACK_MODULES]
