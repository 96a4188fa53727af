"""The Monday review: `GET /api/governance/status`, mirroring `valhalla status`."""

from typing import Annotated

from fastapi import Query

from valhalla_cli.api.routers._params import AtOnly
from valhalla_cli.api.routing import Answer, Call, PackRouter

router = PackRouter("status", "/api/governance")


@router.get("/status", cli="valhalla status",
            returns="valhalla_cli.services.status:StatusOverview")
def overview(p: Annotated[AtOnly, Query()], call: Call) -> Answer:
    """Go-live, risk today, levers, heimdall, SLA, tasks, runbook (409 when not OK)."""
    from valhalla_cli.services import status

    view = status.overview(call.session, call.settings, call.instant(p.at))
    return Answer(view, refusal=view.refusal)
