"""The inbox: `/api/inbox/*`, mirroring `valhalla inbox`."""

from collections.abc import Callable
from typing import Any

from valhalla_cli.api.routers._params import AT, limit
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("inbox", "/api/inbox")


def _or_no(call: Call, act: Callable[[], Any], done: str) -> Answer:
    """A rule's "no" answers as the CLI prints it (409), with nothing of the attempt kept."""
    from valhalla_cli.errors import Refused
    from valhalla_cli.services import inbox

    try:
        with call.session.begin_nested():
            result = act()
        return Answer(result, refusal=result.refusal)
    except Refused as no:
        answer = inbox.not_done(call["lead"], done, no)
        return Answer(answer.data, refusal=answer.refusal)

LEAD = Param("lead", required=True, in_path=True, help="The lead id.")


@router.get("", cli="valhalla inbox", params=(
    Param("owner", help="Only this owner's items."),
    Param("kind", help="Only refusal, wrong_number or reply."),
    Param("all", "bool", default=False, help="Closed items too."), limit(100), AT))
def list_items(call: Call) -> Answer:
    """Leads who answered and wait for a person: open items, oldest wait first."""
    from valhalla_cli.services import inbox

    return Answer(inbox.list_items(call.session, owner=call["owner"], kind=call["kind"],
                                   all_items=call["all"], limit=call["limit"],
                                   at=call.instant()))


@router.get("/{lead}", cli="valhalla inbox show", params=(LEAD, AT))
def show(call: Call) -> Answer:
    """A lead's conversation (inbound and outbound texts in time order) and its inbox item."""
    from valhalla_cli.services import inbox

    return Answer(inbox.show(call.session, lead_id=call["lead"], at=call.instant()))


@router.post("/{lead}/reply", cli="valhalla inbox reply", scope="operate", params=(
    LEAD, Param("text", required=True, help="1 to 1600 characters, identification included."),
    Param("record_inquiry", "bool", default=False, help="First record an inquiry consent "
          "whose evidence is the lead's last message."), AT))
def reply(call: Call) -> Answer:
    """Answer a lead through the SMS provider, with the gates of a ladder text."""
    from contextlib import nullcontext

    from valhalla_cli.services import inbox

    # One request is one transaction: the message row, the request and its answer share it.
    return _or_no(call, lambda: inbox.reply(
        lambda write=False: nullcontext(call.session), call.settings, lead_id=call["lead"],
        text=call["text"], record_inquiry=call["record_inquiry"], at=call.instant(),
        actor=call.actor), "sent")


@router.post("/{lead}/close", cli="valhalla inbox close", scope="operate", params=(
    LEAD, Param("outcome", required=True, help="resume, appointment, contacted, "
                "not_interested, wrong_number or opt_out."),
    Param("note", help="Why (audited)."), AT))
def close(call: Call) -> Answer:
    """Close a lead's item: resume its ladder (gaps kept, inside windows) or stop it."""
    from valhalla_cli.services import inbox

    return _or_no(call, lambda: inbox.close(
        call.session, lead_id=call["lead"], outcome=call["outcome"], note=call["note"],
        at=call.instant(), actor=call.actor), "closed")
