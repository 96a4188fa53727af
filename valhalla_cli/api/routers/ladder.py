"""The follow-up ladder: `/api/followups/*`, mirroring `valhalla ladder` (alias `followups`)."""

from valhalla_cli.api.routers._params import AT, DRY_RUN, limit
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("ladder", "/api/followups")


def _config(call: Call):
    from valhalla_cli.services.ladder import ladder_config

    return ladder_config(call.settings.ladder)


@router.post("/ladder/create", cli="valhalla ladder create", scope="operate",
             returns="valhalla_cli.services.ladder.creation:LadderResult", params=(
    Param("lead", required=True, help="The lead id."),
    Param("province", required=True, help="Province code, e.g. ON."),
    Param("market", help="Market, e.g. TORONTO."),
    Param("owner", help="Who works the lead."),
    Param("lead_score", "int", help="Lead score 0-100 (required when the policy has a "
          "minimum)."),
    Param("phone", help="The lead's phone number."),
    Param("name", help="The lead's name."),
    Param("language", help="en or fr (default: fr for QC, en elsewhere)."),
    Param("consent", help="Record consent: express, inquiry or business."),
    Param("consent_at", help="When the consent was given (ISO 8601; default: at)."), AT))
def create(call: Call) -> Answer:
    """Create the lead's six follow-up tasks (or return its active ladder); 409 refused."""
    from valhalla_cli.services import ladder

    consent_at = call.instant("consent_at") if call["consent_at"] is not None else None
    result = ladder.create(call.session, lead_id=call["lead"], province=call["province"],
                           market=call["market"], owner=call["owner"],
                           lead_score=call["lead_score"], at=call.instant(), actor=call.actor,
                           config=_config(call),
                           business_timezone=call.settings.business_timezone,
                           phone=call["phone"], name=call["name"], language=call["language"],
                           consent=call["consent"], consent_at=consent_at)
    return Answer(result, refusal=result.refusal)


@router.get("/ladder/{lead}", cli="valhalla ladder show", params=(
    Param("lead", required=True, in_path=True, help="The lead id."),))
def show(call: Call) -> Answer:
    """The lead's ladders and their tasks."""
    from valhalla_cli.services import ladder

    return Answer(ladder.show(call.session, lead_id=call["lead"]))


@router.post("/ladder/{lead}/stop", cli="valhalla ladder stop", scope="operate", params=(
    Param("lead", required=True, in_path=True, help="The lead id."),
    Param("reason", required=True, help="Why (recorded in the audit log)."), AT))
def stop(call: Call) -> Answer:
    """Cancel the lead's remaining tasks."""
    from valhalla_cli.services import ladder

    return Answer(ladder.stop(call.session, lead_id=call["lead"], reason=call["reason"],
                              at=call.instant(), actor=call.actor))


@router.post("/task/{task}/complete", cli="valhalla ladder complete", scope="operate",
             returns="valhalla_cli.services.ladder.completion:CompleteResult", params=(
    Param("task", "int", required=True, in_path=True, help="The task id."),
    Param("outcome", required=True, help="sent, no_answer, voicemail (continue); contacted, "
          "appointment, not_interested, wrong_number (stop); opt_out (stop and suppress)."),
    Param("claim_token", help="The token from dispatch: a stale one is refused."),
    Param("note", help="Free text."), AT))
def complete(call: Call) -> Answer:
    """Record a task's outcome (409 when the lease was lost or the task is finished)."""
    from valhalla_cli.services import ladder

    result = ladder.complete(call.session, task_id=call["task"], outcome=call["outcome"],
                             claim_token=call["claim_token"], note=call["note"],
                             at=call.instant(), actor=call.actor, config=_config(call))
    return Answer(result, refusal=result.refusal)


@router.post("/task/{task}/release", cli="valhalla ladder release", scope="operate", params=(
    Param("task", "int", required=True, in_path=True, help="The task id."),
    Param("reason", required=True, help="Why (recorded in the audit log)."), AT))
