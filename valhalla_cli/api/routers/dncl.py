"""The National DNCL: `/api/governance/dncl/*`, mirroring `valhalla dncl` (no file import)."""

from typing import Annotated

from fastapi import Query
from pydantic import Field

from valhalla_cli.api.routers._params import At, AtOnly
from valhalla_cli.api.routing import Answer, Call, PackRouter, Params, Text

router = PackRouter("dncl", "/api/governance/dncl")


@router.get("/status", cli="valhalla dncl status")
def status(p: Annotated[AtOnly, Query()], call: Call) -> Answer:
    """Per area code: the list's date, age, size and whether it is fresh (≤ 31 days)."""
    from valhalla_cli.services import dncl

    return Answer(dncl.area_statuses(call.session, at=call.instant(p.at),
                                     business_timezone=call.settings.business_timezone))


class CheckQuery(Params):
    number: Annotated[Text, Field(description="A phone number, e.g. +14165550199.")]
    at: At = None


@router.get("/check", cli="valhalla dncl check")
def check(p: Annotated[CheckQuery, Query()], call: Call) -> Answer:
    """Is the number on the list? 200 not_listed, 409 listed or not_checked."""
    from valhalla_cli.services import dncl

    result = dncl.check_number(call.session, phone=p.number, at=call.instant(p.at),
                               business_timezone=call.settings.business_timezone)
    return Answer(result, refusal=result.refusal)
