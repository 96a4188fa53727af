"""The pure statistics behind the gates, against hand-computed values (ENGINEERING_NOTES)."""

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from valhalla_cli.services.stats import (
    WILSON_Z,
    is_significant,
    welch_z,
    wilson_lower_bound,
    window_figures,
    z_threshold,
)

T0 = datetime(2027, 1, 1, tzinfo=UTC)
DEFAULT = dict(recent_window=50, baseline_window=200, max_drop_pct=20.0, confidence=0.99)


def _hand_wilson(s: int, n: int, z: float) -> float:
    p = s / n
    return (p + z * z / (2 * n) - z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) \
        / (1 + z * z / n)


@pytest.mark.parametrize(("successes", "samples", "expected", "places"), [
    (28, 30, 0.8173, 4),
    (45, 50, 0.808, 3),
    (5, 5, 0.65, 2),
])
def test_wilson_lower_bound_matches_hand_computed_values(successes, samples, expected, places):
    assert round(wilson_lower_bound(successes, samples), places) == expected
    assert wilson_lower_bound(successes, samples) == pytest.approx(
        _hand_wilson(successes, samples, 1.645), abs=1e-12)


def test_the_gate_uses_the_one_sided_bound_not_the_two_sided_one():
    assert WILSON_Z == 1.645
    one_sided = wilson_lower_bound(28, 30)
    two_sided = wilson_lower_bound(28, 30, z=1.96)
    assert round(two_sided, 3) == 0.787
    assert round(one_sided, 3) == 0.817
    # 0.80 as a promotion bar: the one-sided bound passes 28/30, the two-sided would not.
    assert one_sided >= 0.80 > two_sided


def test_wilson_edge_cases():
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(0, 10) == 0.0
    assert 0.0 < wilson_lower_bound(19, 20) < 19 / 20
    with pytest.raises(ValueError):
        wilson_lower_bound(3, 2)


def test_welch_z_on_exact_bernoulli_windows():
    baseline = [1.0] * 160 + [0.0] * 40  # 0.8
    recent = [1.0] * 30 + [0.0] * 20  # 0.6
    result = welch_z(baseline, recent)
    # Hand: SE = sqrt(0.8*0.2*200/199/200 + 0.6*0.4*50/49/50) = 0.07551
    se = math.sqrt(0.16 / 199 + 0.24 / 49)
    assert result.se == pytest.approx(se)
    assert result.z == pytest.approx(0.2 / se)
    assert round(result.z, 2) == 2.65


def test_zero_standard_error_counts_only_when_the_difference_is_positive():
    up = welch_z([2.0, 2.0, 2.0], [1.0, 1.0])
    assert up.z is None and up.difference == 1.0
    assert is_significant(up, 0.99)
    flat = welch_z([1.0, 1.0], [1.0, 1.0])
    assert flat.z is None and not is_significant(flat, 0.99)
    assert is_significant(flat, 0.0)  # confidence 0 switches the test off


def test_identical_values_that_floats_cannot_hold_exactly_have_no_spread():
    """Every value the same (0.1, 0.3: no float holds them exactly) is no spread at all: the
    standard error is exactly 0, not a rounding residue that makes z enormous."""
    moved = welch_z([0.3] * 3, [0.1] * 4)
    assert moved.se == 0.0 and moved.z is None
    assert moved.difference == pytest.approx(0.2)
    assert is_significant(moved, 0.99)
    still = welch_z([0.1] * 3, [0.1] * 3)
    assert still.se == 0.0 and still.z is None and not is_significant(still, 0.99)


def test_z_threshold():
    assert z_threshold(0) is None
    assert round(z_threshold(0.99), 3) == 2.326


def _stream(values):
    return [(T0 + timedelta(minutes=i), v) for i, v in enumerate(values)]


def test_mean_drop_point_eight_to_point_six_throttles():
    events = _stream([1.0] * 160 + [0.0] * 40 + [1.0] * 30 + [0.0] * 20)
    fig = window_figures(events, statistic="mean", **DEFAULT)
    assert fig.status == "ok"
    assert fig.baseline == pytest.approx(0.8) and fig.recent == pytest.approx(0.6)
    assert fig.drop_pct == pytest.approx(25.0)
    assert round(fig.z, 2) == 2.65
    assert fig.tripped


