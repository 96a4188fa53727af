"""KPI events: `/api/governance/kpi/*`, mirroring `valhalla kpi`."""

from typing import Annotated

from fastapi import Query
from pydantic import Field

from valhalla_cli.api.routers._params import At, Limit
from valhalla_cli.api.routing import Answer, Call, Int, Number, PackRouter, Params, Text

router = PackRouter("kpi", "/api/governance/kpi")


class Emit(Params):
    metric: Annotated[Text, Field(description="snake_case metric name, e.g. ladder_created.")]
    value: Annotated[Number, Field(description="The observed value.")] = 1.0
    province: Annotated[Text | None, Field(description="Province code.")] = None
    market: Annotated[Text | None, Field(description="Market name.")] = None
    ref: Annotated[Text | None, Field(description="What it refers to.")] = None
    source: Annotated[Text, Field(description="Who emitted it.")] = "api"
    at: At = None


@router.post("/emit", cli="valhalla kpi emit", scope="operate")
def emit(p: Emit, call: Call) -> Answer:
    """Record one KPI event."""
    from valhalla_cli.services import kpi

    return Answer(kpi.emit(call.session, metric=p.metric, value=p.value, province=p.province,
                           market=p.market, ref=p.ref, source=p.source, at=call.instant(p.at)))


class EventsQuery(Params):
    metric: Annotated[Text | None, Field(description="Only this metric.")] = None
    since: Annotated[Text | None, Field(description="At or after this instant.")] = None
    until: Annotated[Text | None, Field(description="At or before this instant.")] = None
    limit: Limit = 100


@router.get("/events", cli="valhalla kpi list")
def events(p: Annotated[EventsQuery, Query()], call: Call) -> Answer:
    """KPI events, newest first."""
    from valhalla_cli.services import kpi

    since = call.instant(p.since, "since") if p.since else None
    until = call.instant(p.until, "until") if p.until else None
    return Answer(kpi.list_events(call.session, metric=p.metric, since=since, until=until,
                                  limit=p.limit))


class SummaryQuery(Params):
    days: Annotated[Int, Field(description="How many business days, ending today.")] = 7
    at: At = None


@router.get("/summary", cli="valhalla kpi summary")
def summary(p: Annotated[SummaryQuery, Query()], call: Call) -> Answer:
    """Counts and means per metric per business day."""
    from valhalla_cli.services import kpi

    return Answer(kpi.summary(call.session, at=call.instant(p.at), days=p.days,
                              business_timezone=call.settings.business_timezone))
