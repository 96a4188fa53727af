"""`ladder sla` median and p90 agree with their definition on both engines (PostgreSQL takes
them from ordered-set aggregates, SQLite from a window), for odd and even group sizes."""

import random
import statistics
from datetime import UTC, date, datetime, timedelta

from conftest import run_valhalla

DAY = datetime(2027, 3, 10, 17, 0, tzinfo=UTC)  # 12:00 in Toronto


def _seed(db, sizes: dict[str, int]) -> dict[str, list[float]]:
    from sqlalchemy import insert

    from valhalla_cli.models import FollowupTask

    rng = random.Random(11)
    values: dict[str, list[float]] = {}
    rows = []
    for owner, n in sizes.items():
        for i in range(n):
            minutes = float(rng.randint(0, 600)) + rng.choice((0.0, 0.25, 0.5))
            values.setdefault(owner, []).append(minutes)
            due = DAY - timedelta(minutes=minutes)
            rows.append(dict(ladder_id=f"{owner}-{i}", lead_id=f"{owner}-lead-{i}", province="ON",
                             owner=owner, step=1, channel="SMS", planned_at=due, due_at=due,
                             status="done", ready=False, attempt=1, completed_at=DAY,
                             outcome="sent", response_minutes=minutes, created_at=due,
                             created_by="test"))
    with db.transaction(write=True) as session:
        session.execute(insert(FollowupTask.__table__), rows)
    return values


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[-(-9 * len(ordered) // 10) - 1]  # nearest rank: ceil(0.9 n)


def test_median_and_p90_per_owner_match_their_definition(db, db_url):
    values = _seed(db, {"a": 1, "b": 2, "c": 7, "d": 10, "e": 23, "f": 40})
    args = ("ladder", "sla", "--since", date(2027, 3, 10).isoformat(), "--until",
            date(2027, 3, 10).isoformat(), "--at", "2027-03-11T12:00:00Z")
    rows = run_valhalla(*args, "--by", "owner", "--json", db_url=db_url).json
    assert [r["owner"] for r in rows] == list(values)
    for row in rows:
        mine = values[row["owner"]]
        assert row["completed"] == len(mine)
        assert row["median_response_minutes"] == round(statistics.median(mine), 2)
        assert row["p90_response_minutes"] == round(_p90(mine), 2)
    everything = [v for vs in values.values() for v in vs]
    total = run_valhalla(*args, "--json", db_url=db_url).json
    assert total["completed"] == len(everything)
    assert total["median_response_minutes"] == round(statistics.median(everything), 2)
    assert total["p90_response_minutes"] == round(_p90(everything), 2)
