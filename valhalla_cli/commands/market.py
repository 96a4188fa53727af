"""`valhalla market`: province routing policies and contact compliance."""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    FormatOpt,
    JsonOpt,
    ReasonOpt,
    at_instant,
    bigint,
    columns_of,
    database,
    emit,
    fmt_of,
    refuse,
    settings,
    show,
    write,
)
from valhalla_cli.vocabulary import CONTACT_CHANNELS, words

app = typer.Typer(help="Market policy (province routing) and contact compliance.",
                  no_args_is_help=True)

# A suppression's fields without `created` and `tasks_cancelled`, which only `suppress` answers.
SUPPRESSION_COLUMNS = ("id", "lead_id", "phone", "reason", "at", "actor")

ProvinceArg = Annotated[str, typer.Argument(help="Province or territory code, e.g. ON.")]
MarketOpt = Annotated[Optional[str], typer.Option("--market", "-m",
                                                  help="Market name, e.g. TORONTO.")]


@app.command("policies")
def policies(
    ctx: typer.Context,
    province: Annotated[Optional[str], typer.Option("--province", "-p",
                                                    help="Only this province.")] = None,
    fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """List the stored policies (province-wide rows have market '*'; NULL means inherited).

    \b
    Example:
      valhalla market policies --province BC --json
    """
    from valhalla_cli.services import policies

    show(ctx, lambda session: policies.list_policies(session, province=province), fmt, as_json,
         columns=columns_of(policies.PolicyView))


@app.command("policy-set")
def policy_set(
    ctx: typer.Context,
    province: ProvinceArg,
    market_name: MarketOpt = None,
    timezone: Annotated[Optional[list[str]], typer.Option(
        "--timezone", metavar="ZONE", help="IANA zone (repeat for several; replaces the list).")
    ] = None,
    window: Annotated[Optional[list[str]], typer.Option(
        "--window", metavar="'CHANNEL DAYS HH:MM-HH:MM'",
        help="A contact window, e.g. 'SMS mon-fri 09:00-20:00' (repeat; replaces that "
        "channel's windows; must be inside CRTC hours).")] = None,
    channels: Annotated[Optional[str], typer.Option(
        "--channels", metavar="LIST", help="Allowed channels, e.g. SMS,CALL.")] = None,
    min_lead_score: Annotated[Optional[int], typer.Option(
        "--min-lead-score", metavar="N", help="Minimum lead score, 0-100.")] = None,
    holidays: Annotated[Optional[bool], typer.Option(
        "--holidays/--no-holidays", help="Quiet on the province's statutory holidays.")] = None,
    enable: Annotated[Optional[bool], typer.Option("--enable/--disable",
                                                   help="Enable or disable the policy.")] = None,
    require_sms_consent: Annotated[Optional[bool], typer.Option(
        "--require-sms-consent/--no-require-sms-consent",
        help="Texts need CASL consent recorded here (seeded on; the runbook warns while "
        "off).")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Create or update a policy; only the fields given change (audited).

    \b
    Example:
      valhalla market policy-set ON --market TORONTO --timezone America/Toronto \\
        --window "SMS mon-fri 10:00-19:00" --min-lead-score 40
    """
    from valhalla_cli.services import policies

    write(
        ctx, lambda session, cfg, when: policies.policy_set(
            session, province=province, market=market_name, timezones=timezone, windows=window,
            channels=channels, min_lead_score=min_lead_score, quiet_on_holidays=holidays,
            enabled=enable, actor=cfg.actor, at=when,
            require_sms_consent=require_sms_consent),
        fmt, as_json, at=at, columns=columns_of(policies.PolicyView))


@app.command("effective")
def effective(ctx: typer.Context, province: ProvinceArg, market_name: MarketOpt = None,
              fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """The merged policy for a province or market, with the source of each field.

    \b
    Example:
      valhalla market effective ON --market TORONTO --json
    """
    from valhalla_cli.services import policies

    show(ctx,
         lambda session: policies.effective_policy(session, province=province, market=market_name),
         fmt, as_json, columns=columns_of(policies.EffectivePolicy))


@app.command("can-contact")
def can_contact(
    ctx: typer.Context,
    province: Annotated[Optional[str], typer.Argument(
        help="Province or territory code, e.g. ON (may be left out with --lead).")] = None,
    channel: Annotated[Optional[str], typer.Option(
        "--channel", "-c", help=f"{words(CONTACT_CHANNELS)} (required).")] = None,
    market_name: MarketOpt = None,
    lead_score: Annotated[Optional[int], typer.Option(
        "--lead-score", metavar="N", help="The lead's score, 0-100 (required when the policy "
        "has a minimum).")] = None,
    lead: Annotated[Optional[str], typer.Option(
        "--lead", metavar="LEAD", help="Lead id: its province, zones, number and consents "
        "decide.")] = None,
    phone: Annotated[Optional[str], typer.Option(
        "--phone", metavar="N", help="A number alone (suppression, DNCL, area-code zones).")
    ] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """May this lead be contacted on this channel now? Exit 0 allowed, 1 denied.

    Without --lead or --phone the answer is about the hours only ("scope": "hours_only").

    \b
    Example:
      valhalla market can-contact --lead lead-4411 --channel CALL && dial
    """
    from valhalla_cli.errors import BadInput
    from valhalla_cli.services import market

    if channel is None:
        raise BadInput(f"missing option '--channel' ({words(CONTACT_CHANNELS)})")
    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction() as session:
        answer = market.can_contact(session, province=province, market=market_name,
                                    channel=channel, at=when, lead_score=lead_score,
                                    lead_id=lead, phone=phone,
                                    business_timezone=cfg.business_timezone)
    emit(answer, output, columns=("allowed", "reason", "scope", "lead_id", "phone", "zones",
                                  "next_open_at"))
    if answer.refusal:
        refuse(answer.refusal)


@app.command("suppress")
def suppress(
    ctx: typer.Context,
    reason: ReasonOpt,
    lead: Annotated[Optional[str], typer.Argument(
        help="The lead id (leave out to suppress a number alone with --phone).")] = None,
    phone: Annotated[Optional[str], typer.Option(
        "--phone", metavar="N", help="The number: every lead with it, now or later, is "
        "suppressed.")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Suppress a lead or a number on every channel, at once (follow-ups are cancelled).

    \b
    Example:
      valhalla market suppress lead-4411 --phone +14165550100 --reason "replied STOP"
      valhalla market suppress --phone "(416) 555-0100" --reason "asked not to be called"
    """
    from valhalla_cli.services import suppression

    write(
        ctx, lambda session, cfg, when: suppression.suppress(
            session, lead_id=lead, phone=phone, reason=reason, actor=cfg.actor, at=when),
        fmt, as_json, at=at)


@app.command("suppressions")
def suppressions(
    ctx: typer.Context,
    lead: Annotated[Optional[str], typer.Option("--lead", metavar="LEAD",
                                                help="Only this lead.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, callback=bigint,
                                       help="At most this many.")] = 100,
    fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """List suppressed leads, newest first.

    \b
    Example:
      valhalla market suppressions --json
    """
    from valhalla_cli.services import suppression

    show(ctx,
         lambda session: suppression.list_suppressions(session, lead_id=lead, limit=limit),
         fmt, as_json, columns=SUPPRESSION_COLUMNS)
