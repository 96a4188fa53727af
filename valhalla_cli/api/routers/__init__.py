"""The HTTP API's routers, one per pack (`routers/<pack>.py`), in the order `/docs` lists them.
Each endpoint parses, calls the service its CLI command calls, and answers what that command
prints with `--format json`. A new pack's router is added to `ROUTERS`."""

from valhalla_cli.api.routers import (
    audit,
    desk,
    dncl,
    golive,
    heimdall,
    inbox,
    kpi,
    ladder,
    lead,
    liquidity,
    market,
    offer,
    regression,
    risk,
    runbook,
    status,
    template,
)
from valhalla_cli.api.routing import PackRouter

ROUTERS: tuple[PackRouter, ...] = (
    lead.router,
    market.router,
    dncl.router,
    template.router,
    ladder.router,
    inbox.router,
    desk.router,
    liquidity.router,
    offer.router,
    golive.router,
    risk.router,
    heimdall.router,
    regression.router,
    kpi.router,
    runbook.router,
    status.router,
    audit.router,
)
