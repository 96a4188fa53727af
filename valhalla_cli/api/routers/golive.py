"""Go-live: `/api/governance/go-live/*`, mirroring `valhalla golive`."""

from valhalla_cli.api.routers._params import AT, REASON, limit
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("golive", "/api/governance/go-live")


@router.get("/state", cli="valhalla golive state")
def state(call: Call) -> Answer:
    """The go-live state: enabled, kill switch, live, enforcement and the last change."""
    from valhalla_cli.services import golive

    return Answer(golive.get_state(call.session, enforce=call.settings.golive_enforce))


def _switch(call: Call, action: str) -> Answer:
    from valhalla_cli.services import golive, golive_gate

    cfg, session, when = call.settings, call.session, call.instant()
    if action == "enable":
        result = golive_gate.enable(session, actor=call.actor, at=when, reason=call["reason"],
                                    settings=cfg)
    else:
        result = getattr(golive, action)(session, actor=call.actor, at=when,
                                         reason=call["reason"], enforce=cfg.golive_enforce)
    return Answer(result, refusal=result.refusal)


@router.post("/enable", cli="valhalla golive enable", scope="admin", params=(REASON, AT))
def enable(call: Call) -> Answer:
    """Enable production execution (refused unless the runbook is OK)."""
    return _switch(call, "enable")


@router.post("/disable", cli="valhalla golive disable", scope="admin", params=(REASON, AT))
def disable(call: Call) -> Answer:
    """Disable production execution."""
    return _switch(call, "disable")


@router.post("/kill-switch/engage", cli="valhalla golive kill-switch engage", scope="admin",
             params=(REASON, AT))
def engage(call: Call) -> Answer:
    """Engage the kill switch: stop all production execution at once."""
    return _switch(call, "engage_kill_switch")


@router.post("/kill-switch/release", cli="valhalla golive kill-switch release", scope="admin",
             params=(REASON, AT))
def release(call: Call) -> Answer:
    """Release the kill switch."""
    return _switch(call, "release_kill_switch")


@router.get("/checklist", cli="valhalla golive checklist list")
def checklist(call: Call) -> Answer:
    """The checklist items with who signed them and when."""
    from valhalla_cli.services import golive

    return Answer(golive.list_checklist(call.session))


KEY = Param("key", required=True, help="The item's key, e.g. dncl.")


@router.post("/checklist/add", cli="valhalla golive checklist add", scope="admin",
             params=(KEY, Param("title", required=True, help="What must be true."), AT))
def checklist_add(call: Call) -> Answer:
    """Add a sign-off item (unsigned until someone signs it)."""
    from valhalla_cli.services import golive

    return Answer(golive.add_checklist_item(call.session, key=call["key"], title=call["title"],
                                            actor=call.actor, at=call.instant()))


@router.post("/checklist/sign", cli="valhalla golive checklist sign", scope="admin",
             params=(KEY, Param("note", help="Evidence or remark."), AT))
def checklist_sign(call: Call) -> Answer:
    """Sign an item off as the calling token."""
    from valhalla_cli.services import golive

    return Answer(golive.sign_checklist_item(call.session, key=call["key"], note=call["note"],
                                             actor=call.actor, at=call.instant()))


@router.post("/checklist/unsign", cli="valhalla golive checklist unsign", scope="admin",
             params=(KEY, REASON, AT))
def checklist_unsign(call: Call) -> Answer:
    """Withdraw a sign-off (the runbook fails again until it is re-signed)."""
    from valhalla_cli.services import golive

    return Answer(golive.unsign_checklist_item(call.session, key=call["key"],
                                               reason=call["reason"], actor=call.actor,
                                               at=call.instant()))


@router.get("/history", cli="valhalla golive history", params=(limit(100),))
def history(call: Call) -> Answer:
    """The go-live audit events, newest first."""
    from valhalla_cli.services import golive

    return Answer(golive.history(call.session, limit=call["limit"]))
