"""The audit log: `GET /api/governance/audit`, mirroring `valhalla audit`."""

from valhalla_cli.api.routers._params import limit
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("audit", "/api/governance")


@router.get("/audit", cli="valhalla audit", params=(
    Param("since", help="Only events at or after this instant (ISO 8601)."),
    Param("pack", help="Only this pack's events."), limit(100)))
def audit_log(call: Call) -> Answer:
    """The audit log, newest first: who changed what, when and why."""
    from valhalla_cli.services import audit

    pack = audit.parse_pack(call["pack"], option="pack")
    since = call.instant("since") if call["since"] else None
    return Answer(audit.list_events(call.session, since=since, pack=pack, limit=call["limit"]))
