"""The audit log: `GET /api/governance/audit`, mirroring `valhalla audit`."""

from typing import Annotated

from fastapi import Query
from pydantic import Field

from valhalla_cli.api.routers._params import Limit
from valhalla_cli.api.routing import Answer, Call, PackRouter, Params, Text

router = PackRouter("audit", "/api/governance")


class AuditQuery(Params):
    since: Annotated[Text | None, Field(description="Only events at or after this instant (ISO "
                                        "8601).")] = None
    pack: Annotated[Text | None, Field(description="Only this pack's events.")] = None
    limit: Limit = 100


@router.get("/audit", cli="valhalla audit")
def audit_log(p: Annotated[AuditQuery, Query()], call: Call) -> Answer:
    """The audit log, newest first: who changed what, when and why."""
    from valhalla_cli.services import audit

    pack = audit.parse_pack(p.pack, option="pack")
    since = call.instant(p.since, "since") if p.since else None
    return Answer(audit.list_events(call.session, since=since, pack=pack, limit=p.limit))