def test_mean_drop_half_to_point_three_eight_needs_confidence_zero():
    events = _stream([1.0] * 100 + [0.0] * 100 + [1.0] * 19 + [0.0] * 31)
    fig = window_figures(events, statistic="mean", **DEFAULT)
    assert fig.drop_pct == pytest.approx(24.0)
    assert round(fig.z, 2) == 1.54
    assert not fig.tripped  # 24 % >= 20 % but z 1.54 < 2.326
    off = window_figures(events, statistic="mean", **{**DEFAULT, "confidence": 0.0})
    assert off.tripped
    assert off.z == fig.z  # still reported


def test_249_events_are_insufficient_250_are_enough():
    values = [1.0] * 160 + [0.0] * 40 + [1.0] * 30 + [0.0] * 20
    assert window_figures(_stream(values)[1:], statistic="mean", **DEFAULT).status == \
        "insufficient_data"
    assert window_figures(_stream(values), statistic="mean", **DEFAULT).status == "ok"
    times = _stream([1.0] * 250)
    assert window_figures(times[1:], statistic="rate", **DEFAULT).status == "insufficient_data"
    assert window_figures(times, statistic="rate", **DEFAULT).status == "ok"


def _gapped(gaps_minutes):
    t, out = T0, [(T0, 1.0)]
    for gap in gaps_minutes:
        t += timedelta(minutes=gap)
        out.append((t, 1.0))
    return out


def test_rate_that_halves_throttles_with_drop_pct_50():
    # One predecessor, 200 baseline events every 10 min, then 50 recent events every 20 min.
    events = _gapped([10] * 200 + [20] * 50)
    assert len(events) == 251
    fig = window_figures(events, statistic="rate", has_predecessor=True, **DEFAULT)
    assert fig.baseline == pytest.approx(6.0)  # events per hour
    assert fig.recent == pytest.approx(3.0)
    assert fig.drop_pct == pytest.approx(50.0)
    assert fig.z is None  # every gap moved: SE 0, positive difference
    assert fig.tripped


def test_rate_without_predecessor_uses_baseline_window_minus_one_gaps():
    events = _gapped([10] * 199 + [20] * 50)  # 250 events: the first has no gap
    fig = window_figures(events, statistic="rate", has_predecessor=False, **DEFAULT)
    assert fig.drop_pct == pytest.approx(50.0) and fig.tripped


def test_rate_with_simultaneous_events_is_insufficient():
    events = [(T0, 1.0)] * 250
    assert window_figures(events, statistic="rate", **DEFAULT).status == "insufficient_data"


def test_rate_increase_is_not_a_drop():
    events = _gapped([20] * 200 + [10] * 50)
    fig = window_figures(events, statistic="rate", has_predecessor=True, **DEFAULT)
    assert fig.drop_pct == pytest.approx(-100.0) and not fig.tripped


def test_zero_baseline_mean_skips_drop():
    events = _stream([0.0] * 250)
    fig = window_figures(events, statistic="mean", **DEFAULT)
    assert fig.status == "ok" and fig.drop_pct is None and not fig.tripped


def false_alarm_rate(p: float, streams: int, seed: int) -> float:
    rng = random.Random(seed)
    hits = 0
    for _ in range(streams):
        events = _stream([1.0 if rng.random() < p else 0.0 for _ in range(250)])
        hits += window_figures(events, statistic="mean", **DEFAULT).tripped
    return hits / streams


@pytest.mark.parametrize("p", [0.5, 0.8])
def test_default_policy_rarely_fires_on_stable_streams(p):
    # 200 stable Bernoulli streams, 250 events each: the 99 % one-sided test keeps false
    # throttles at or below 1 % of evaluations.
    assert false_alarm_rate(p, 200, seed=20270115) <= 0.01


def test_default_policy_false_alarms_at_low_p_are_bounded_but_above_one_percent():
    """Known limitation of the Welch statistic the spec prescribes, measured, not hidden.

    At p = 0.2 a recent window with few successes has a small sample variance, so the Welch z
    overstates significance: about 2 % of stable streams throttle (the plain 20 % rule alone
    fires about 27 %). See the report / README "Decisions".
    """
    rate = false_alarm_rate(0.2, 1000, seed=20270115)
    assert 0.01 < rate <= 0.03
    # Without the significance test the plain rule fires far more often.
    rng = random.Random(7)
    plain = sum(
        window_figures(_stream([1.0 if rng.random() < 0.2 else 0.0 for _ in range(250)]),
                       statistic="mean", **{**DEFAULT, "confidence": 0.0}).tripped
        for _ in range(200)) / 200
    assert plain > 0.15
