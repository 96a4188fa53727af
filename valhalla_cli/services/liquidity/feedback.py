"""Recording buyer feedback: the event (once per deal and buyer) and its node-day, upserted
atomically in the same transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import upsert_insert
from valhalla_cli.errors import BadInput
from valhalla_cli.inputs import (
    market_key,
    parse_market,
    parse_property_type,
    parse_province,
    parse_text,
)
from valhalla_cli.models import BuyerFeedbackEvent, BuyerLiquidityNode
from valhalla_cli.models.types import table_of
from valhalla_cli.services.liquidity.reads import LiquidityScore, score
from valhalla_cli.services.liquidity.rules import KPI_BUYER_FEEDBACK

__all__ = ["FeedbackResult", "NodeKey", "record_feedback"]

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
        kpi.emit(session, metric=KPI_BUYER_FEEDBACK, value=1.0 if responded else 0.0, at=at,
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
