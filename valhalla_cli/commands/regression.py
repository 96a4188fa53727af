"""`valhalla regression`: the KPI regression tripwire and the levers it throttles."""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    DryRunOpt,
    FormatOpt,
    JsonOpt,
    ReasonOpt,
    at_instant,
    columns_of,
    database,
    emit,
    fmt_of,
    refuse,
    settings,
    show,
    write,
)
from valhalla_cli.vocabulary import LEVERS, words

app = typer.Typer(help="Regression tripwire: throttle a lever when a KPI drops.",
                  no_args_is_help=True)

# An evaluation's figures; `tripped` and the note are in the JSON (the status says it in a word).
EVAL_COLUMNS = ("metric", "lever", "statistic", "baseline", "recent", "drop_pct", "z", "status")


@app.command("evaluate")
def evaluate(ctx: typer.Context, at: AtOpt = None, dry_run: DryRunOpt = False,
             fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Evaluate every enabled policy; exit 1 while any lever is throttled (cron mails it).

    \b
    Example:
      valhalla regression evaluate --format tsv || echo "a lever is throttled"
    """
    from valhalla_cli.services import regression

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction(write=not dry_run) as session:
        run = regression.evaluate(session, at=when, actor=cfg.actor, dry_run=dry_run)
    emit(run.results, output, columns=EVAL_COLUMNS)
    if run.refusal:
        refuse(run.refusal)


@app.command("state")
def state(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """List the levers: throttled or not, since when, which metric, its figures and why.

    \b
    Example:
      valhalla regression state --json
    """
    from valhalla_cli.services import regression

    show(ctx, lambda session: regression.state(session), fmt, as_json,
         columns=columns_of(regression.LeverState))


@app.command("release")
def release(
    ctx: typer.Context,
    lever: Annotated[str, typer.Argument(help=f"{words(LEVERS)}.")],
    reason: ReasonOpt,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Clear a lever's throttle (a human decision, audited).

    \b
    Example:
      valhalla regression release followups --reason "SMS provider outage fixed"
    """
    from valhalla_cli.services import regression

    write(
        ctx, lambda session, cfg, when: regression.release(
            session, lever=lever, reason=reason, actor=cfg.actor, at=when),
        fmt, as_json, at=at)


@app.command("policies")
def policies(ctx: typer.Context, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """List the regression policies (one per metric).

    \b
    Example:
      valhalla regression policies --json
    """
    from valhalla_cli.services import regression

    show(ctx, lambda session: regression.list_policies(session), fmt, as_json,
         columns=columns_of(regression.PolicyView))


@app.command("policy-set")
def policy_set(
    ctx: typer.Context,
    metric: Annotated[str, typer.Argument(help="The KPI metric, e.g. followup_completed.")],
    lever: Annotated[Optional[str], typer.Option("--lever", help=f"{words(LEVERS)}.")] = None,
    statistic: Annotated[Optional[str], typer.Option(
        "--statistic", help="mean (of the values) or rate (events per hour).")] = None,
    recent: Annotated[Optional[int], typer.Option(
        "--recent", help="Events in the recent window.")] = None,
    baseline: Annotated[Optional[int], typer.Option(
        "--baseline", help="Events in the baseline window.")] = None,
    max_drop_pct: Annotated[Optional[float], typer.Option(
        "--max-drop-pct", help="Throttle at this drop, in percent.")] = None,
    confidence: Annotated[Optional[float], typer.Option(
        "--confidence", help="One-sided significance level; 0 turns the test off.")] = None,
    enabled: Annotated[Optional[bool], typer.Option("--enable/--disable",
                                                    help="Evaluate this policy or not.")] = None,
    reason: Annotated[Optional[str], typer.Option(
        "--reason", "-r", help="Why (recorded in the audit log).")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Change (or create) a metric's regression policy. Audited.

    \b
    Example:
      valhalla regression policy-set buyer_feedback --max-drop-pct 25 --confidence 0.995
    """
    from valhalla_cli.services import regression

    write(
        ctx, lambda session, cfg, when: regression.set_policy(
             session, metric=metric, actor=cfg.actor, at=when, lever=lever, statistic=statistic,
            recent_window=recent, baseline_window=baseline, max_drop_pct=max_drop_pct,
            confidence=confidence, enabled=enabled, reason=reason),
        fmt, as_json, at=at, shown=lambda r: r.policy, columns=columns_of(regression.PolicyView))
