"""Regression tripwire: `/api/governance/regression/*`, mirroring `valhalla regression`."""

from typing import Annotated

from fastapi import Query
from pydantic import Field

from valhalla_cli.api.routers._params import At, DryRun, Enabled, Nothing, OptionalReason, Reason
from valhalla_cli.api.routing import Answer, Call, Int, Number, PackRouter, Params, Text
from valhalla_cli.vocabulary import LEVERS, words

router = PackRouter("regression", "/api/governance/regression")

Lever = Annotated[Text, Field(description=f"{words(LEVERS)}.")]


class Evaluate(Params):
    at: At = None
    dry_run: DryRun = False


@router.post("/evaluate", cli="valhalla regression evaluate", scope="operate")
def evaluate(p: Evaluate, call: Call) -> Answer:
    """Evaluate every enabled policy; 409 while any lever is throttled."""
    from valhalla_cli.services import regression

    run = regression.evaluate(call.session, at=call.instant(p.at), actor=call.actor,
                              dry_run=p.dry_run)
    return Answer(run.results, refusal=run.refusal)


@router.get("/state", cli="valhalla regression state")
def state(p: Annotated[Nothing, Query()], call: Call) -> Answer:
    """The levers: throttled or not, since when, which metric, its figures and why."""
    from valhalla_cli.services import regression

    return Answer(regression.state(call.session))


class Release(Params):
    lever: Lever
    reason: Reason
    at: At = None


@router.post("/release", cli="valhalla regression release", scope="admin")
def release(p: Release, call: Call) -> Answer:
    """Clear a lever's throttle (a human decision, audited)."""
    from valhalla_cli.services import regression

    return Answer(regression.release(call.session, lever=p.lever, reason=p.reason,
                                     actor=call.actor, at=call.instant(p.at)))


@router.get("/policies", cli="valhalla regression policies")
def policies(p: Annotated[Nothing, Query()], call: Call) -> Answer:
    """The regression policies (one per metric)."""
    from valhalla_cli.services import regression

    return Answer(regression.list_policies(call.session))


class PolicySet(Params):
    metric: Annotated[Text, Field(description="The KPI metric, e.g. followup_completed.")]
    lever: Annotated[Text | None, Field(description=f"{words(LEVERS)}.")] = None
    statistic: Annotated[Text | None, Field(description="mean (of the values) or rate (events "
                                            "per hour).")] = None
    recent: Annotated[Int | None, Field(description="Events in the recent window.")] = None
    baseline: Annotated[Int | None, Field(description="Events in the baseline window.")] = None
    max_drop_pct: Annotated[Number | None, Field(description="Throttle at this drop, in "
                                                 "percent.")] = None
    confidence: Annotated[Number | None, Field(description="One-sided significance level; 0 "
                                               "turns the test off.")] = None
    enabled: Enabled = None
    reason: OptionalReason = None
    at: At = None


@router.post("/policies/upsert", cli="valhalla regression policy-set", scope="admin")
def policy_set(p: PolicySet, call: Call) -> Answer:
    """Change (or create) a metric's regression policy. Audited."""
    from valhalla_cli.services import regression

    result = regression.set_policy(
        call.session, metric=p.metric, actor=call.actor, at=call.instant(p.at), lever=p.lever,
        statistic=p.statistic, recent_window=p.recent, baseline_window=p.baseline,
        max_drop_pct=p.max_drop_pct, confidence=p.confidence, enabled=p.enabled,
        reason=p.reason)
    return Answer(result.policy)
