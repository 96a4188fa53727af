"""Risk guard: `/api/governance/risk/*`, mirroring `valhalla risk`."""

from typing import Annotated

from fastapi import Query
from pydantic import Field

from valhalla_cli.api.routers._params import At, Enabled, Nothing, OptionalReason
from valhalla_cli.api.routing import Answer, Call, Int, PackRouter, Params, Text

router = PackRouter("risk", "/api/governance/risk")

ReservationId = Annotated[Int | None, Field(description="The reservation's id (or give ref).")]
Ref = Annotated[Text | None, Field(description="The reservation's idempotency key.")]
Day = Annotated[Text | None, Field(description="Business day YYYY-MM-DD (default: today).")]


class Reserve(Params):
    engine: Annotated[Text, Field(description="Engine, e.g. acquisitions.")]
    amount: Annotated[Text, Field(description="Amount in CAD, greater than zero, e.g. 2500.00.")]
    ref: Annotated[Text, Field(description="Idempotency key: the same ref reserves once.")]
    at: At = None


@router.post("/reserve", cli="valhalla risk reserve", scope="operate")
def reserve(p: Reserve, call: Call) -> Answer:
    """Reserve against an engine's and GLOBAL's cap (409 when denied)."""
    from valhalla_cli.services import risk

    cfg = call.settings
    outcome = risk.reserve(call.session, engine=p.engine, amount=p.amount, ref=p.ref,
                           at=call.instant(p.at), actor=cfg.actor,
                           business_timezone=cfg.business_timezone, enforce=cfg.golive_enforce)
    return Answer(outcome.result, refusal=outcome.refusal)


class Settle(Params):
    reservation_id: ReservationId = None
    ref: Ref = None
    pnl: Annotated[Text | None, Field(description="Profit (positive) or loss (negative) in "
                                      "CAD.")] = None
    at: At = None


@router.post("/settle", cli="valhalla risk settle", scope="operate")
def settle(p: Settle, call: Call) -> Answer:
    """Close a reservation with its profit or loss."""
    from valhalla_cli.services import risk

    # A missing pnl is the service's bad input, worded as the CLI's.
    outcome = risk.settle(call.session, reservation_id=p.reservation_id, ref=p.ref,
                          pnl=p.pnl,  # type: ignore[arg-type]
                          at=call.instant(p.at), actor=call.actor,
                          business_timezone=call.settings.business_timezone)
    return Answer(outcome.result, refusal=outcome.refusal)


class Release(Params):
    reservation_id: ReservationId = None
    ref: Ref = None
    at: At = None


@router.post("/release", cli="valhalla risk release", scope="admin")
def release(p: Release, call: Call) -> Answer:
    """Cancel an open reservation with no P&L."""
    from valhalla_cli.services import risk

    outcome = risk.release(call.session, reservation_id=p.reservation_id, ref=p.ref,
                           at=call.instant(p.at), actor=call.actor,
                           business_timezone=call.settings.business_timezone)
    return Answer(outcome.result, refusal=outcome.refusal)


def _day(call: Call, day: str | None, at: str | None):
    from valhalla_cli.inputs import parse_business_day

    return parse_business_day(day, at, call.settings.business_timezone)


class SnapshotQuery(Params):
    day: Day = None
    at: At = None


@router.get("/snapshot", cli="valhalla risk snapshot",
            returns="valhalla_cli.services.risk.reports:Snapshot")
def snapshot(p: Annotated[SnapshotQuery, Query()], call: Call) -> Answer:
    """Exposure, headroom and breaches of a day, per engine."""
    from valhalla_cli.services import risk

    return Answer(risk.snapshot(call.session, day=_day(call, p.day, p.at)))


@router.get("/policies", cli="valhalla risk policies")
def policies(p: Annotated[Nothing, Query()], call: Call) -> Answer:
    """The daily caps, GLOBAL first."""
    from valhalla_cli.services import risk

    return Answer(risk.policies(call.session))


class PolicySet(Params):
    engine: Annotated[Text, Field(description="Engine name (a new name creates the engine).")]
    daily_cap: Annotated[Text | None, Field(description="Daily cap in CAD (required for a new "
                                            "engine).")] = None
    enabled: Enabled = None
    reason: OptionalReason = None
    at: At = None


@router.post("/policies/upsert", cli="valhalla risk policy-set", scope="admin")
def policy_set(p: PolicySet, call: Call) -> Answer:
    """Set or create an engine's cap (audited)."""
    from valhalla_cli.services import risk

    return Answer(risk.policy_set(call.session, engine=p.engine, daily_cap=p.daily_cap,
                                  enabled=p.enabled, reason=p.reason, at=call.instant(p.at),
                                  actor=call.actor,
                                  business_timezone=call.settings.business_timezone))


class EventsQuery(Params):
    day: Day = None
    engine: Annotated[Text | None, Field(description="Only this engine.")] = None
    at: At = None


@router.get("/events", cli="valhalla risk events")
def events(p: Annotated[EventsQuery, Query()], call: Call) -> Answer:
    """The money journal of a day, oldest first."""
    from valhalla_cli.services import risk

    return Answer(risk.events(call.session, day=_day(call, p.day, p.at), engine=p.engine))
