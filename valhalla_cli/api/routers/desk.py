"""The call desk's endpoints: `/api/desk*`, under the page `GET /desk` (its client) and for a
dialer. Scope `operate`; the desk is the token's owner's, or `?owner=` for an admin token."""


from valhalla_cli.api.routers._params import AT
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("desk", "/api/desk")

OWNER = Param("owner", help="Whose desk (admin tokens only; default: the token's owner).")
TASK = Param("task", "int", required=True, in_path=True, help="The call task's id.")
CLAIM_TOKEN = Param("claim_token", required=True, help="The claim token `next` answered "
                    "with the card.")


def desk_owner(call: Call) -> str | None:
    """The owner whose desk this is: the token's; an admin token may name another. A token
    without an owner (and no `owner` asked) works the unowned calls only."""
    from valhalla_cli.api.errors import ApiDenied

    asked = call["owner"]
    if asked is None:
        return call.principal.owner
    from valhalla_cli.inputs import parse_text

    asked = parse_text(asked, field="owner")
    if asked != call.principal.owner and call.principal.scope != "admin":
        raise ApiDenied(403, "forbidden", f"the token {call.principal.name!r} works the desk of "
                        f"{call.principal.owner or 'unowned calls'}; only an admin token may "
                        "open another owner's desk")
    return asked


@router.get("", cli="valhalla desk", scope="operate", params=(OWNER, AT),
            returns="valhalla_cli.services.desk:DeskQueue")
def queue(call: Call) -> Answer:
    """The queue: the calls dispatch would hand this owner now, then unowned ones; due and
    overdue counts; the owner's open inbox items."""
    from valhalla_cli.services import desk

    return Answer(desk.queue(call.session, owner=desk_owner(call), at=call.instant(),
                             settings=call.settings))


@router.post("/next", cli="valhalla ladder dispatch", scope="operate",
             params=(OWNER, AT), returns="valhalla_cli.services.desk:NextResult")
def next_call(call: Call) -> Answer:
    """Claim the next call (or answer the card this token holds): `{"task": CARD}` or
    `{"task": null}`; 409 when dispatch would be refused."""
    from valhalla_cli.services import desk

    at, caller = call.instant(), call.principal.name
    claimed = desk.claim_next(call.session, token_name=caller, owner=desk_owner(call), at=at,
                              settings=call.settings)
    # The card only reads: it is assembled after the claim commits, so callers queue on the
    # one writer for the claim alone.
    return Answer(None, then=lambda session: Answer(desk.next_card(
        session, claimed, caller=caller, at=at, settings=call.settings)))


@router.get("/{task}/check", cli="valhalla market can-contact",
            scope="operate", params=(TASK, AT),
            returns="valhalla_cli.services.market:ContactAnswer")
def check(call: Call) -> Answer:
    """The contact decision now for the task's lead, by call (200, `allowed` true or false)."""
    from valhalla_cli.services import desk

    return Answer(desk.check(call.session, task_id=call["task"], at=call.instant(),
                             business_timezone=call.settings.business_timezone))


@router.post("/{task}/disposition", cli="valhalla ladder complete",
             scope="operate", params=(
    TASK, CLAIM_TOKEN,
    Param("outcome", required=True, help="no_answer, voicemail, contacted, appointment, "
          "not_interested, wrong_number or do_not_call."),
    Param("note", help="Free text."), AT))
def disposition(call: Call) -> Answer:
    """Record the call's outcome as `ladder complete` does; 409 "lease lost" records nothing."""
    from valhalla_cli.services import desk

    result = desk.disposition(call.session, task_id=call["task"],
                              claim_token=call["claim_token"], outcome=call["outcome"],
                              note=call["note"], at=call.instant(), actor=call.actor,
                              settings=call.settings)
    return Answer(result.answer, refusal=result.refusal)


@router.post("/{task}/call", cli="(none: the desk's Call button)", scope="operate",
             params=(TASK, CLAIM_TOKEN, AT), returns="valhalla_cli.services.desk:CallResult")
def place_call(call: Call) -> Answer:
    """Call through the business's number: the caller's phone rings, then the lead. 409 with
    the reason when the call is not allowed now, the lease is lost, or voice is not set up
    (`voice_not_configured`: use the `tel:` link)."""
    from valhalla_cli.services import desk

    base = call.settings.api.public_url or call.base_url
    result = desk.place_call(call.session, task_id=call["task"],
                             claim_token=call["claim_token"], token_name=call.principal.name,
                             owner=call.principal.owner, caller_phone=call.principal.phone,
                             at=call.instant(), settings=call.settings, base_url=base)
    return Answer(result, refusal=result.refusal)
