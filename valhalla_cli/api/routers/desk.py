"""The call desk's endpoints: `/api/desk*`, under the page `GET /desk` (its client) and for a
dialer. Scope `operate`; the desk is the token's owner's, or `?owner=` for an admin token."""

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

from valhalla_cli.api.routers._params import At, Note
from valhalla_cli.api.routing import Answer, Call, Int, PackRouter, Params, Text
from valhalla_cli.vocabulary import DESK_DISPOSITIONS, words

router = PackRouter("desk", "/api/desk")

Owner = Annotated[Text | None, Field(description="Whose desk (admin tokens only; default: the "
                                     "token's owner).")]
TaskPath = Annotated[Int, Path(description="The call task's id.")]
ClaimToken = Annotated[Text, Field(description="The claim token `next` answered with the card.")]


def desk_owner(call: Call, asked: str | None) -> str | None:
    """The owner whose desk this is: the token's; an admin token may name another. A token
    without an owner (and no `owner` asked) works the unowned calls only."""
    from valhalla_cli.api.errors import ApiDenied

    caller = call.caller
    if asked is None:
        return caller.owner
    from valhalla_cli.inputs import parse_text

    asked = parse_text(asked, field="owner")
    if asked != caller.owner and caller.scope != "admin":
        raise ApiDenied(403, "forbidden", f"the token {caller.name!r} works the desk of "
                        f"{caller.owner or 'unowned calls'}; only an admin token may "
                        "open another owner's desk")
    return asked


class DeskQuery(Params):
    owner: Owner = None
    at: At = None


@router.get("", cli="valhalla desk", scope="operate",
            returns="valhalla_cli.services.desk:DeskQueue")
def queue(p: Annotated[DeskQuery, Query()], call: Call) -> Answer:
    """The queue: the calls dispatch would hand this owner now, then unowned ones; due and
    overdue counts; the owner's open inbox items."""
    from valhalla_cli.services import desk

    return Answer(desk.queue(call.session, owner=desk_owner(call, p.owner),
                             at=call.instant(p.at), settings=call.settings))


class Next(Params):
    owner: Owner = None
    at: At = None


@router.post("/next", cli="valhalla ladder dispatch", scope="operate",
             returns="valhalla_cli.services.desk:NextResult")
def next_call(p: Next, call: Call) -> Answer:
    """Claim the next call (or answer the card this token holds): `{"task": CARD}` or
    `{"task": null}`; 409 when dispatch would be refused."""
    from valhalla_cli.services import desk

    at, caller, settings = call.instant(p.at), call.caller.name, call.settings
    claimed = desk.claim_next(call.session, token_name=caller, owner=desk_owner(call, p.owner),
                              at=at, settings=settings)
    # The card only reads: it is assembled after the claim commits, so callers queue on the
    # one writer for the claim alone.
    return Answer(None, then=lambda session: Answer(desk.next_card(
        session, claimed, caller=caller, at=at, settings=settings)))


class CheckQuery(Params):
    at: At = None


@router.get("/{task}/check", cli="valhalla market can-contact", scope="operate",
            returns="valhalla_cli.services.market:ContactAnswer")
def check(task: TaskPath, p: Annotated[CheckQuery, Query()], call: Call) -> Answer:
    """The contact decision now for the task's lead, by call (200, `allowed` true or false)."""
    from valhalla_cli.services import desk

    return Answer(desk.check(call.session, task_id=task, at=call.instant(p.at),
                             business_timezone=call.settings.business_timezone))


class Disposition(Params):
    claim_token: ClaimToken
    outcome: Annotated[Text, Field(description=f"{words(DESK_DISPOSITIONS)}.")]
    note: Note = None
    at: At = None


@router.post("/{task}/disposition", cli="valhalla ladder complete", scope="operate")
def disposition(task: TaskPath, p: Disposition, call: Call) -> Answer:
    """Record the call's outcome as `ladder complete` does; 409 "lease lost" records nothing."""
    from valhalla_cli.services import desk

    result = desk.disposition(call.session, task_id=task, claim_token=p.claim_token,
                              outcome=p.outcome, note=p.note, at=call.instant(p.at),
                              actor=call.actor, settings=call.settings)
    return Answer(result.answer, refusal=result.refusal)


class PlaceCall(Params):
    claim_token: ClaimToken
    at: At = None


@router.post("/{task}/call", cli="(none: the desk's Call button)", scope="operate",
             returns="valhalla_cli.services.desk:CallResult")
def place_call(task: TaskPath, p: PlaceCall, call: Call) -> Answer:
    """Call through the business's number: the caller's phone rings, then the lead. 409 with
    the reason when the call is not allowed now, the lease is lost, the task's last call has
    not ended (`call_in_progress`), or voice is not set up (`voice_not_configured`: use the
    `tel:` link)."""
    from valhalla_cli.services import desk

    caller = call.caller
    base = call.settings.api.public_url or call.base_url
    result = desk.place_call(call.session, task_id=task, claim_token=p.claim_token,
                             token_name=caller.name, owner=caller.owner,
                             caller_phone=caller.phone, at=call.instant(p.at),
                             settings=call.settings, base_url=base)
    return Answer(result, refusal=result.refusal)
