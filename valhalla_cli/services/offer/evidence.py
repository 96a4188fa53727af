"""Reading offer evidence back: newest first, or one record in full."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.inputs import parse_province
from valhalla_cli.models import OfferEvidence
from valhalla_cli.models.types import pk
from valhalla_cli.money import from_cents

__all__ = ["EvidenceDetail", "EvidenceSummary", "list_evidence", "show_evidence"]


@dataclass(frozen=True)
class EvidenceSummary:
    id: int
    at: datetime
    province: str
    market: str | None
    property_type: str
    deal_ref: str | None
    outcome: str
    reason: str | None
    mode: str
    throttled: bool
    arv: Decimal
    mao: Decimal
    max_offer: Decimal | None
    opening_offer: Decimal | None
    liquidity_score: int | None
    liquidity_band: str
    actor: str


@dataclass(frozen=True)
class EvidenceDetail:
    id: int
    at: datetime
    recorded_at: datetime
    actor: str
    province: str
    market: str | None
    property_type: str
    deal_ref: str | None
    note: str | None
    mode: str
    throttled: bool
    outcome: str
    reason: str | None
    arv: Decimal
    repairs: Decimal
    fees: Decimal
    mao: Decimal
    max_offer: Decimal | None
    opening_offer: Decimal | None
    liquidity_score: int | None
    liquidity_band: str
    inputs: dict[str, Any]
    policy: dict[str, Any]
    comps: list[Any] | None
    liquidity: dict[str, Any]
    result: dict[str, Any]


def _money(cents: int | None) -> Decimal | None:
    return None if cents is None else from_cents(cents)


def list_evidence(session: Session, *, province: str | None = None, deal_ref: str | None = None,
                  limit: int = 50) -> list[EvidenceSummary]:
    """Newest first (served by the primary key, or (province, id), or deal_ref)."""
    if limit < 1 or limit > 10_000:
        raise BadInput("--limit must be between 1 and 10000")
    query = select(OfferEvidence)
    if province is not None:
        query = query.where(col(OfferEvidence.province) == parse_province(province))
    if deal_ref is not None:
        query = query.where(col(OfferEvidence.deal_ref) == deal_ref.strip())
    query = query.order_by(col(OfferEvidence.id).desc()).limit(limit)
    return [
        EvidenceSummary(
            id=pk(r.id), at=r.at, province=r.province, market=r.market,
            property_type=r.property_type, deal_ref=r.deal_ref, outcome=r.outcome,
            reason=r.reason, mode=r.mode, throttled=r.throttled, arv=from_cents(r.arv_cents),
            mao=from_cents(r.mao_cents), max_offer=_money(r.max_offer_cents),
            opening_offer=_money(r.opening_offer_cents), liquidity_score=r.liquidity_score,
            liquidity_band=r.liquidity_band, actor=r.actor,
        )
        for r in session.scalars(query)
    ]


def show_evidence(session: Session, *, evidence_id: int) -> EvidenceDetail:
    if evidence_id < 1:
        raise BadInput(f"evidence id {evidence_id} must be a positive whole number")
    r = session.get(OfferEvidence, evidence_id)
    if r is None:
        raise NotFound(f"no offer evidence {evidence_id} (see `valhalla offer evidence list`)")
    return EvidenceDetail(
        id=pk(r.id), at=r.at, recorded_at=r.recorded_at, actor=r.actor, province=r.province,
        market=r.market, property_type=r.property_type, deal_ref=r.deal_ref, note=r.note,
        mode=r.mode, throttled=r.throttled, outcome=r.outcome, reason=r.reason,
        arv=from_cents(r.arv_cents), repairs=from_cents(r.repairs_cents),
        fees=from_cents(r.fees_cents), mao=from_cents(r.mao_cents),
        max_offer=_money(r.max_offer_cents), opening_offer=_money(r.opening_offer_cents),
        liquidity_score=r.liquidity_score, liquidity_band=r.liquidity_band, inputs=r.inputs,
        policy=r.policy, comps=r.comps, liquidity=r.liquidity, result=r.result,
    )
