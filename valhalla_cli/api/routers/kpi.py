"""KPI events: `/api/governance/kpi/*`, mirroring `valhalla kpi`."""

from valhalla_cli.api.routers._params import AT, limit
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("kpi", "/api/governance/kpi")


@router.post("/emit", cli="valhalla kpi emit", scope="operate", params=(
    Param("metric", required=True, help="snake_case metric name, e.g. ladder_created."),
    Param("value", "float", default=1.0, help="The observed value."),
    Param("province", help="Province code."), Param("market", help="Market name."),
    Param("ref", help="What it refers to."),
    Param("source", default="api", help="Who emitted it."), AT))
def emit(call: Call) -> Answer:
    """Record one KPI event."""
    from valhalla_cli.services import kpi

    p = call.params
    return Answer(kpi.emit(call.session, metric=p["metric"], value=p["value"],
                           province=p["province"], market=p["market"], ref=p["ref"],
                           source=p["source"], at=call.instant()))


@router.get("/events", cli="valhalla kpi list", params=(
    Param("metric", help="Only this metric."),
    Param("since", help="At or after this instant."),
    Param("until", help="At or before this instant."), limit(100)))
def events(call: Call) -> Answer:
    """KPI events, newest first."""
    from valhalla_cli.services import kpi

    since = call.instant("since") if call["since"] else None
    until = call.instant("until") if call["until"] else None
    return Answer(kpi.list_events(call.session, metric=call["metric"], since=since,
                                  until=until, limit=call["limit"]))


@router.get("/summary", cli="valhalla kpi summary", params=(
    Param("days", "int", default=7, help="How many business days, ending today."), AT))
def summary(call: Call) -> Answer:
    """Counts and means per metric per business day."""
    from valhalla_cli.services import kpi

    return Answer(kpi.summary(call.session, at=call.instant(), days=call["days"],
                              business_timezone=call.settings.business_timezone))
