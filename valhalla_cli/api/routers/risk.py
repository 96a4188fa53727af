"""Risk guard: `/api/governance/risk/*`, mirroring `valhalla risk`."""

from valhalla_cli.api.routers._params import AT, ENABLED, OPTIONAL_REASON
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("risk", "/api/governance/risk")

ENGINE = Param("engine", required=True, help="Engine, e.g. acquisitions.")
RESERVATION_ID = Param("reservation_id", "int", help="The reservation's id (or give ref).")
REF = Param("ref", help="The reservation's idempotency key.")
DAY = Param("day", help="Business day YYYY-MM-DD (default: today).")


@router.post("/reserve", cli="valhalla risk reserve", scope="operate", params=(
    ENGINE,
    Param("amount", required=True, help="Amount in CAD, greater than zero, e.g. 2500.00."),
    Param("ref", required=True, help="Idempotency key: the same ref reserves once."),
    AT))
def reserve(call: Call) -> Answer:
    """Reserve against an engine's and GLOBAL's cap (409 when denied)."""
    from valhalla_cli.services import risk

    cfg = call.settings
    outcome = risk.reserve(call.session, engine=call["engine"], amount=call["amount"],
                           ref=call["ref"], at=call.instant(), actor=cfg.actor,
                           business_timezone=cfg.business_timezone, enforce=cfg.golive_enforce)
    return Answer(outcome.result, refusal=outcome.refusal)


def _close(call: Call, action: str) -> Answer:
    from valhalla_cli.services import risk

    extra = {"pnl": call["pnl"]} if action == "settle" else {}
    outcome = getattr(risk, action)(
        call.session, reservation_id=call["reservation_id"], ref=call["ref"],
        at=call.instant(), actor=call.actor,
        business_timezone=call.settings.business_timezone, **extra)
    return Answer(outcome.result, refusal=outcome.refusal)


@router.post("/settle", cli="valhalla risk settle", scope="operate", params=(
    RESERVATION_ID, REF,
    Param("pnl", help="Profit (positive) or loss (negative) in CAD."), AT))
def settle(call: Call) -> Answer:
    """Close a reservation with its profit or loss."""
    return _close(call, "settle")


@router.post("/release", cli="valhalla risk release", scope="admin",
             params=(RESERVATION_ID, REF, AT))
def release(call: Call) -> Answer:
    """Cancel an open reservation with no P&L."""
    return _close(call, "release")


def _day(call: Call):
    from valhalla_cli.inputs import parse_business_day

    return parse_business_day(call["day"], call["at"], call.settings.business_timezone)


@router.get("/snapshot", cli="valhalla risk snapshot", params=(DAY, AT),
            returns="valhalla_cli.services.risk.reports:Snapshot")
def snapshot(call: Call) -> Answer:
    """Exposure, headroom and breaches of a day, per engine."""
    from valhalla_cli.services import risk

    return Answer(risk.snapshot(call.session, day=_day(call)))


@router.get("/policies", cli="valhalla risk policies")
def policies(call: Call) -> Answer:
    """The daily caps, GLOBAL first."""
    from valhalla_cli.services import risk

    return Answer(risk.policies(call.session))


@router.post("/policies/upsert", cli="valhalla risk policy-set", scope="admin", params=(
    Param("engine", required=True, help="Engine name (a new name creates the engine)."),
    Param("daily_cap", help="Daily cap in CAD (required for a new engine)."),
    ENABLED, OPTIONAL_REASON, AT))
def policy_set(call: Call) -> Answer:
    """Set or create an engine's cap (audited)."""
    from valhalla_cli.services import risk

    return Answer(risk.policy_set(call.session, engine=call["engine"],
                                  daily_cap=call["daily_cap"], enabled=call["enabled"],
                                  reason=call["reason"], at=call.instant(), actor=call.actor,
                                  business_timezone=call.settings.business_timezone))


@router.get("/events", cli="valhalla risk events", params=(
    DAY, Param("engine", help="Only this engine."), AT))
def events(call: Call) -> Answer:
    """The money journal of a day, oldest first."""
    from valhalla_cli.services import risk

    return Answer(risk.events(call.session, day=_day(call), engine=call["engine"]))
