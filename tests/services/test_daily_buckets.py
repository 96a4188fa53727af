"""The review page's daily figures (SPEC 19): SLA per business day and KPI events per metric per
day are bucketed at local midnight in SQL, exactly, across a clock change and in a half-hour
zone, on both engines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert

from valhalla_cli.models import FollowupTask
from valhalla_cli.services import kpi, ladder
from valhalla_cli.settings import LadderSettings


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _done(completed_at: datetime, minutes: float, n: int) -> dict:
    due = completed_at - timedelta(minutes=minutes)
    return {"ladder_id": f"l{n}", "lead_id": f"lead-{n}", "province": "ON", "step": 1,
            "channel": "SMS", "planned_at": due, "due_at": due, "status": "done",
            "ready": False, "attempt": 1, "completed_at": completed_at, "outcome": "sent",
            "response_minutes": minutes, "created_at": due, "created_by": "test"}


# Toronto springs forward on 2027-03-14: that day is 23 hours long (05:00Z to 04:00Z).
TORONTO_CASES = [
    ("2027-03-13T23:59:00-05:00", 10, date(2027, 3, 13)),
    ("2027-03-14T00:00:00-05:00", 10, date(2027, 3, 14)),
    ("2027-03-14T23:59:00-04:00", 200, date(2027, 3, 14)),
    ("2027-03-15T00:00:00-04:00", 30, date(2027, 3, 15)),  # 04:00Z: a 05:00Z bound is wrong
    ("2027-03-15T00:30:00-04:00", 121, date(2027, 3, 15)),
]


def test_sla_by_day_splits_at_local_midnight_across_a_clock_change(db):
    with db.transaction(write=True) as session:
        session.execute(insert(FollowupTask), [
            _done(utc(at), minutes, n) for n, (at, minutes, _) in enumerate(TORONTO_CASES)])
    config = ladder.ladder_config(LadderSettings())
    with db.transaction() as session:
        days = ladder.sla_by_day(session, since=date(2027, 3, 12), until=date(2027, 3, 15),
                                 business_timezone="America/Toronto", config=config)
    assert [(d.day, d.completed, d.within_2h, d.within_2h_pct, d.meets_target)
            for d in days] == [
        (date(2027, 3, 12), 0, 0, None, None),
        (date(2027, 3, 13), 1, 1, 100.0, True),
        (date(2027, 3, 14), 2, 1, 50.0, False),
        (date(2027, 3, 15), 2, 1, 50.0, False),
    ]


@pytest.mark.parametrize("zone, instants, expected", [
    # Toronto's short day: an event at 04:30Z on 2027-03-15 belongs to the 15th.
    ("America/Toronto", ["2027-03-14T04:59:00Z", "2027-03-14T05:00:00Z", "2027-03-15T03:59:00Z",
                         "2027-03-15T04:00:00Z", "2027-03-15T04:30:00Z"],
     {date(2027, 3, 13): 1, date(2027, 3, 14): 2, date(2027, 3, 15): 2}),
    # Newfoundland is UTC-2:30 in summer: local midnight falls at 02:30Z.
    ("America/St_Johns", ["2027-06-14T02:29:00Z", "2027-06-14T02:30:00Z", "2027-06-15T02:29:59Z",
                          "2027-06-15T02:30:00Z"],
     {date(2027, 6, 13): 1, date(2027, 6, 14): 2, date(2027, 6, 15): 1}),
])
def test_kpi_summary_buckets_at_local_midnight(db, zone, instants, expected):
    with db.transaction(write=True) as session:
        kpi.insert_many(session, [{"metric": "offer_generated", "value": float(i),
                                   "occurred_at": utc(at), "source": "test"}
                                  for i, at in enumerate(instants)])
        kpi.insert_many(session, [{"metric": "buyer_feedback", "value": 1.0,
                                   "occurred_at": utc(instants[0]), "source": "test"}])
    last = max(expected)
    with db.transaction() as session:
        (offers,) = [m for m in kpi.summary(session, at=utc(f"{last}T12:00:00Z"), days=4,
                                            business_timezone=zone)
                     if m.metric == "offer_generated"]
    assert {d.day: d.count for d in offers.days if d.count} == expected
    assert offers.count == len(instants)
    assert offers.mean == pytest.approx(sum(range(len(instants))) / len(instants))


def test_kpi_summary_counts_nothing_after_at(db):
    with db.transaction(write=True) as session:
        kpi.insert_many(session, [
            {"metric": "ladder_created", "value": 1.0, "occurred_at": utc(at), "source": "test"}
            for at in ("2027-06-15T14:00:00Z", "2027-06-15T15:00:00Z", "2027-06-15T15:00:01Z")])
    with db.transaction() as session:
        (created,) = kpi.summary(session, at=utc("2027-06-15T15:00:00Z"), days=1,
                                 business_timezone="America/Toronto")
    assert created.count == 2  # at `at` counts, a second later does not
