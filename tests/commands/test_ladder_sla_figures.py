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


def test_the_sla_by_province_reads_the_sla_index_not_the_contact_audit_one(db, db_url):
    """Grouped by province, SQLite walked the contact audit index (province first) to skip the
    sort: it covers neither query, and the overdue count became a scan of the whole index
    (1.2 s instead of 0.4 s for a month at 5 M tasks). The figures stay the same."""
    if not db_url.startswith("sqlite"):
        import pytest

        pytest.skip("SQLite's planner")
    from sqlalchemy import event

    from valhalla_cli.services import ladder
    from valhalla_cli.settings import resolve_settings

    values = _seed(db, {"a": 3, "b": 4})
    # The planner chooses by the table's statistics: give it those of 5 M tasks (a month of
    # them completed), as ANALYZE wrote them for the benchmark's database.
    with db.transaction(write=True) as session:
        conn = session.connection()
        conn.exec_driver_sql("ANALYZE")
        conn.exec_driver_sql("DELETE FROM sqlite_stat1 WHERE tbl = 'followup_task'")
        for index, stat in (
                ("ix_followup_task_sla", "5000004 1 1 1 1 1 1"),
                ("ix_followup_task_contact_audit", "5000004 384616 192308 1 1 1 1 1"),
                ("ix_followup_task_status_ready_due_at", "5000004 2500002 1666668 1"),
                ("ix_followup_task_owner_status_ready_due_at", "5000004 250001 125001 83334 1"),
                ("ix_followup_task_lead_id_completed_at", "5000004 6 6"),
                ("ix_followup_task_import_batch_id", "5000004 5000004"),
                ("ux_followup_task_active_lead_step", "48000 6 1")):
            conn.exec_driver_sql("INSERT INTO sqlite_stat1 VALUES ('followup_task', ?, ?)",
                                 (index, stat))
    db.engine.dispose()  # statistics are read when a connection opens
    plans: list[str] = []

    def explain(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "followup_task" in statement:
            plans.extend(row[-1] for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement, parameters).fetchall())

    settings = resolve_settings(config=None, db=db_url, actor="test", quiet=True)
    event.listen(db.engine, "before_cursor_execute", explain)
    try:
        with db.transaction() as session:
            rows = ladder.sla(session, at=DAY + timedelta(days=1), since=date(2027, 3, 10),
                              until=date(2027, 3, 10), by="province",
                              business_timezone="America/Toronto",
                              config=ladder.ladder_config(settings.ladder))
    finally:
        event.remove(db.engine, "before_cursor_execute", explain)
    assert [(r.group, r.completed) for r in rows] == [("ON", 7)]
    everything = [v for vs in values.values() for v in vs]
    assert rows[0].median_response_minutes == round(statistics.median(everything), 2)
    assert plans and not [p for p in plans if "contact_audit" in p], plans
