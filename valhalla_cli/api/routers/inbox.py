"""The inbox: `/api/inbox/*`, mirroring `valhalla inbox`."""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Query
from pydantic import Field

from valhalla_cli.api.routers._params import At, LeadPath, Limit
from valhalla_cli.api.routing import Answer, Call, PackRouter, Params, Text
from valhalla_cli.vocabulary import INBOX_KINDS, INBOX_OUTCOMES, words

router = PackRouter("inbox", "/api/inbox")


def _or_no(call: Call, lead: str, act: Callable[[], Any], done: str) -> Answer:
    """A rule's "no" answers as the CLI prints it (409), with nothing of the attempt kept."""
    from valhalla_cli.errors import Refused
    from valhalla_cli.services import inbox

    try:
        with call.session.begin_nested():
            result = act()
        return Answer(result, refusal=result.refusal)
    except Refused as no:
        answer = inbox.not_done(lead, done, no)
        return Answer(answer.data, refusal=answer.refusal)


class ListQuery(Params):
    owner: Annotated[Text | None, Field(description="Only this owner's items.")] = None
    kind: Annotated[Text | None, Field(description=f"Only {words(INBOX_KINDS)}.")] = None
    all: Annotated[bool, Field(description="Closed items too.")] = False
    limit: Limit = 100
    at: At = None


@router.get("", cli="valhalla inbox")
def list_items(p: Annotated[ListQuery, Query()], call: Call) -> Answer:
    """Leads who answered and wait for a person: open items, oldest wait first."""
    from valhalla_cli.services import inbox

    return Answer(inbox.list_items(call.session, owner=p.owner, kind=p.kind, all_items=p.all,
                                   limit=p.limit, at=call.instant(p.at)))


class ShowQuery(Params):
    at: At = None


@router.get("/{lead}", cli="valhalla inbox show")
def show(lead: LeadPath, p: Annotated[ShowQuery, Query()], call: Call) -> Answer:
    """A lead's conversation (inbound and outbound texts in time order) and its inbox item."""
    from valhalla_cli.services import inbox

    return Answer(inbox.show(call.session, lead_id=lead, at=call.instant(p.at)))


class Reply(Params):
    text: Annotated[Text, Field(description="1 to 1600 characters, identification included.")]
    record_inquiry: Annotated[bool, Field(description="First record an inquiry consent whose "
                                          "evidence is the lead's last message.")] = False
    at: At = None


@router.post("/{lead}/reply", cli="valhalla inbox reply", scope="operate")
def reply(lead: LeadPath, p: Reply, call: Call) -> Answer:
    """Answer a lead through the SMS provider, with the gates of a ladder text."""
    from contextlib import nullcontext

    from valhalla_cli.services import inbox

    # One request is one transaction: the message row, the request and its answer share it.
    return _or_no(call, lead, lambda: inbox.reply(
        lambda write=False: nullcontext(call.session), call.settings, lead_id=lead,
        text=p.text, record_inquiry=p.record_inquiry, at=call.instant(p.at),
        actor=call.actor), "sent")


class Close(Params):
    outcome: Annotated[Text, Field(description=f"{words(INBOX_OUTCOMES)}.")]
    note: Annotated[Text | None, Field(description="Why (audited).")] = None
    at: At = None


@router.post("/{lead}/close", cli="valhalla inbox close", scope="operate")
def close(lead: LeadPath, p: Close, call: Call) -> Answer:
    """Close a lead's item: resume its ladder (gaps kept, inside windows) or stop it."""
    from valhalla_cli.services import inbox

    return _or_no(call, lead, lambda: inbox.close(
        call.session, lead_id=lead, outcome=p.outcome, note=p.note, at=call.instant(p.at),
        actor=call.actor), "closed")
