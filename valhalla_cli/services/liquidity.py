"""Buyer liquidity: how cash buyers react to the deals sent to them, per market (SPEC 12).

Each feedback event is stored in `buyer_feedback_event` and folded, in the same transaction,
into `buyer_liquidity_node`: one row per (province, market, property type) and business date,
upserted atomically (INSERT ... ON CONFLICT DO UPDATE on both engines). A score sums at most 90
node rows, however many events the table holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import upsert_insert
from valhalla_cli.errors import BadInput
from valhalla_cli.importing import Progress, RowSource
from valhalla_cli.inputs import (
    market_key,
    parse_market,
    parse_property_type,
    parse_province,
    parse_text,
)
from valhalla_cli.models import BuyerFeedbackEvent, BuyerLiquidityNode
from valhalla_cli.models.types import table_of

WINDOW_DAYS = 90
MIN_SENT = 10
TARGET_RESPONSE_RATE = Fraction(60, 100)
TARGET_CLOSE_RATE = Fraction(25, 100)
HOT, WARM, COLD, UNKNOWN = "hot", "warm", "cold", "unknown"

# ---------------------------------------------------------------------------------------------
# The score (a pure rule)
# ---------------------------------------------------------------------------------------------


def round_half_up(value: Fraction) -> int:
    """Round an exact non-negative rational half up to a whole number (62.5 -> 63)."""
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


def score_of(sent: int, responded: int, closed: int) -> tuple[int | None, str]:
    """SPEC 12: 100 x (0.5 min(1, rr/0.60) + 0.5 min(1, cr/0.25)), rounded half up, and the band.

    Computed in exact rational arithmetic (never float), so a half is a half.
    """
    if sent < MIN_SENT:
        return None, UNKNOWN
    response_rate = Fraction(responded, sent)
    close_rate = Fraction(closed, sent)
    raw = 100 * (Fraction(1, 2) * min(Fraction(1), response_rate / TARGET_RESPONSE_RATE)
                 + Fraction(1, 2) * min(Fraction(1), close_rate / TARGET_CLOSE_RATE))
    score = round_half_up(raw)
    return score, band_of(score)


def band_of(score: int | None) -> str:
    if score is None:
        return UNKNOWN
    if score >= 80:
        return HOT
    if score >= 50:
        return WARM
    return COLD


def window_of(at: datetime, business_timezone: str) -> tuple[date, date]:
    """The 90 business dates ending with the business date of `at` (first, last), inclusive."""
    from valhalla_cli.clock import business_date

    last = business_date(at, business_timezone)
    return last - timedelta(days=WINDOW_DAYS - 1), last


# ---------------------------------------------------------------------------------------------
# Read models
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiquidityScore:
    province: str
    market: str | None
    property_type: str
    window_start: date
    window_end: date
    sent: int
    responded: int
    closed: int
    response_rate: float | None
    close_rate: float | None
    score: int | None
    band: str


def _score_view(province: str, market: str | None, property_type: str, first: date, last: date,
                sent: int, responded: int, closed: int) -> LiquidityScore:
    score, band = score_of(sent, responded, closed)
    return LiquidityScore(
        province=province, market=market, property_type=property_type, window_start=first,
        window_end=last, sent=sent, responded=responded, closed=closed,
        response_rate=responded / sent if sent else None,
        close_rate=closed / sent if sent else None,
        score=score, band=band,
    )


def score(session: Session, *, province: str, market: str | None, property_type: str | None,
          at: datetime, business_timezone: str) -> LiquidityScore:
    """The node's score over the trailing window (sums at most 90 node rows).

    Without a market (an offer for a whole province) there is no node: unknown.
    """
    province = parse_province(province)
    property_type = parse_property_type(property_type)
    first, last = window_of(at, business_timezone)
    if market is None:
        return _score_view(province, None, property_type, first, last, 0, 0, 0)
    market = parse_market(market)
    node = BuyerLiquidityNode
    row = session.execute(
        select(func.coalesce(func.sum(col(node.sent)), 0),
               func.coalesce(func.sum(col(node.responded)), 0),
               func.coalesce(func.sum(col(node.closed)), 0))
        .where(col(node.province) == province, col(node.market_key) == market_key(market),
               col(node.property_type) == property_type,
               col(node.business_date) >= first, col(node.business_date) <= last)
    ).one()
    return _score_view(province, market, property_type, first, last,
                       int(row[0]), int(row[1]), int(row[2]))


@dataclass(frozen=True)
class NodeView:
    province: str
    market: str
    property_type: str
    window_start: date
    window_end: date
    sent: int
    responded: int
    closed: int
    response_rate: float | None
    close_rate: float | None
    score: int | None
    band: str
    last_feedback_on: date | None


def nodes(session: Session, *, province: str | None, at: datetime, business_timezone: str
          ) -> list[NodeView]:
    """Every node with feedback in the window, with its score (served by the date index)."""
    first, last = window_of(at, business_timezone)
    node = BuyerLiquidityNode
    query = (
        select(col(node.province), func.min(col(node.market)), col(node.property_type),
               func.sum(col(node.sent)),
               func.sum(col(node.responded)), func.sum(col(node.closed)),
               func.max(col(node.business_date)))
        .where(col(node.business_date) >= first, col(node.business_date) <= last)
        .group_by(col(node.province), col(node.market_key), col(node.property_type))
        .order_by(col(node.province), col(node.market_key), col(node.property_type))
    )
    if province is not None:
        query = query.where(col(node.province) == parse_province(province))
    views = []
    for prov, market, ptype, sent, responded, closed, latest in session.execute(query):
        base = _score_view(prov, market, ptype, first, last, int(sent), int(responded),
                           int(closed))
        views.append(NodeView(**{**base.__dict__, "last_feedback_on": latest}))
    return views


# ---------------------------------------------------------------------------------------------
# Recording feedback
# ---------------------------------------------------------------------------------------------

NodeKey = tuple[str, str, str, date]  # (province, market key, property type, business date)


def _upsert_nodes(session: Session, deltas: dict[NodeKey, list[Any]]) -> None:
    """Add (sent, responded, closed) to each node-day atomically; keys sorted (no deadlocks)."""
    if not deltas:
        return
    insert = upsert_insert(session)
    rows = [
        {"province": p, "market": v[3], "market_key": k, "property_type": t, "business_date": d,
         "sent": v[0], "responded": v[1], "closed": v[2]}
        for (p, k, t, d), v in sorted(deltas.items())
    ]
    node = table_of(BuyerLiquidityNode)
    for start in range(0, len(rows), 1000):
        stmt = insert(node).values(rows[start:start + 1000])
        stmt = stmt.on_conflict_do_update(
            index_elements=["province", "market_key", "property_type", "business_date"],
            set_={
                "sent": node.c.sent + stmt.excluded.sent,
                "responded": node.c.responded + stmt.excluded.responded,
                "closed": node.c.closed + stmt.excluded.closed,
            },
        )
        session.execute(stmt)


_RETURNED = ("id", "at", "business_date", "province", "market", "property_type", "buyer",
             "responded", "closed", "deal_ref")


def _insert_events(session: Session, rows: list[dict[str, Any]]) -> list[Any]:
    """Insert events, skipping (deal_ref, buyer) pairs already recorded; returns inserted rows."""
    if not rows:
        return []
    from valhalla_cli.models.importing import import_batch_of

    batch = import_batch_of(session)  # a bulk import's rows stay hidden until it finishes
    if batch is not None:
        rows = [{**row, "import_batch_id": batch} for row in rows]
    insert = upsert_insert(session)
    table = table_of(BuyerFeedbackEvent)
    stmt = (insert(table).values(rows)
            .on_conflict_do_nothing(index_elements=["deal_ref", "buyer"])
            .returning(*(table.c[name] for name in _RETURNED)))
    return list(session.execute(stmt))


def _fold(inserted: Iterable[Any]) -> dict[NodeKey, list[Any]]:
    """Per node: [sent, responded, closed, the market's name for a new node row]."""
    deltas: dict[NodeKey, list[Any]] = {}
    for row in inserted:
        key = (row.province, market_key(row.market), row.property_type, row.business_date)
        acc = deltas.setdefault(key, [0, 0, 0, row.market])
        acc[0] += 1
        acc[1] += 1 if row.responded else 0
        acc[2] += 1 if row.closed else 0
    return deltas


@dataclass(frozen=True)
class FeedbackResult:
    id: int
    created: bool
    at: datetime
    business_date: date
    province: str
    market: str
    property_type: str
    buyer: str
    responded: bool
    closed: bool
    deal_ref: str | None
    liquidity: LiquidityScore


def _check_outcome(responded: bool | None, closed: bool) -> bool:
    if responded is None:
        raise BadInput("say whether the buyer responded: --responded or --no-response")
    if closed and not responded:
        raise BadInput("--closed needs --responded: a buyer who closed responded")
    return responded


def record_feedback(
    session: Session, *, province: str, market: str, buyer: str, property_type: str | None,
    responded: bool | None, closed: bool, deal_ref: str | None, at: datetime, actor: str,
    business_timezone: str,
) -> FeedbackResult:
    """Record one buyer reaction, update its node and emit `buyer_feedback` (1 if responded).

    With `--deal-ref`, (deal_ref, buyer) is the natural key: the same feedback again is a no-op
    (`created: false`); a different outcome for the same pair is refused as bad input (events
    are facts, not edited).
    """
    from valhalla_cli.clock import business_date
    from valhalla_cli.services import kpi

    province = parse_province(province)
    market = parse_market(market)
    property_type = parse_property_type(property_type)
    buyer_name = parse_text(buyer, field="--buyer", required=True)
    ref = parse_text(deal_ref, field="--deal-ref")
    responded = _check_outcome(responded, closed)
    day = business_date(at, business_timezone)
    row = {"at": at, "business_date": day, "province": province, "market": market,
           "property_type": property_type, "buyer": buyer_name, "responded": responded,
           "closed": closed, "deal_ref": ref, "source": "cli", "actor": actor}
    inserted = _insert_events(session, [row])
    created = bool(inserted)
    if created:
        event = inserted[0]
        _upsert_nodes(session, _fold(inserted))
        kpi.emit(session, metric="buyer_feedback", value=1.0 if responded else 0.0, at=at,
                 province=province, market=market, ref=ref, source="liquidity")
    else:
        event = session.execute(
            select(*(table_of(BuyerFeedbackEvent).c[name] for name in _RETURNED))
            .where(col(BuyerFeedbackEvent.deal_ref) == ref,
                   col(BuyerFeedbackEvent.buyer) == buyer_name)
        ).one()
        same = (event.province, event.market, event.property_type, bool(event.responded),
                bool(event.closed)) == (province, market, property_type, responded, closed)
        if not same:
            raise BadInput(
                f"feedback from {buyer_name!r} on deal {ref!r} is already recorded (event "
                f"{event.id}: {'responded' if event.responded else 'no response'}"
                f"{', closed' if event.closed else ''}, {event.province} {event.market} "
                f"{event.property_type}); feedback events are not edited")
    view = score(session, province=event.province, market=event.market,
                 property_type=event.property_type, at=at, business_timezone=business_timezone)
    return FeedbackResult(
        id=event.id, created=created, at=event.at, business_date=event.business_date,
        province=event.province, market=event.market, property_type=event.property_type,
        buyer=event.buyer, responded=bool(event.responded), closed=bool(event.closed),
        deal_ref=event.deal_ref, liquidity=view,
    )


# ---------------------------------------------------------------------------------------------
# Bulk import
# ---------------------------------------------------------------------------------------------

IMPORT_REQUIRED = ("province", "market", "buyer", "responded", "at")
IMPORT_OPTIONAL = ("property_type", "closed", "deal_ref")
CHUNK = 1000
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def _flag(value: Any, field: str) -> bool:
    from valhalla_cli.importing import RowError

    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RowError(field, f"{value!r} is not true/false (or 1/0, yes/no)")


def _row_validator(business_timezone: str, actor: str):
    from valhalla_cli.clock import business_date
    from valhalla_cli.importing import RowError
    from valhalla_cli.inputs import parse_instant

    def validate(row: dict[str, Any]) -> dict[str, Any]:
        checks = (("province", lambda: parse_province(str(row["province"]))),
                  ("market", lambda: parse_market(str(row["market"]), field="market")),
                  ("property_type", lambda: parse_property_type(row.get("property_type"),
                                                                     field="property_type")),
                  ("buyer", lambda: parse_text(str(row["buyer"]), field="buyer",
                                               required=True)),
                  ("deal_ref", lambda: parse_text(
                      None if row.get("deal_ref") is None else str(row["deal_ref"]),
                      field="deal_ref")))
        values: dict[str, Any] = {}
        for name, check in checks:
            try:
                values[name] = check()
            except BadInput as exc:
                raise RowError(name, exc.message) from None
        responded = _flag(row["responded"], "responded")
        closed = False if row.get("closed") is None else _flag(row["closed"], "closed")
        if closed and not responded:
            raise RowError("closed", "a buyer who closed responded (responded is false)")
        try:
            at = parse_instant(str(row["at"]), business_timezone, field="at")
        except BadInput as exc:
            raise RowError("at", exc.message) from None
        return {**values, "responded": responded, "closed": closed, "at": at,
                "business_date": business_date(at, business_timezone), "source": "import",
                "actor": actor}

    return validate


@dataclass(frozen=True)
class SkippedRow:
    line: int
    reason: str
    detail: str


@dataclass(frozen=True)
class ImportResult:
    file: str
    imported: int
    skipped: int
    skipped_rows: list[SkippedRow]


MAX_REPORTED = 100


def import_rows(session: Session, source: RowSource, *, business_timezone: str, actor: str,
                progress: Progress | None = None) -> ImportResult:
    """All or nothing for malformed rows (exit 2, naming file:line and field; the caller's
    transaction rolls back); a row whose (deal_ref, buyer) is already recorded is skipped and
    reported as `duplicate`."""
    from valhalla_cli.importing import import_in_batches
    from valhalla_cli.services import kpi

    imported = skipped = 0
    reported: list[SkippedRow] = []

    def apply(batch: list[tuple[int, dict[str, Any]]]) -> None:
        nonlocal imported, skipped
        inserted = _insert_events(session, [row for _, row in batch])
        taken = {(r.deal_ref, r.buyer) for r in inserted if r.deal_ref is not None}
        for line, row in batch:
            key = (row["deal_ref"], row["buyer"])
            if row["deal_ref"] is None or key in taken:
                taken.discard(key)  # a second copy within the batch is a duplicate
                continue
            skipped += 1
            if len(reported) < MAX_REPORTED:
                reported.append(SkippedRow(line, "duplicate",
                                           f"feedback from {row['buyer']!r} on deal "
                                           f"{row['deal_ref']!r} is already recorded"))
        for node, (sent, responded, closed, name) in _fold(inserted).items():
            acc = deltas.setdefault(node, [0, 0, 0, name])
            acc[0] += sent
            acc[1] += responded
            acc[2] += closed
        kpi.insert_many(session, [
            {"metric": "buyer_feedback", "value": 1.0 if r.responded else 0.0,
             "occurred_at": r.at, "province": r.province, "market": r.market,
             "ref": r.deal_ref, "source": "liquidity import"}
            for r in inserted
        ])
        imported += len(inserted)

    # Node-day totals are folded in once, at the end (in the import's last transaction, with
    # its flip when the face writes in short transactions): bounded by the node-days touched.
    deltas: dict[NodeKey, list[Any]] = {}
    import_in_batches(source, validate=_row_validator(business_timezone, actor), apply=apply,
                      chunk=CHUNK, progress=progress)
    _upsert_nodes(session, deltas)
    return ImportResult(file=source.name, imported=imported, skipped=skipped,
                        skipped_rows=reported)


# ---------------------------------------------------------------------------------------------
# The scorecard's figure (SPEC 20)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodResponse:
    since: date
    until: date
    sent: int
    responded: int
    response_rate: float | None  # responded / sent; None when nothing was sent


def period_response(session: Session, *, since: date, until: date) -> PeriodResponse:
    """Buyer response over business dates [since, until] across every node (the node rows of
    the period, served by the business-date index)."""
    node = BuyerLiquidityNode
    sent, responded = session.execute(
        select(func.coalesce(func.sum(col(node.sent)), 0),
               func.coalesce(func.sum(col(node.responded)), 0))
        .where(col(node.business_date) >= since, col(node.business_date) <= until)).one()
    sent, responded = int(sent), int(responded)
    return PeriodResponse(since, until, sent, responded,
                          round(responded / sent, 4) if sent else None)
