"""`valhalla heimdall`: confidence gates for AI recommendations (sandbox -> production)."""


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
    warn,
    write,
)

app = typer.Typer(help="Heimdall: confidence gates for AI recommendations.",
                  no_args_is_help=True)

# Selections: a record without its message and warning (the warning goes to standard error); a
# scorecard row without the policy thresholds (`heimdall policies` shows them).
RECORD_COLUMNS = ("recommendation_id", "domain", "subject", "confidence", "min_confidence",
                  "mode", "decision", "reason", "recorded_at")
SCORECARD_COLUMNS = ("domain", "mode", "samples", "successes", "success_rate", "wilson_lower",
                     "eligible", "production")

DomainArg = Annotated[str, typer.Argument(help="Recommendation domain, e.g. lead_scoring.")]


@app.command("record")
def record(
    ctx: typer.Context,
    domain: DomainArg,
    confidence: Annotated[float, typer.Option("--confidence", "-c",
                                              help="The model's confidence, 0 to 1.")],
    subject: Annotated[str, typer.Option("--subject", "-s",
                                         help="What it is about (lead id, offer ref...).")],
    payload: Annotated[Optional[str], typer.Option("--payload",
                                                   help="The recommendation as JSON.")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Record an AI recommendation and gate it: act (exit 0), shadow or reject (exit 1).

    \b
    Example:
      valhalla heimdall record lead_scoring --confidence 0.91 --subject lead-1042 \\
        --payload '{"score": 87}' && act-on-it
    """
    from valhalla_cli.services import heimdall

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    data = heimdall.parse_payload(payload)
    with database(ctx) as db, db.transaction(write=True) as session:
        result = heimdall.record(session, domain=domain, confidence=confidence, subject=subject,
                                 payload=data, actor=cfg.actor, at=when,
                                 enforce=cfg.golive_enforce)
    if result.warning:
        warn(ctx, result.warning)
    emit(result, output, columns=RECORD_COLUMNS)
    if result.refusal:
        refuse(result.refusal)


@app.command("outcome")
def outcome(
    ctx: typer.Context,
    recommendation_id: Annotated[int, typer.Argument(
        callback=bigint, help="The recommendation_id to score.")],
    success: Annotated[Optional[bool], typer.Option(
        "--success/--failure", help="What happened (one of the two is required).")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Record what happened to a recommendation, once.

    \b
    Example:
      valhalla heimdall outcome 1042 --success
    """
    from valhalla_cli.errors import BadInput
    from valhalla_cli.services import heimdall

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    if success is None:
        raise BadInput("give --success or --failure")
    with database(ctx) as db, db.transaction(write=True) as session:
        result = heimdall.record_outcome(session, recommendation_id=recommendation_id,
                                         success=success, actor=cfg.actor, at=when,
                                         business_timezone=cfg.business_timezone)
    emit(result, output)
    if result.refusal:
        refuse(result.refusal)


@app.command("scorecard")
def scorecard(
    ctx: typer.Context,
    domain: Annotated[Optional[str], typer.Option("--domain", "-d",
                                                  help="Only this domain.")] = None,
    days: Annotated[Optional[int], typer.Option("--days", help="Only outcomes of the N "
                                                "business days ending at --at.")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Success rate and Wilson lower bound per domain (sandbox; production in its own object).

    \b
    Example:
      valhalla heimdall scorecard --days 30 --json
    """
    from valhalla_cli.services import heimdall

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction() as session:
        rows = heimdall.scorecard(session, at=when, business_timezone=cfg.business_timezone,
                                  domain=domain, days=days)
    emit(rows, output, columns=SCORECARD_COLUMNS)


def _mode_change(ctx: typer.Context, action: str, domain: str, reason: str, at: str | None,
                 fmt: str | None, as_json: bool) -> None:
    from valhalla_cli.services import heimdall

    result = write(
        ctx, lambda session, cfg, when: getattr(
            heimdall, action)(session, domain=domain, reason=reason, actor=cfg.actor, at=when),
        fmt, as_json, at=at, columns=columns_of(heimdall.ModeChange))
    if result.refusal:
        refuse(result.refusal)


@app.command("promote")
def promote(ctx: typer.Context, domain: DomainArg, reason: ReasonOpt, at: AtOpt = None,
            fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Move a domain to production if its sandbox record passes the gate (else exit 1).

    \b
    Example:
      valhalla heimdall promote lead_scoring --reason "30-day shadow review passed"
    """
    _mode_change(ctx, "promote", domain, reason, at, fmt, as_json)


@app.command("demote")
def demote(ctx: typer.Context, domain: DomainArg, reason: ReasonOpt, at: AtOpt = None,
           fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Return a domain to sandbox (its recommendations are shadowed again).

    \b
    Example:
      valhalla heimdall demote offer_pricing --reason "model drift suspected"
    """
    _mode_change(ctx, "demote", domain, reason, at, fmt, as_json)


@app.command("policies")
def policies(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """List the domains with their mode and gate thresholds.

    \b
    Example:
      valhalla heimdall policies --json
    """
    from valhalla_cli.services import heimdall

    show(ctx, lambda session: heimdall.list_policies(session), fmt, as_json,
         columns=columns_of(heimdall.PolicyView))


@app.command("policy-set")
def policy_set(
    ctx: typer.Context,
    domain: DomainArg,
    min_confidence: Annotated[Optional[float], typer.Option(
        "--min-confidence", help="Reject recommendations below this confidence (0-1).")] = None,
    min_samples: Annotated[Optional[int], typer.Option(
        "--min-samples", help="Sandbox outcomes needed before promotion.")] = None,
    min_success_rate: Annotated[Optional[float], typer.Option(
        "--min-success-rate", help="Wilson lower bound needed for promotion (0-1).")] = None,
    enabled: Annotated[Optional[bool], typer.Option(
        "--enable/--disable", help="A disabled domain rejects every recommendation.")] = None,
    reason: Annotated[Optional[str], typer.Option(
        "--reason", "-r", help="Why (recorded in the audit log).")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Change a domain's thresholds (a missing domain is created in sandbox). Audited.

    \b
    Example:
      valhalla heimdall policy-set offer_pricing --min-confidence 0.85 --min-samples 50
    """
    from valhalla_cli.services import heimdall

    write(
        ctx, lambda session, cfg, when: heimdall.set_policy(
            session, domain=domain, actor=cfg.actor, at=when, min_confidence=min_confidence,
            min_samples=min_samples, min_success_rate=min_success_rate, enabled=enabled,
            reason=reason),
        fmt, as_json, at=at, shown=lambda r: r.policy, columns=columns_of(heimdall.PolicyView))
