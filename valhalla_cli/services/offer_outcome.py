"""What happens to an offer after it is computed: its stages and the deal funnel.

The evidence of a computed offer is immutable; what happened next is appended to
`offer_outcome`, one row per stage the offer reached, in this order:

    sent -> accepted | countered | rejected
    countered -> accepted | rejected          (a counter is answered, then contracted)
    accepted -> contracted -> closed
    withdrawn from any open stage (sent, countered, accepted, contracted)

`rejected`, `closed` and `withdrawn` are final. Recording the offer's current stage again is a
no-op (exit 0, nothing appended); any other stage out of this order, or after a final one, is
refused with a reason (exit 1). Only an offer that may be sent can be `sent`: not a refused
offer, not one computed in sandbox mode, not one computed while the offers lever was throttled
("do not send").

The funnel is a cohort: the offers `sent` in the period, and every later stage they reached
(whenever it happened), so that contract_rate = contracted / sent compares like with like.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import case, extract, func, literal_column, select, union_all, update
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.models import OfferEvidence, OfferFunnel, OfferOutcome
from valhalla_cli.models.types import view_of
from valhalla_cli.money import from_cents, to_cents
from valhalla_cli.services.audit import Pack
from valhalla_cli.services.refusals import Refusal
from valhalla_cli.vocabulary import OFFER_FUNNEL_GROUPS, OFFER_PRICED_STAGES, OFFER_STAGES

PACK = Pack.OFFER
KPI_OFFER_ACCEPTED = "offer_accepted"  # KPI: 1 per offer accepted, 0 per offer rejected
KPI_OFFER_CONTRACTED = "offer_contracted"  # KPI: 1 per offer under contract
STAGES = OFFER_STAGES
FINAL = ("rejected", "closed", "withdrawn")
# The stages each stage may be followed by (None: the offer has no outcome yet).
NEXT: dict[str | None, tuple[str, ...]] = {
    None: ("sent",),
    "sent": ("accepted", "countered", "rejected", "withdrawn"),
    "countered": ("accepted", "rejected", "withdrawn"),
    "accepted": ("contracted", "withdrawn"),
    "contracted": ("closed", "withdrawn"),
    "rejected": (), "closed": (), "withdrawn": (),
}
# --amount is the price at that stage: countered (the seller's counter), accepted, contracted,
# closing. A sent, rejected or withdrawn offer has no price of its own.
PRICED = OFFER_PRICED_STAGES
GROUPS = OFFER_FUNNEL_GROUPS

OUT_OF_ORDER = "out_of_order"
OFFER_FINAL = "offer_final"
EVIDENCE_REFUSED = "evidence_refused"
EVIDENCE_SANDBOX = "evidence_sandbox"
EVIDENCE_THROTTLED = "evidence_throttled"
OVER_MAX = "over_max"


def check_stage(value: str | None) -> str:
    stage = (value or "").strip().lower()
    if stage not in STAGES:
        raise BadInput(f"--status {value!r}: use one of {', '.join(STAGES)}")
    return stage


def refusal(current: str | None, stage: str) -> tuple[str, str] | None:
    """Why `stage` may not follow `current` (None when it may). A pure rule of the ladder of
    stages; the same stage as `current` is handled by the caller (a no-op)."""
    if current in FINAL:
        return OFFER_FINAL, (f"the offer is {current} (a final stage): nothing can follow it")
    if stage not in NEXT[current]:
        if current is None:
            return OUT_OF_ORDER, f"{stage} before sent: record `--status sent` first"
        allowed = ", ".join(NEXT[current])
        return OUT_OF_ORDER, (f"{stage} cannot follow {current} (after {current} comes "
                              f"{allowed})")
    return None


@dataclass(frozen=True)
class StageView:
    status: str
    at: datetime
    amount: Decimal | None
    actor: str
    note: str | None


@dataclass(frozen=True)
class OutcomeResult:
    evidence_id: int
    status: str  # the stage asked for
    recorded: bool  # appended now (false for a no-op repeat and for a refusal)
    stage: str | None  # the offer's stage after the command
    previous: str | None  # its stage before
    amount: Decimal | None
    at: datetime
    max_offer: Decimal | None
    stages: list[StageView]
    reason: str | None = None
    message: str | None = None
    over_max_reason: str | None = None  # an acceptance above max_offer, and why it was taken

    @property
    def refusal(self) -> Refusal | None:
        """A stage out of order, after a final one, or from a refused or sandbox evidence."""
        if self.reason is None:
            return None
        return Refusal(self.reason, f"{self.reason}: {self.message}")


def _stages(session: Session, evidence_id: int) -> list[OfferOutcome]:
    return list(session.scalars(select(OfferOutcome).where(col(OfferOutcome.evidence_id)
                                                           == evidence_id)
                                .order_by(col(OfferOutcome.at), col(OfferOutcome.id))))


def _stage_views(rows: list[OfferOutcome]) -> list[StageView]:
    return [view_of(StageView, r, amount=None if r.amount_cents is None
                    else from_cents(r.amount_cents)) for r in rows]


def record(session: Session, *, evidence_id: int, status: str, amount: str | Decimal | None,
           note: str | None, at: datetime, actor: str, recorded_at: datetime | None = None,
           over_max_reason: str | None = None) -> OutcomeResult:
    """Append the stage an offer reached (or say why not). Emits `offer_accepted` (1 accepted,
    0 rejected) and `offer_contracted` (1); audited.

    Offers are bounded: an acceptance priced above the offer's max_offer is refused
    (`over_max`) unless `over_max_reason` says why it is taken anyway; the reason is audited
    and the funnel counts such acceptances (`over_max`)."""
    from valhalla_cli.clock import utcnow
    from valhalla_cli.inputs import REASON_MAX_LENGTH, parse_money, parse_text
    from valhalla_cli.services import audit, kpi

    stage = check_stage(status)
    if evidence_id < 1:
        raise BadInput(f"evidence id {evidence_id} must be a positive whole number")
    price = None
    if amount is not None:
        if stage not in PRICED:
            raise BadInput(f"--amount goes with {', '.join(PRICED)} (the price at that stage), "
                           f"not with {stage}")
        price = parse_money(amount, field="--amount", allow_zero=False)
    note_text = parse_text(note, field="--note", max_length=REASON_MAX_LENGTH)
    over_reason = parse_text(over_max_reason, field="--over-max-reason",
                             max_length=REASON_MAX_LENGTH)
    if over_reason is not None and stage != "accepted":
        raise BadInput(f"--over-max-reason goes with --status accepted, not with {stage}")
    # The row lock serializes two outcomes of one offer on PostgreSQL (SQLite writes are
    # serialized by BEGIN IMMEDIATE); the unique (evidence_id, status) backs it up.
    evidence = session.scalars(select(OfferEvidence).where(col(OfferEvidence.id) == evidence_id)
                               .with_for_update()).first()
    if evidence is None:
        raise NotFound(f"no offer evidence {evidence_id} (see `valhalla offer evidence list`)")
    rows = _stages(session, evidence_id)
    current = rows[-1].status if rows else None
    max_offer = None if evidence.max_offer_cents is None else from_cents(evidence.max_offer_cents)

    def answer(recorded: bool, stage_now: str | None, reason: str | None = None,
               message: str | None = None, listed: list[OfferOutcome] = rows) -> OutcomeResult:
        return OutcomeResult(evidence_id=evidence_id, status=stage, recorded=recorded,
                             stage=stage_now, previous=current, amount=price, at=at,
                             max_offer=max_offer, stages=_stage_views(listed), reason=reason,
                             message=message, over_max_reason=over if recorded else None)

    over = None
    if (stage == "accepted" and price is not None and max_offer is not None
            and price > max_offer):
        over = over_reason

    if stage == current:
        return answer(False, current)
    why = refusal(current, stage)
    if why is None and stage == "sent":
        if evidence.outcome == "refused":
            why = (EVIDENCE_REFUSED, f"offer evidence {evidence_id} was refused "
                   f"({evidence.reason}): there is no offer to send")
        elif evidence.mode != "production":
            why = (EVIDENCE_SANDBOX, f"offer evidence {evidence_id} was computed in sandbox "
                   "mode (go-live was off): compute it again once live")
        elif evidence.throttled:
            why = (EVIDENCE_THROTTLED, f"offer evidence {evidence_id} was computed while the "
                   "offers lever was throttled (do not send)")
    if why is None and stage == "accepted" and price is not None and max_offer is not None \
            and price > max_offer and over is None:
        why = (OVER_MAX, f"accepting {price:,.2f} is {price - max_offer:,.2f} above the "
               f"offer's max_offer {max_offer:,.2f} (offers are bounded): renegotiate, or "
               f"record it with --over-max-reason TEXT (audited, counted as over_max)")
    if why is not None:
        return answer(False, current, *why)
    if at < evidence.at:
        raise BadInput(f"--at {at.isoformat()} is before the offer was computed "
                       f"({evidence.at.isoformat()})")
    if rows and at < rows[-1].at:
        raise BadInput(f"--at {at.isoformat()} is before the offer's {current} stage "
                       f"({rows[-1].at.isoformat()})")
    row = OfferOutcome(evidence_id=evidence_id, status=stage,
                       amount_cents=None if price is None else to_cents(price), note=note_text,
                       at=at, recorded_at=recorded_at or utcnow(), actor=actor)
    session.add(row)
    _advance_funnel(session, evidence_id, evidence, stage, at, price)
    session.flush()
    ref = evidence.deal_ref or f"offer_evidence:{evidence_id}"
    if stage in ("accepted", "rejected"):
        kpi.emit(session, metric=KPI_OFFER_ACCEPTED, value=1.0 if stage == "accepted" else 0.0,
                 at=at, province=evidence.province, market=evidence.market, ref=ref,
                 source="offer")
    elif stage == "contracted":
        kpi.emit(session, metric=KPI_OFFER_CONTRACTED, value=1.0, at=at,
                 province=evidence.province, market=evidence.market, ref=ref, source="offer")
    audit.record(session, pack=PACK, action="outcome", actor=actor, at=at,
                 subject=f"offer_evidence:{evidence_id}", before={"stage": current},
                 after={"stage": stage, "amount": None if price is None else str(price),
                        **({"over_max": True, "max_offer": str(max_offer),
                            "over_max_reason": over} if over is not None else {})},
                 reason=over or note_text)
    return answer(True, stage, listed=[*rows, row])


def _advance_funnel(session: Session, evidence_id: int, evidence: OfferEvidence, stage: str,
                    at: datetime, price: Decimal | None) -> None:
    """Keep the offer's `offer_funnel` row in step with the stage just appended: created when
    the offer is sent (every later stage needs `sent` first), then each stage's instant, the
    over-max acceptance and the contract's gap to max_offer."""
    if stage == "sent":
        session.add(OfferFunnel(evidence_id=evidence_id, sent_at=at, province=evidence.province,
                                market=evidence.market, property_type=evidence.property_type))
        return
    cents = None if price is None else to_cents(price)
    values: dict[str, Any] = {f"{stage}_at": at}
    bound = evidence.max_offer_cents
    if stage == "accepted" and cents is not None and bound is not None and cents > bound:
        values["over_max"] = True
    if stage == "contracted" and cents is not None and bound is not None:
        values["contract_gap_cents"] = cents - bound
    session.execute(update(OfferFunnel).where(col(OfferFunnel.evidence_id) == evidence_id)
                    .values(**values))


