"""Liquidity reads over the node rows: one node's score, every node of the window, and the
scorecard's buyer response rate over a period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.inputs import market_key, parse_market, parse_property_type, parse_province
from valhalla_cli.models import BuyerLiquidityNode
from valhalla_cli.services.liquidity.rules import MIN_SENT, WINDOW_DAYS, score_of, window_of

__all__ = ["LiquidityScore", "NodeView", "PeriodResponse", "nodes", "period_response", "score"]


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
    # Why the band is unknown, in words, with what it takes (None when scored).
    note: str | None = None


def _score_view(province: str, market: str | None, property_type: str, first: date, last: date,
                sent: int, responded: int, closed: int) -> LiquidityScore:
    score, band = score_of(sent, responded, closed)
    return LiquidityScore(
        province=province, market=market, property_type=property_type, window_start=first,
        window_end=last, sent=sent, responded=responded, closed=closed,
        response_rate=responded / sent if sent else None,
        close_rate=closed / sent if sent else None,
        score=score, band=band,
        note=None if score is not None else (
            f"unknown: needs {MIN_SENT} buyer sends in the {WINDOW_DAYS} days ending {last} "
            f"({sent} so far); record them with valhalla liquidity feedback {province} "
            f"--market {market or 'MARKET'} --buyer B --responded|--no-response"
            if market is not None else
            "unknown: liquidity is kept per market; give --market"),
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
    note: str | None
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
