"""Pure statistics used by the gates (Heimdall, the regression tripwire). No I/O, no database.

- `wilson_lower_bound`: the one-sided Wilson score lower bound of a success rate (Heimdall).
- `welch_z`: the one-sided Welch statistic for a drop in a mean (the regression tripwire).
- `window_figures`: the whole tripwire rule on one metric's ordered events.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from statistics import NormalDist, fmean, variance

from valhalla_cli.vocabulary import STATISTICS as VOCABULARY_STATISTICS

# One-sided 95 %: the gate asks "is the true rate at least X?", so all 5 % goes to one tail.
WILSON_Z = 1.645

STATISTICS = VOCABULARY_STATISTICS
MEAN, RATE = STATISTICS


def wilson_lower_bound(successes: int, samples: int, z: float = WILSON_Z) -> float:
    """Wilson score lower bound of successes / samples; 0.0 when there are no samples.

    (p + z²/2n − z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n) with p = successes / samples.
    """
    if samples < 0 or successes < 0 or successes > samples:
        raise ValueError(f"need 0 <= successes <= samples, got {successes}/{samples}")
    if samples == 0:
        return 0.0
    n = samples
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z2 / n))


@dataclass(frozen=True)
class WelchResult:
    difference: float  # mean(high) − mean(low): positive when the change goes the feared way
    se: float
    z: float | None  # None when the standard error is 0


def welch_z(high: Sequence[float], low: Sequence[float]) -> WelchResult:
    """One-sided Welch statistic for "mean(high) > mean(low)".

    z = (mean(high) − mean(low)) / √(s_high²/n_high + s_low²/n_low), sample variances with n − 1.
    For a drop in a mean, `high` is the baseline and `low` the recent window; for a drop in a
    rate, `high` is the recent gaps and `low` the baseline gaps (a rate drop is a gap increase).
    """
    if len(high) < 2 or len(low) < 2:
        raise ValueError("the Welch statistic needs at least two values on each side")
    difference = fmean(high) - fmean(low)
    # `statistics.variance` is the sample variance (n − 1 in the denominator), as Welch's is.
    se = math.sqrt(variance(high) / len(high) + variance(low) / len(low))
    if se == 0.0:
        return WelchResult(difference, 0.0, None)
    return WelchResult(difference, se, difference / se)


def z_threshold(confidence: float) -> float | None:
    """The normal quantile of `confidence` (0.99 -> 2.326); None when the test is off (0)."""
    if confidence == 0:
        return None
    return NormalDist().inv_cdf(confidence)


def is_significant(result: WelchResult, confidence: float) -> bool:
    """One-sided test at `confidence`; 0 switches the test off (always significant).

    A standard error of 0 with a positive difference is significant (every value moved).
    """
    threshold = z_threshold(confidence)
    if threshold is None:
        return True
    if result.z is None:
        return result.difference > 0
    return result.z >= threshold


OK, INSUFFICIENT = "ok", "insufficient_data"


@dataclass(frozen=True)
class WindowFigures:
    """The tripwire's verdict on one metric's windows (before any lever state is considered)."""

    status: str  # ok | insufficient_data (the figures were computed or not)
    baseline: float | None
    recent: float | None
    drop_pct: float | None
    z: float | None
    tripped: bool  # drop_pct >= max_drop_pct and the drop is significant
    recent_from: datetime | None = None  # the oldest event of the recent window


def _insufficient() -> WindowFigures:
    return WindowFigures(INSUFFICIENT, None, None, None, None, False)


def window_figures(
    events: Sequence[tuple[datetime, float]],
    *,
    statistic: str,
    recent_window: int,
    baseline_window: int,
    max_drop_pct: float,
    confidence: float,
    has_predecessor: bool = False,
) -> WindowFigures:
    """Apply the regression rule to one metric's events, oldest first.

    `events` holds the baseline window followed by the recent window; for `rate` it may start
    with one extra event (`has_predecessor=True`) that only serves as the predecessor of the
    first baseline event, so that every windowed event has a gap. The first event of a metric's
    whole history has no gap, so its baseline then has `baseline_window − 1` gaps.

    - mean: the figure is the mean value; z = (mean_b − mean_r) / SE on the values.
    - rate: events per hour = 3600 / mean gap in seconds; z = (mean recent gap − mean baseline
      gap) / SE on the gaps. A mean gap of 0 cannot be turned into a rate: insufficient data.
    - drop_pct = 100 × (baseline − recent) / |baseline|, None when the baseline is 0.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}")
    extra = 1 if has_predecessor else 0
    if len(events) - extra < recent_window + baseline_window:
        return _insufficient()
    events = events[len(events) - extra - recent_window - baseline_window:]
    recent_from = events[-recent_window][0]
    if statistic == MEAN:
        values = [v for _, v in events[extra:]]
        base_values, recent_values = values[:baseline_window], values[baseline_window:]
        if len(base_values) < 2 or len(recent_values) < 2:
            return _insufficient()
        baseline, recent = fmean(base_values), fmean(recent_values)
        welch = welch_z(base_values, recent_values)
    else:
        gaps = [(b[0] - a[0]).total_seconds() for a, b in pairwise(events)]
        recent_gaps, base_gaps = gaps[-recent_window:], gaps[:-recent_window]
        if len(base_gaps) < 2 or len(recent_gaps) < 2:
            return _insufficient()
        mean_base_gap, mean_recent_gap = fmean(base_gaps), fmean(recent_gaps)
        if mean_base_gap <= 0 or mean_recent_gap <= 0:
            return _insufficient()
        baseline, recent = 3600.0 / mean_base_gap, 3600.0 / mean_recent_gap
        welch = welch_z(recent_gaps, base_gaps)
    drop_pct = None if baseline == 0 else 100.0 * (baseline - recent) / abs(baseline)
    tripped = (drop_pct is not None and drop_pct >= max_drop_pct
               and is_significant(welch, confidence))
    return WindowFigures(OK, baseline, recent, drop_pct, welch.z, tripped, recent_from)
