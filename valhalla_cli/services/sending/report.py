"""Delivery figures: `send report`, the runbook checks `delivery` and `sender`, and the
delivery lines of `valhalla status` and the review page. `log` messages are left out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import BadInput
from valhalla_cli.models import Lead
from valhalla_cli.models.sending import OutboundMessage
from valhalla_cli.services.sending.ledger import meaning
from valhalla_cli.vocabulary import SEND_REPORT_GROUPS

GROUPS = SEND_REPORT_GROUPS
TOP_ERRORS = 5
UNKNOWN_AFTER = timedelta(hours=72)
STUCK_AFTER = timedelta(minutes=10)
TOOK = ("accepted", "sent", "delivered", "undelivered")  # the provider took them


@dataclass(frozen=True)
class ErrorCount:
    code: int
    meaning: str | None
    count: int


@dataclass
class DeliveryFigures:
    accepted: int = 0
    delivered: int = 0
    undelivered: int = 0
    failed: int = 0
    awaiting: int = 0
    not_sent: int = 0
    unknown: int = 0
    delivery_rate: float | None = None
    segments: int = 0
    top_errors: list[ErrorCount] = field(default_factory=list)


@dataclass
class DeliveryRow(DeliveryFigures):
    """One answer of `send report`: the figures of a period, of one group with --by."""

    group: str | None = None
    since: date | None = None
    until: date | None = None


def rate(delivered: int, undelivered: int, failed: int) -> float | None:
    final = delivered + undelivered + failed
    return round(delivered / final, 4) if final else None


F = TypeVar("F", bound=DeliveryFigures)


def _figures(rows: list[Any], at: datetime, into: F) -> F:
    errors: Counter[int] = Counter()
    for row in rows:
        took = row.state in TOOK or (row.state == "failed" and row.accepted_at is not None)
        if took:
            into.accepted += 1
            into.segments += row.segments
        if row.state in ("delivered", "undelivered", "failed", "not_sent"):
            setattr(into, row.state, getattr(into, row.state) + 1)
        if row.state in ("accepted", "sent"):
            into.awaiting += 1
            if row.accepted_at is not None and row.accepted_at <= at - UNKNOWN_AFTER:
                into.unknown += 1
        if row.error_code is not None:
            errors[row.error_code] += 1
    into.delivery_rate = rate(into.delivered, into.undelivered, into.failed)
    into.top_errors = [ErrorCount(code, meaning(code), count)
                       for code, count in sorted(errors.items(),
                                                 key=lambda kv: (-kv[1], kv[0]))[:TOP_ERRORS]]
    return into


def _rows(session: Session, lo: datetime, hi: datetime) -> list[Any]:
    m = OutboundMessage
    return list(session.execute(
        select(col(m.state), col(m.sender), col(m.error_code), col(m.segments),
               col(m.accepted_at), col(m.lead_id))
        .where(col(m.created_at) >= lo, col(m.created_at) < hi, col(m.provider) != "log")))


def report(session: Session, *, since: date | None, until: date | None, by: str | None,
           at: datetime, business_timezone: str) -> list[DeliveryRow]:
    """The period's figures: one row, or one per group (sender, province or error code)."""
    from valhalla_cli.clock import business_period

    group = (by or "").strip().lower() or None
    if group is not None and group not in GROUPS:
        raise BadInput(f"--by must be one of {', '.join(GROUPS)}, not {by!r}")
    since, until, lo, hi = business_period(at, since, until, business_timezone)
    rows = _rows(session, lo, hi)
    if group is None:
        return [_figures(rows, at, DeliveryRow(since=since, until=until))]
    provinces: dict[str, str] = {}
    if group == "province":
        ids = sorted({r.lead_id for r in rows if r.lead_id})
        for i in range(0, len(ids), 500):
            provinces.update(session.execute(
                select(col(Lead.lead_id), col(Lead.province))
                .where(col(Lead.lead_id).in_(ids[i:i + 500]))).tuples())

    def key(row: Any) -> str | None:
        if group == "sender":
            return str(row.sender)
        if group == "province":
            return provinces.get(row.lead_id) if row.lead_id else None
        return None if row.error_code is None else str(row.error_code)

    buckets: dict[str | None, list[Any]] = {}
    for row in rows:
        buckets.setdefault(key(row), []).append(row)
    return [_figures(bucket, at, DeliveryRow(group=name, since=since, until=until))
            for name, bucket in sorted(buckets.items(),
                                       key=lambda kv: (kv[0] is None, kv[0] or ""))]


