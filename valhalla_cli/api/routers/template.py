"""SMS templates: `/api/governance/templates/*`, mirroring `valhalla template`."""

from typing import Annotated

from fastapi import Query
from pydantic import Field

from valhalla_cli.api.routers._params import At, Nothing
from valhalla_cli.api.routing import Answer, Call, Int, PackRouter, Params, Text
from valhalla_cli.vocabulary import LANGUAGES, words

router = PackRouter("template", "/api/governance/templates")


@router.get("", cli="valhalla template list")
def list_templates(p: Annotated[Nothing, Query()], call: Call) -> Answer:
    """The templates (step 'default' serves every SMS step without its own)."""
    from valhalla_cli.services import template

    return Answer(template.list_templates(call.session))


class Upsert(Params):
    language: Annotated[Text, Field(description=f"{words(LANGUAGES)}.")]
    text: Annotated[Text, Field(description="The text; placeholders {name} {business} "
                                "{callback} {market}; must hold {business} and STOP (en) or "
                                "ARRÊT (fr).")]
    step: Annotated[Int | None, Field(description="For this ladder step only (default: every SMS "
                                      "step).")] = None
    at: At = None


@router.post("/upsert", cli="valhalla template set", scope="admin")
def upsert(p: Upsert, call: Call) -> Answer:
    """Create or replace a template (audited)."""
    from valhalla_cli.services import template

    return Answer(template.set_template(call.session, step=p.step, language=p.language,
                                        text=p.text, actor=call.actor, at=call.instant(p.at)))


class PreviewQuery(Params):
    lead: Annotated[Text, Field(description="The lead id.")]
    step: Annotated[Int | None, Field(description="This ladder step (default: the lead's next "
                                      "SMS step).")] = None


@router.get("/preview", cli="valhalla template preview")
def preview(p: Annotated[PreviewQuery, Query()], call: Call) -> Answer:
    """The exact text the lead would be sent, as dispatch renders it."""
    from valhalla_cli.services import template
    from valhalla_cli.services.ladder import ladder_config

    return Answer(template.preview(call.session, call.settings, lead_id=p.lead, step=p.step,
                                   steps=ladder_config(call.settings.ladder).steps))
