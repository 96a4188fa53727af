"""The National DNCL: `/api/governance/dncl/*`, mirroring `valhalla dncl` (no file import)."""

from valhalla_cli.api.routers._params import AT
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("dncl", "/api/governance/dncl")


@router.get("/status", cli="valhalla dncl status", params=(AT,))
def status(call: Call) -> Answer:
    """Per area code: the list's date, age, size and whether it is fresh (≤ 31 days)."""
    from valhalla_cli.services import dncl

    return Answer(dncl.area_statuses(call.session, at=call.instant(),
                                     business_timezone=call.settings.business_timezone))


@router.get("/check", cli="valhalla dncl check", params=(
    Param("number", required=True, help="A phone number, e.g. +14165550199."), AT))
def check(call: Call) -> Answer:
    """Is the number on the list? 200 not_listed, 409 listed or not_checked."""
    from valhalla_cli.services import dncl

    result = dncl.check_number(call.session, phone=call["number"], at=call.instant(),
                               business_timezone=call.settings.business_timezone)
    return Answer(result, refusal=result.refusal)