def release(call: Call) -> Answer:
    """Put a claimed task back to pending (409 when it is already finished)."""
    from valhalla_cli.services import ladder

    result = ladder.release(call.session, task_id=call["task"], reason=call["reason"],
                            at=call.instant(), actor=call.actor)
    return Answer(result, refusal=result.refusal)


@router.post("/task/{task}/amend", cli="valhalla ladder amend", scope="operate", params=(
    Param("task", "int", required=True, in_path=True, help="The task id."),
    Param("outcome", required=True, help="The correct outcome."),
    Param("reason", required=True, help="Why (recorded in the audit log)."), AT))
def amend(call: Call) -> Answer:
    """Correct a finished task's outcome and apply the ladder's rule again (409 refused)."""
    from valhalla_cli.services import ladder

    result = ladder.amend(call.session, task_id=call["task"], outcome=call["outcome"],
                          reason=call["reason"], at=call.instant(), actor=call.actor)
    return Answer(result, refusal=result.refusal)


@router.get("/due", cli="valhalla ladder due", params=(limit(100), AT))
def due(call: Call) -> Answer:
    """Tasks that could be dispatched now, without claiming them."""
    from valhalla_cli.services import ladder, template

    return Answer(ladder.due(call.session, at=call.instant(), limit=call["limit"],
                             config=_config(call),
                             business_timezone=call.settings.business_timezone,
                             identification=template.identification_of(call.settings)))


@router.post("/dispatch", cli="valhalla ladder dispatch", scope="operate",
             returns="valhalla_cli.services.ladder.dispatching:Claim[]", params=(
    Param("limit", "int", default=100, minimum=1, help="Claim at most this many."),
    Param("lease", help="Lease per claim, e.g. 15m (default from the [ladder] config)."),
    Param("worker", help="Who claims (default: api:NAME@host:pid)."),
    Param("channel", help="SMS or CALL only (default: both, or CALL only while a [sender] "
          "provider sends the texts)."), AT, DRY_RUN))
def dispatch(call: Call) -> Answer:
    """Claim due tasks for the sender; 409 (nothing claimed) when not live or throttled."""
    from valhalla_cli.clock import parse_duration
    from valhalla_cli.errors import Refused
    from valhalla_cli.services import ladder, template

    config = _config(call)
    lease = call["lease"]
    lease_for = parse_duration(lease, option="lease") if lease is not None else config.lease
    worker = call["worker"] if call["worker"] is not None else ladder.default_worker(call.actor)
    result = ladder.dispatch(call.session, at=call.instant(), limit=call["limit"],
                             lease=lease_for, worker=worker, config=config,
                             dry_run=call["dry_run"], enforce=call.settings.golive_enforce,
                             actor=call.actor,
                             business_timezone=call.settings.business_timezone,
                             identification=template.identification_of(call.settings),
                             channel=ladder.dispatch_channel(
                                 call["channel"], provider=call.settings.sender.provider))
    if result.refusal:
        # As the CLI prints nothing on stdout when refused, there is no answer to show.
        raise Refused(result.refusal.message, reason=result.refusal.reason)
    return Answer(result.tasks)


@router.get("/sla", cli="valhalla ladder sla", params=(
    Param("since", help="First business date, inclusive (default: 29 days before until)."),
    Param("until", help="Last business date, inclusive (default: today)."),
    Param("by", help="Group by owner, province or step."), AT))
def sla(call: Call) -> Answer:
    """Response times of completed tasks against the SLA (target: 90 % within 2 h)."""
    from valhalla_cli.services import ladder

    by = call["by"]
    rows = ladder.sla(call.session, at=call.instant(), since=call.date("since"),
                      until=call.date("until"), by=by,
                      business_timezone=call.settings.business_timezone, config=_config(call))
    if by is None:
        return Answer({k: v for k, v in rows[0].__dict__.items() if k != "group"})
    return Answer([{by: r.group, **{k: v for k, v in r.__dict__.items() if k != "group"}}
                   for r in rows])
