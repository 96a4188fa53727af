"""Regression tripwire: `/api/governance/regression/*`, mirroring `valhalla regression`."""

from valhalla_cli.api.routers._params import AT, DRY_RUN, ENABLED, OPTIONAL_REASON, REASON
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("regression", "/api/governance/regression")


@router.post("/evaluate", cli="valhalla regression evaluate", scope="operate",
             params=(AT, DRY_RUN))
def evaluate(call: Call) -> Answer:
    """Evaluate every enabled policy; 409 while any lever is throttled."""
    from valhalla_cli.services import regression

    run = regression.evaluate(call.session, at=call.instant(), actor=call.actor,
                              dry_run=call["dry_run"])
    return Answer(run.results, refusal=run.refusal)


@router.get("/state", cli="valhalla regression state")
def state(call: Call) -> Answer:
    """The levers: throttled or not, since when, which metric, its figures and why."""
    from valhalla_cli.services import regression

    return Answer(regression.state(call.session))


@router.post("/release", cli="valhalla regression release", scope="admin", params=(
    Param("lever", required=True, help="followups or offers."), REASON, AT))
def release(call: Call) -> Answer:
    """Clear a lever's throttle (a human decision, audited)."""
    from valhalla_cli.services import regression

    return Answer(regression.release(call.session, lever=call["lever"], reason=call["reason"],
                                     actor=call.actor, at=call.instant()))


@router.get("/policies", cli="valhalla regression policies")
def policies(call: Call) -> Answer:
    """The regression policies (one per metric)."""
    from valhalla_cli.services import regression

    return Answer(regression.list_policies(call.session))


@router.post("/policies/upsert", cli="valhalla regression policy-set", scope="admin", params=(
    Param("metric", required=True, help="The KPI metric, e.g. followup_completed."),
    Param("lever", help="followups or offers."),
    Param("statistic", help="mean (of the values) or rate (events per hour)."),
    Param("recent", "int", help="Events in the recent window."),
    Param("baseline", "int", help="Events in the baseline window."),
    Param("max_drop_pct", "float", help="Throttle at this drop, in percent."),
    Param("confidence", "float", help="One-sided significance level; 0 turns the test off."),
    ENABLED, OPTIONAL_REASON, AT))
def policy_set(call: Call) -> Answer:
    """Change (or create) a metric's regression policy. Audited."""
    from valhalla_cli.services import regression

    p = call.params
    result = regression.set_policy(
        call.session, metric=p["metric"], actor=call.actor, at=call.instant(),
        lever=p["lever"], statistic=p["statistic"], recent_window=p["recent"],
        baseline_window=p["baseline"], max_drop_pct=p["max_drop_pct"],
        confidence=p["confidence"], enabled=p["enabled"], reason=p["reason"])
    return Answer(result.policy)
