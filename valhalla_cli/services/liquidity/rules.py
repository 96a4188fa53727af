"""The liquidity score as a pure rule: exact rational arithmetic, rounded half up,
its band, and the trailing window of business dates."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from fractions import Fraction

__all__ = ["COLD", "HOT", "KPI_BUYER_FEEDBACK", "MIN_SENT", "TARGET_CLOSE_RATE",
           "TARGET_RESPONSE_RATE", "UNKNOWN", "WARM", "WINDOW_DAYS", "band_of", "round_half_up",
           "score_of", "window_of"]

KPI_BUYER_FEEDBACK = "buyer_feedback"  # KPI: 1 per buyer reaction that responded, else 0
WINDOW_DAYS = 90
MIN_SENT = 10
TARGET_RESPONSE_RATE = Fraction(60, 100)
TARGET_CLOSE_RATE = Fraction(25, 100)
HOT, WARM, COLD, UNKNOWN = "hot", "warm", "cold", "unknown"


def round_half_up(value: Fraction) -> int:
    """Round an exact non-negative rational half up to a whole number (62.5 -> 63)."""
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


def score_of(sent: int, responded: int, closed: int) -> tuple[int | None, str]:
    """Score = 100 x (0.5 min(1, rr/0.60) + 0.5 min(1, cr/0.25)), rounded half up, and the band.

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