# --- the control plane -----------------------------------------------------------------------

@dataclass(frozen=True)
class DeliveryStatus:
    accepted_today: int
    delivered_today: int
    delivery_rate_today: float | None
    accepted_7d: int
    delivered_7d: int
    delivery_rate_7d: float | None
    awaiting: int
    stuck_sending: int  # `sending` for more than 10 minutes: run `send reconcile`
    alert: str | None


def stuck_sending(session: Session, at: datetime) -> int:
    m = OutboundMessage
    return int(session.scalar(select(func.count()).select_from(m).where(
        col(m.state) == "sending", col(m.created_at) <= at - STUCK_AFTER)) or 0)


def delivery_status(session: Session, *, at: datetime, business_timezone: str
                    ) -> DeliveryStatus:
    from valhalla_cli.clock import business_date, start_of_business_day

    today = business_date(at, business_timezone)
    lo_today = start_of_business_day(today, business_timezone)
    lo_week = start_of_business_day(today - timedelta(days=6), business_timezone)
    hi = start_of_business_day(today + timedelta(days=1), business_timezone)
    week = _figures(_rows(session, lo_week, hi), at, DeliveryFigures())
    day = _figures([r for r in _rows(session, lo_today, hi)], at, DeliveryFigures())
    awaiting = int(session.scalar(select(func.count()).select_from(OutboundMessage).where(
        col(OutboundMessage.state).in_(("accepted", "sent")),
        col(OutboundMessage.provider) != "log")) or 0)
    stuck = stuck_sending(session, at)
    alert = (f"{stuck} message(s) stuck in 'sending' for more than 10 minutes: run "
             "`valhalla send reconcile`" if stuck else None)
    return DeliveryStatus(day.accepted, day.delivered, day.delivery_rate, week.accepted,
                          week.delivered, week.delivery_rate, awaiting, stuck, alert)


DELIVERY_MIN_FINAL = 50
DELIVERY_OK, DELIVERY_WARN = 0.90, 0.85


def delivery_check(session: Session, settings: Any, at: datetime) -> Any:
    """`ok` with fewer than 50 final messages in the last 7 days or a rate of at least 0.90;
    `warn` from 0.85; `fail` below, naming the rate and the commonest error."""
    from valhalla_cli.services.checks import CheckResult

    figures = _figures(_rows(session, at - timedelta(days=7), at + timedelta(seconds=1)), at,
                       DeliveryFigures())
    final = figures.delivered + figures.undelivered + figures.failed
    if final < DELIVERY_MIN_FINAL or figures.delivery_rate is None:
        return CheckResult("ok", f"{final} final message(s) in the last 7 days "
                           f"(judged from {DELIVERY_MIN_FINAL})")
    shown = f"delivery rate {figures.delivery_rate:.2%} over {final} final message(s)"
    if figures.delivery_rate >= DELIVERY_OK:
        return CheckResult("ok", shown)
    common = figures.top_errors[0] if figures.top_errors else None
    why = (f"; commonest error {common.code} ({common.meaning}), {common.count} time(s)"
           if common else "")
    status = "warn" if figures.delivery_rate >= DELIVERY_WARN else "fail"
    return CheckResult(status, shown + why + " (see `valhalla send report --by "
                       "error`)")


def sender_check(session: Session, settings: Any, at: datetime) -> Any:
    """`ok` with no provider; `warn` when a provider has no status callback URL (delivery is
    learned by reconcile alone) or a message has been `sending` for more than 10 minutes."""
    from valhalla_cli.services.checks import CheckResult

    provider = settings.sender.provider
    if provider is None:
        return CheckResult("ok", "no SMS provider: the ladder hands texts to a "
                           "sender of yours (ladder dispatch)")
    problems = []
    stuck = stuck_sending(session, at)
    if stuck:
        problems.append(f"{stuck} message(s) 'sending' for more than 10 minutes: run "
                        "`valhalla send reconcile`")
    if provider == "twilio" and not settings.twilio.status_callback_url:
        problems.append("twilio.status_callback_url is not set: delivery is learned only by "
                        "`valhalla send reconcile`")
    if problems:
        return CheckResult("warn", "; ".join(problems))
    return CheckResult("ok", f"provider {provider}")