# ---------------------------------------------------------------------------------------------
# The funnel
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelRow:
    group: str | None
    since: date
    until: date
    sent: int
    countered: int
    accepted: int
    rejected: int
    contracted: int
    closed: int
    withdrawn: int
    over_max: int  # acceptances above the offer's max_offer (each with an audited reason)
    decided: int  # accepted + rejected
    accept_rate: float | None  # accepted / decided
    contract_rate: float | None  # contracted / sent
    median_days_to_accept: float | None
    median_days_to_contract: float | None
    contracts_priced: int  # contracts with a price (the gap is averaged over these)
    avg_contract_gap: Decimal | None  # mean of (contracted price - max_offer)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _days_between(session: Session, later: Any, earlier: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return func.julianday(later) - func.julianday(earlier)
    return extract("epoch", later - earlier) / 86400.0


def _mean_cents(total: int, count: int) -> Decimal:
    """A mean of cents, rounded half up to the cent (exact: Decimal, never float)."""
    cents = (Decimal(total) / Decimal(count)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return from_cents(int(cents))


def funnel(session: Session, *, at: datetime, since: date | None, until: date | None,
           by: str | None, business_timezone: str) -> list[FunnelRow]:
    """The deal funnel of the offers sent in [since, until] (business dates, inclusive;
    default the 30 ending today), aggregated in SQL over `offer_funnel` (one row per sent offer,
    kept by `record`): one grouped count of the cohort's rows, then the two medians' ranks."""
    from valhalla_cli.clock import business_period

    if by is not None and by not in GROUPS:
        raise BadInput(f"--by must be one of {', '.join(GROUPS)}, not {by!r}")
    since, until, lo, hi = business_period(at, since, until, business_timezone)
    f = OfferFunnel
    cohort = [col(f.sent_at) >= lo, col(f.sent_at) < hi]
    group = (getattr(f, by) if by else literal_column("'all'")).label("grp")
    reached = [func.count(col(getattr(f, f"{stage}_at"))) for stage in STAGES[1:]]
    over_max: dict[Any, int] = {}
    counts: dict[Any, dict[str, int]] = {}
    gaps: dict[Any, tuple[int, int]] = {}
    query = (select(group, func.count(), *reached, func.count(case((col(f.over_max), 1))),
                    func.count(col(f.contract_gap_cents)), func.sum(col(f.contract_gap_cents)))
             .where(*cohort))
    if by:  # PostgreSQL: no constant grouping keys
        query = query.group_by(group)
    for grp, *stage_counts, above_n, priced, total in session.execute(query):
        counts[grp] = {stage: int(n) for stage, n in zip(STAGES, stage_counts, strict=True)}
        over_max[grp] = int(above_n)
        if priced:
            gaps[grp] = (int(priced), int(total))
    medians = _medians(session, cohort, group, counts, grouped=by is not None)
    keys = sorted(counts, key=lambda k: (k is None, str(k))) if by else ["all"]
    rows = []
    for key in keys:
        n = {s: counts.get(key, {}).get(s, 0) for s in STAGES}
        priced, total = gaps.get(key, (0, 0))
        decided = n["accepted"] + n["rejected"]
        rows.append(FunnelRow(
            group=None if not by or key is None else str(key), since=since, until=until,
            sent=n["sent"], countered=n["countered"], accepted=n["accepted"],
            rejected=n["rejected"], contracted=n["contracted"], closed=n["closed"],
            withdrawn=n["withdrawn"], over_max=over_max.get(key, 0), decided=decided,
            accept_rate=_rate(n["accepted"], decided),
            contract_rate=_rate(n["contracted"], n["sent"]),
            median_days_to_accept=medians.get(("accepted", key)),
            median_days_to_contract=medians.get(("contracted", key)),
            contracts_priced=priced,
            avg_contract_gap=_mean_cents(total, priced) if priced else None))
    return rows


def _middle_ranks(n: int) -> tuple[int, int]:
    return (n + 1) // 2, (n + 2) // 2


def _medians(session: Session, cohort: list[Any], group: Any,
             counts: dict[Any, dict[str, int]], *, grouped: bool
             ) -> dict[tuple[str, Any], float]:
    """Median days from sent to accepted and to contracted, per group: the counts give the
    middle ranks, one window (row_number) per stage picks them, both stages in one statement."""
    f = OfferFunnel
    picks = []
    for stage in ("accepted", "contracted"):
        ranks = sorted({r for c in counts.values() if c.get(stage)
                        for r in _middle_ranks(c[stage])})
        if not ranks:
            continue
        reached = col(getattr(f, f"{stage}_at"))
        days = _days_between(session, reached, col(f.sent_at))
        ranked = select(
            literal_column(f"'{stage}'").label("stage"), group, days.label("days"),
            func.row_number().over(partition_by=group if grouped else None, order_by=days)
            .label("rn")
        ).where(*cohort, reached.is_not(None)).subquery(f"ranked_{stage}")
        r = ranked
        picks.append(select(r.c.stage, r.c.grp, r.c.rn, r.c.days).where(r.c.rn.in_(ranks)))
    middle: dict[tuple[str, Any], list[float]] = {}
    for stage, grp, rn, value in session.execute(union_all(*picks)) if picks else ():
        if int(rn) in _middle_ranks(counts[grp][stage]):
            middle.setdefault((stage, grp), []).append(float(value))
    return {key: round(sum(v) / len(v), 2) for key, v in middle.items()}
