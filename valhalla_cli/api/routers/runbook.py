"""Runbook: `/api/governance/runbook/*`, mirroring `valhalla runbook`."""

from typing import Annotated

from fastapi import Query

from valhalla_cli.api.routers._params import AtOnly
from valhalla_cli.api.routing import Answer, Call, PackRouter

router = PackRouter("runbook", "/api/governance/runbook")


def _report(p: AtOnly, call: Call):
    from valhalla_cli.services import runbook

    return runbook.run_checks(call.session, call.settings, at=call.instant(p.at))


@router.get("/status", cli="valhalla runbook status")
def status(p: Annotated[AtOnly, Query()], call: Call) -> Answer:
    """The pre-go-live checks (409 when it is not OK to enable go-live)."""
    report = _report(p, call)
    return Answer(report, refusal=report.refusal)


@router.get("/markdown", cli="valhalla runbook markdown")
def markdown(p: Annotated[AtOnly, Query()], call: Call) -> Answer:
    """The runbook as Markdown, for pasting into a ticket."""
    from valhalla_cli.renderers import runbook_markdown

    report = _report(p, call)
    return Answer(None, refusal=report.refusal, text=runbook_markdown(report),
                  media_type="text/markdown; charset=utf-8")
