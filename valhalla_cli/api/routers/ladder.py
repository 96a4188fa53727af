"""The follow-up ladder: `/api/followups/*`, mirroring `valhalla ladder` (alias `followups`)."""

from typing import Annotated

from fastapi import Query
from pydantic import Field

from valhalla_cli.api.routers._params import (
    At,
    DryRun,
    LeadPath,
    Limit,
    Note,
    Nothing,
    TaskPath,
)
from valhalla_cli.api.routing import Answer, Call, Int, PackRouter, Params, Text
from valhalla_cli.vocabulary import (
    CONSENT_KINDS,
    CONTACT_CHANNELS,
    LADDER_CONTINUE_OUTCOMES,
    LADDER_GROUPS,
    LADDER_OPT_OUT,
    LADDER_STOP_OUTCOMES,
    LANGUAGES,
    words,
)

router = PackRouter("ladder", "/api/followups")


def _config(call: Call):
    from valhalla_cli.services.ladder import ladder_config

    return ladder_config(call.settings.ladder)


class Create(Params):
    lead: Annotated[Text, Field(description="The lead id.")]
    province: Annotated[Text, Field(description="Province code, e.g. ON.")]
    market: Annotated[Text | None, Field(description="Market, e.g. TORONTO.")] = None
    owner: Annotated[Text | None, Field(description="Who works the lead.")] = None
    lead_score: Annotated[Int | None, Field(description="Lead score 0-100 (required when the "
                                            "policy has a minimum).")] = None
    phone: Annotated[Text | None, Field(description="The lead's phone number.")] = None
    name: Annotated[Text | None, Field(description="The lead's name.")] = None
    language: Annotated[Text | None, Field(description=f"{words(LANGUAGES)} (default: fr for QC, "
                                           "en elsewhere).")] = None
    consent: Annotated[Text | None, Field(
        description=f"Record consent: {words(CONSENT_KINDS)}.")] = None
    consent_at: Annotated[Text | None, Field(description="When the consent was given (ISO "
                                             "8601; default: at).")] = None
    at: At = None


@router.post("/ladder/create", cli="valhalla ladder create", scope="operate",
             returns="valhalla_cli.services.ladder.creation:LadderResult")
def create(p: Create, call: Call) -> Answer:
    """Create the lead's six follow-up tasks (or return its active ladder); 409 refused."""
    from valhalla_cli.services import ladder

    consent_at = call.instant(p.consent_at, "consent_at") if p.consent_at is not None else None
    result = ladder.create(call.session, lead_id=p.lead, province=p.province, market=p.market,
                           owner=p.owner, lead_score=p.lead_score, at=call.instant(p.at),
                           actor=call.actor, config=_config(call),
                           business_timezone=call.settings.business_timezone,
                           phone=p.phone, name=p.name, language=p.language,
                           consent=p.consent, consent_at=consent_at)
    return Answer(result, refusal=result.refusal)




@router.get("/ladder/{lead}", cli="valhalla ladder show")
def show(lead: LeadPath, p: Annotated[Nothing, Query()], call: Call) -> Answer:
    """The lead's ladders and their tasks."""
    from valhalla_cli.services import ladder

    return Answer(ladder.show(call.session, lead_id=lead))


class Stop(Params):
    reason: Annotated[Text, Field(description="Why (recorded in the audit log).")]
    at: At = None


@router.post("/ladder/{lead}/stop", cli="valhalla ladder stop", scope="operate")
def stop(lead: LeadPath, p: Stop, call: Call) -> Answer:
    """Cancel the lead's remaining tasks."""
    from valhalla_cli.services import ladder

    return Answer(ladder.stop(call.session, lead_id=lead, reason=p.reason,
                              at=call.instant(p.at), actor=call.actor))


class Complete(Params):
    outcome: Annotated[Text, Field(
        description=f"{', '.join(LADDER_CONTINUE_OUTCOMES)} (continue); "
        f"{', '.join(LADDER_STOP_OUTCOMES)} (stop); {LADDER_OPT_OUT} (stop and suppress).")]
    claim_token: Annotated[Text | None, Field(description="The token from dispatch: a stale one "
                                              "is refused.")] = None
    note: Note = None
    at: At = None


@router.post("/task/{task}/complete", cli="valhalla ladder complete", scope="operate",
             returns="valhalla_cli.services.ladder.completion:CompleteResult")
def complete(task: TaskPath, p: Complete, call: Call) -> Answer:
    """Record a task's outcome (409 when the lease was lost or the task is finished)."""
    from valhalla_cli.services import ladder

    result = ladder.complete(call.session, task_id=task, outcome=p.outcome,
                             claim_token=p.claim_token, note=p.note, at=call.instant(p.at),
                             actor=call.actor, config=_config(call))
    return Answer(result, refusal=result.refusal)


