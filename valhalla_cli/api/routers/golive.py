"""Go-live: `/api/governance/go-live/*`, mirroring `valhalla golive`."""

from typing import Annotated

from fastapi import Query
from pydantic import Field

from valhalla_cli.api.routers._params import At, Limit, Nothing, Reason
from valhalla_cli.api.routing import Answer, Call, PackRouter, Params, Text

router = PackRouter("golive", "/api/governance/go-live")

Key = Annotated[Text, Field(description="The item's key, e.g. dncl.")]


@router.get("/state", cli="valhalla golive state")
def state(p: Annotated[Nothing, Query()], call: Call) -> Answer:
    """The go-live state: enabled, kill switch, live, enforcement and the last change."""
    from valhalla_cli.services import golive

    return Answer(golive.get_state(call.session, enforce=call.settings.golive_enforce))


class Switch(Params):
    reason: Reason
    at: At = None


def _switch(p: Switch, call: Call, action: str) -> Answer:
    from valhalla_cli.services import golive, golive_gate

    cfg, session, when = call.settings, call.session, call.instant(p.at)
    if action == "enable":
        result = golive_gate.enable(session, actor=call.actor, at=when, reason=p.reason,
                                    settings=cfg)
    else:
        result = getattr(golive, action)(session, actor=call.actor, at=when, reason=p.reason,
                                         enforce=cfg.golive_enforce)
    return Answer(result, refusal=result.refusal)


@router.post("/enable", cli="valhalla golive enable", scope="admin")
def enable(p: Switch, call: Call) -> Answer:
    """Enable production execution (refused unless the runbook is OK)."""
    return _switch(p, call, "enable")


@router.post("/disable", cli="valhalla golive disable", scope="admin")
def disable(p: Switch, call: Call) -> Answer:
    """Disable production execution."""
    return _switch(p, call, "disable")


@router.post("/kill-switch/engage", cli="valhalla golive kill-switch engage", scope="admin")
def engage(p: Switch, call: Call) -> Answer:
    """Engage the kill switch: stop all production execution at once."""
    return _switch(p, call, "engage_kill_switch")


@router.post("/kill-switch/release", cli="valhalla golive kill-switch release", scope="admin")
def release(p: Switch, call: Call) -> Answer:
    """Release the kill switch."""
    return _switch(p, call, "release_kill_switch")


@router.get("/checklist", cli="valhalla golive checklist list")
def checklist(p: Annotated[Nothing, Query()], call: Call) -> Answer:
    """The checklist items with who signed them and when."""
    from valhalla_cli.services import golive

    return Answer(golive.list_checklist(call.session))


class ChecklistAdd(Params):
    key: Key
    title: Annotated[Text, Field(description="What must be true.")]
    at: At = None


@router.post("/checklist/add", cli="valhalla golive checklist add", scope="admin")
def checklist_add(p: ChecklistAdd, call: Call) -> Answer:
    """Add a sign-off item (unsigned until someone signs it)."""
    from valhalla_cli.services import golive

    return Answer(golive.add_checklist_item(call.session, key=p.key, title=p.title,
                                            actor=call.actor, at=call.instant(p.at)))


class ChecklistSign(Params):
    key: Key
    note: Annotated[Text | None, Field(description="Evidence or remark.")] = None
    at: At = None


@router.post("/checklist/sign", cli="valhalla golive checklist sign", scope="admin")
def checklist_sign(p: ChecklistSign, call: Call) -> Answer:
    """Sign an item off as the calling token."""
    from valhalla_cli.services import golive

    return Answer(golive.sign_checklist_item(call.session, key=p.key, note=p.note,
                                             actor=call.actor, at=call.instant(p.at)))


class ChecklistUnsign(Params):
    key: Key
    reason: Reason
    at: At = None


@router.post("/checklist/unsign", cli="valhalla golive checklist unsign", scope="admin")
def checklist_unsign(p: ChecklistUnsign, call: Call) -> Answer:
    """Withdraw a sign-off (the runbook fails again until it is re-signed)."""
    from valhalla_cli.services import golive

    return Answer(golive.unsign_checklist_item(call.session, key=p.key, reason=p.reason,
                                               actor=call.actor, at=call.instant(p.at)))


class HistoryQuery(Params):
    limit: Limit = 100


@router.get("/history", cli="valhalla golive history")
def history(p: Annotated[HistoryQuery, Query()], call: Call) -> Answer:
    """The go-live audit events, newest first."""
    from valhalla_cli.services import golive

    return Answer(golive.history(call.session, limit=p.limit))
