"""`valhalla offer outcome` and `valhalla offer funnel`: an offer's life after it is computed.

Registered on the `offer` sub-app by `register(app)` (called from commands/offer.py).
"""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    FormatOpt,
    JsonOpt,
    ReportFormatOpt,
    UntilOpt,
    at_instant,
    bigint,
    database,
    emit,
    fmt_of,
    refuse,
    report_period,
    say,
    settings,
)
from valhalla_cli.vocabulary import OFFER_FUNNEL_GROUPS, OFFER_PRICED_STAGES, OFFER_STAGES, words

# Selections: an outcome without its stage list and message; a funnel row without its group,
# which a grouped table puts first.
OUTCOME_COLUMNS = ("evidence_id", "status", "recorded", "stage", "previous", "amount", "at",
                   "max_offer", "reason", "over_max_reason")
FUNNEL_COLUMNS = ("since", "until", "sent", "countered", "accepted", "rejected", "contracted",
                  "closed", "withdrawn", "over_max", "decided", "accept_rate", "contract_rate",
                  "median_days_to_accept", "median_days_to_contract", "contracts_priced",
                  "avg_contract_gap")


def outcome(
    ctx: typer.Context,
    evidence_id: Annotated[int, typer.Argument(metavar="EVIDENCE_ID", callback=bigint,
                                               help="The offer's evidence id.")],
    status: Annotated[Optional[str], typer.Option(
        "--status", "-s", help=f"{words(OFFER_STAGES)}.", show_default=False)] = None,
    amount: Annotated[Optional[str], typer.Option(
        "--amount", metavar="AMOUNT",
        help=f"The price at this stage ({', '.join(OFFER_PRICED_STAGES)}).")] = None,
    note: Annotated[Optional[str], typer.Option("--note", help="Kept with the stage.")] = None,
    over_max_reason: Annotated[Optional[str], typer.Option(
        "--over-max-reason", metavar="TEXT", help="Accept above the offer's max_offer anyway, "
        "and why (audited; counted as over_max in the funnel).")] = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Record the stage an offer reached (the stages are listed under --status).

    Stages go sent -> accepted/countered/rejected -> contracted -> closed (a counter is answered
    with accepted or rejected; withdrawn from any open stage). The current stage again is a
    no-op (exit 0). Exit 1: out of order, after a final stage, sending a refused, sandbox or
    throttled offer, or accepting above max_offer without --over-max-reason (the answer says
    why). Exit 2: bad input.

    \b
    Example:
      valhalla offer outcome 42 --status sent
      valhalla offer outcome 42 --status contracted --amount 250000
    """
    from valhalla_cli.services import offer_outcome

    if status is None:
        raise typer.BadParameter("is required", param_hint="--status")
    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction(write=True) as session:
        result = offer_outcome.record(session, evidence_id=evidence_id, status=status,
                                      amount=amount, note=note, at=when, actor=cfg.actor,
                                      over_max_reason=over_max_reason)
    emit(result, output, columns=OUTCOME_COLUMNS)
    if result.refusal:
        refuse(result.refusal)
    if result.recorded:
        say(ctx, f"offer evidence {evidence_id}: {result.previous or 'computed'} -> "
                 f"{result.stage}")
    else:
        say(ctx, f"offer evidence {evidence_id} is already {result.stage}: nothing changed")


def funnel(
    ctx: typer.Context,
    since: Annotated[Optional[str], typer.Option(
        "--since", metavar="DATE", help="First business date the offers were sent, inclusive "
        "(default: 29 days before --until).")] = None,
    until: UntilOpt = None,
    by: Annotated[Optional[str], typer.Option(
        "--by", help=f"Group by {words(OFFER_FUNNEL_GROUPS)}.")] = None,
    at: AtOpt = None, fmt: ReportFormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """The deal funnel of the offers sent in a period: counts, accept and contract rates.

    accept_rate = accepted / (accepted + rejected); contract_rate = contracted / sent; the
    medians are days from sent; avg_contract_gap = mean of contracted price - max_offer.

    \b
    Example:
      valhalla offer funnel --since 2027-01-01 --until 2027-01-31 --by market
    """
    from valhalla_cli.services import offer_outcome

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json, markdown=True)
    when = at_instant(ctx, at)
    first, last = report_period(since, until)
    with database(ctx) as db, db.transaction() as session:
        rows = offer_outcome.funnel(session, at=when, since=first, until=last, by=by,
                                    business_timezone=cfg.business_timezone)
    if by is None:
        whole = {k: v for k, v in rows[0].__dict__.items() if k != "group"}
        emit(whole, output, columns=FUNNEL_COLUMNS, title="Offer funnel")
    else:
        data = [{by: r.group, **{k: v for k, v in r.__dict__.items() if k != "group"}}
                for r in rows]
        emit(data, output, columns=(by, *FUNNEL_COLUMNS), title=f"Offer funnel by {by}")


def register(app: typer.Typer) -> None:
    app.command("outcome")(outcome)
    app.command("funnel")(funnel)