@router.post("/task/{task}/release", cli="valhalla ladder release", scope="operate")
def release(task: TaskPath, p: Stop, call: Call) -> Answer:
    """Put a claimed task back to pending (409 when it is already finished)."""
    from valhalla_cli.services import ladder

    result = ladder.release(call.session, task_id=task, reason=p.reason,
                            at=call.instant(p.at), actor=call.actor)
    return Answer(result, refusal=result.refusal)


class Amend(Params):
    outcome: Annotated[Text, Field(description="The correct outcome.")]
    reason: Annotated[Text, Field(description="Why (recorded in the audit log).")]
    at: At = None


@router.post("/task/{task}/amend", cli="valhalla ladder amend", scope="operate")
def amend(task: TaskPath, p: Amend, call: Call) -> Answer:
    """Correct a finished task's outcome and apply the ladder's rule again (409 refused)."""
    from valhalla_cli.services import ladder

    result = ladder.amend(call.session, task_id=task, outcome=p.outcome, reason=p.reason,
                          at=call.instant(p.at), actor=call.actor)
    return Answer(result, refusal=result.refusal)


class DueQuery(Params):
    limit: Limit = 100
    at: At = None


@router.get("/due", cli="valhalla ladder due")
def due(p: Annotated[DueQuery, Query()], call: Call) -> Answer:
    """Tasks that could be dispatched now, without claiming them."""
    from valhalla_cli.services import ladder, template

    return Answer(ladder.due(call.session, at=call.instant(p.at), limit=p.limit,
                             config=_config(call),
                             business_timezone=call.settings.business_timezone,
                             identification=template.identification_of(call.settings)))


class Dispatch(Params):
    limit: Annotated[Int, Field(ge=1, description="Claim at most this many.")] = 100
    lease: Annotated[Text | None, Field(description="Lease per claim, e.g. 15m (default from "
                                        "the [ladder] config).")] = None
    worker: Annotated[Text | None, Field(description="Who claims (default: "
                                         "api:NAME@host:pid).")] = None
    channel: Annotated[Text | None, Field(
        description=f"{words(CONTACT_CHANNELS)} only (default: both, or CALL only while a "
        "[sender] provider sends the texts).")] = None
    at: At = None
    dry_run: DryRun = False


@router.post("/dispatch", cli="valhalla ladder dispatch", scope="operate",
             returns="valhalla_cli.services.ladder.dispatching:Claim[]")
def dispatch(p: Dispatch, call: Call) -> Answer:
    """Claim due tasks for the sender; 409 (nothing claimed) when not live or throttled."""
    from valhalla_cli.clock import parse_duration
    from valhalla_cli.errors import Refused
    from valhalla_cli.services import ladder, template

    config = _config(call)
    lease_for = (parse_duration(p.lease, option="lease") if p.lease is not None
                 else config.lease)
    worker = p.worker if p.worker is not None else ladder.default_worker(call.actor)
    result = ladder.dispatch(call.session, at=call.instant(p.at), limit=p.limit,
                             lease=lease_for, worker=worker, config=config, dry_run=p.dry_run,
                             enforce=call.settings.golive_enforce, actor=call.actor,
                             business_timezone=call.settings.business_timezone,
                             identification=template.identification_of(call.settings),
                             channel=ladder.dispatch_channel(
                                 p.channel, provider=call.settings.sender.provider))
    if result.refusal:
        # As the CLI prints nothing on stdout when refused, there is no answer to show.
        raise Refused(result.refusal.message, reason=result.refusal.reason)
    return Answer(result.tasks)


class SlaQuery(Params):
    since: Annotated[Text | None, Field(description="First business date, inclusive (default: "
                                        "29 days before until).")] = None
    until: Annotated[Text | None, Field(description="Last business date, inclusive (default: "
                                        "today).")] = None
    by: Annotated[Text | None, Field(description=f"Group by {words(LADDER_GROUPS)}.")] = None
    at: At = None


@router.get("/sla", cli="valhalla ladder sla")
def sla(p: Annotated[SlaQuery, Query()], call: Call) -> Answer:
    """Response times of completed tasks against the SLA (target: 90 % within 2 h)."""
    from valhalla_cli.services import ladder

    rows = ladder.sla(call.session, at=call.instant(p.at), since=call.date(p.since, "since"),
                      until=call.date(p.until, "until"), by=p.by,
                      business_timezone=call.settings.business_timezone, config=_config(call))
    if p.by is None:
        return Answer({k: v for k, v in rows[0].__dict__.items() if k != "group"})
    return Answer([{p.by: r.group, **{k: v for k, v in r.__dict__.items() if k != "group"}}
                   for r in rows])
