"""SMS templates: `/api/governance/templates/*`, mirroring `valhalla template`."""

from valhalla_cli.api.routers._params import AT
from valhalla_cli.api.routing import Answer, Call, PackRouter, Param

router = PackRouter("template", "/api/governance/templates")


@router.get("", cli="valhalla template list")
def list_templates(call: Call) -> Answer:
    """The templates (step 'default' serves every SMS step without its own)."""
    from valhalla_cli.services import template

    return Answer(template.list_templates(call.session))


@router.post("/upsert", cli="valhalla template set", scope="admin", params=(
    Param("language", required=True, help="en or fr."),
    Param("text", required=True, help="The text; placeholders {name} {business} {callback} "
          "{market}; must hold {business} and STOP (en) or ARRÊT (fr)."),
    Param("step", "int", help="For this ladder step only (default: every SMS step)."), AT))
def upsert(call: Call) -> Answer:
    """Create or replace a template (audited)."""
    from valhalla_cli.services import template

    return Answer(template.set_template(call.session, step=call["step"],
                                        language=call["language"], text=call["text"],
                                        actor=call.actor, at=call.instant()))


@router.get("/preview", cli="valhalla template preview", params=(
    Param("lead", required=True, help="The lead id."),
    Param("step", "int", help="This ladder step (default: the lead's next SMS step).")))
def preview(call: Call) -> Answer:
    """The exact text the lead would be sent, as dispatch renders it."""
    from valhalla_cli.services import template
    from valhalla_cli.services.ladder import ladder_config

    return Answer(template.preview(call.session, call.settings, lead_id=call["lead"],
                                   step=call["step"],
                                   steps=ladder_config(call.settings.ladder).steps))
