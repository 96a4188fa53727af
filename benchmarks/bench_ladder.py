"""Ladder benchmarks: dispatch, SLA and import at scale.

    python benchmarks/bench_ladder.py                        # 50k, 500k and 5M rows, 5 runs
    python benchmarks/bench_ladder.py --sizes 50004 --runs 3  # quick
    python benchmarks/bench_ladder.py --sizes 5000004 --runs 7 --sla-only  # SLA, plain and --by
    python benchmarks/bench_ladder.py --db postgresql+psycopg://…   # the same on PostgreSQL

Builds SQLite files under $VALHALLA_BENCH_DATA (default benchmarks/data/, git-ignored) with bulk
SQL (INSERT ... SELECT over a recursive CTE, secondary indexes rebuilt afterwards); with `--db
postgresql…` each file is mirrored through COPY into a database of its own on that server
(`_engines.mirror`) and measured there. Every size has the same live part (8 000
active ladders across the 13 provinces, step 1 due now) on top of a history of finished ladders
spread over two years, so the dispatch figures show how cost grows with the table.

Figures: `dispatch` = one `ladder.dispatch(limit=500)` claim transaction in-process (the
command's own work); `dispatch cli` = the whole `valhalla ladder dispatch --limit 500` process
(interpreter start and imports included); `sla month` = `ladder.sla` over 30 business days
(`--sla-only` adds the same report grouped `--by owner`, `province` and `step`);
`import` = the whole `valhalla ladder import` process for 10 000 leads (60 000 tasks).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _engines import (  # noqa: E402
    DATA,
    drop_database,
    fresh_database,
    is_postgres,
    mirror,
    sqlite_url,
    upgrade_to_head,
)
from _timing import Stopwatch  # noqa: E402

NOW = datetime(2027, 6, 15, 15, 0, tzinfo=UTC)  # Tuesday 11:00 in Toronto
ACTIVE_LADDERS = 8_000
PROVINCES = ("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT")
HISTORY_DAYS = 730


def _fmt(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _province_sql(expr: str) -> str:
    cases = " ".join(f"WHEN {i} THEN '{p}'" for i, p in enumerate(PROVINCES))
    return f"CASE ({expr}) % 13 {cases} END"


def build(rows: int) -> Path:
    """A SQLite file with `rows` follow-up tasks (reused when it already exists)."""

    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.models import FollowupTask

    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"ladder_{rows}.db"
    if path.exists():
        upgrade_to_head(f"sqlite:///{path}")  # reused across migrations: bring it to head
        return path
    tmp = path.with_suffix(".building")
    for leftover in DATA.glob(tmp.name + "*"):
        leftover.unlink()
    db = open_database(f"sqlite:///{tmp}")
    history = rows - 6 * ACTIVE_LADDERS
    assert history > 0 and history % 6 == 0, "rows must be 48 000 + a multiple of 6"
    ladders = history // 6
    first = NOW - timedelta(days=HISTORY_DAYS + 8)
    spacing = HISTORY_DAYS * 86400 / ladders  # seconds between two historical ladders
    t0 = time.perf_counter()
    indexes = [ix for ix in FollowupTask.__table__.indexes]
    with db.engine.begin() as conn:
        for ix in indexes:
            conn.exec_driver_sql(f"DROP INDEX {ix.name}")
        # History: finished ladders, 6 steps at 0m/5m/1d/2d/4d/7d, answered within 0-239 min.
        conn.exec_driver_sql(f"""
            WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq
                                      WHERE n < {history - 1}),
            t AS (
              SELECT n, n / 6 AS l, n % 6 AS s,
                     strftime('%s', '{_fmt(first)}') + CAST((n / 6) * {spacing} AS INTEGER)
                       + (CASE n % 6 WHEN 0 THEN 0 WHEN 1 THEN 300 WHEN 2 THEN 86400
                          WHEN 3 THEN 172800 WHEN 4 THEN 345600 ELSE 604800 END) AS due_s,
                     (n * 37) % 240 AS resp
              FROM seq)
            INSERT INTO followup_task (ladder_id, lead_id, province, market, owner, lead_score,
                step, channel, planned_at, due_at, status, ready, attempt, completed_at, outcome,
                response_minutes, created_at, created_by)
            SELECT printf('h%015d', l), printf('lead-h%09d', l), {_province_sql('l')}, NULL,
                   printf('owner-%02d', l % 20), 50, s + 1,
                   CASE s % 2 WHEN 0 THEN 'SMS' ELSE 'CALL' END,
                   strftime('%Y-%m-%d %H:%M:%S.000000', due_s, 'unixepoch'),
                   strftime('%Y-%m-%d %H:%M:%S.000000', due_s, 'unixepoch'),
                   'done', 0, 1,
                   strftime('%Y-%m-%d %H:%M:%S.000000', due_s + resp * 60, 'unixepoch'),
                   CASE WHEN s = 5 THEN 'not_interested' ELSE 'no_answer' END,
                   resp, strftime('%Y-%m-%d %H:%M:%S.000000', due_s, 'unixepoch'), 'bench'
            FROM t""")
        # Live part: 4 000 ladders started in the last hour; step 1 due and ready.
        conn.exec_driver_sql(f"""
            WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq
                                      WHERE n < {6 * ACTIVE_LADDERS - 1}),
            t AS (
              SELECT n, n / 6 AS l, n % 6 AS s,
                     strftime('%s', '{_fmt(NOW - timedelta(hours=1))}') + (n / 6) % 3000
                       + (CASE n % 6 WHEN 0 THEN 0 WHEN 1 THEN 300 WHEN 2 THEN 86400
                          WHEN 3 THEN 172800 WHEN 4 THEN 345600 ELSE 604800 END) AS due_s
              FROM seq)
            INSERT INTO followup_task (ladder_id, lead_id, province, market, owner, lead_score,
                step, channel, planned_at, due_at, status, ready, attempt, created_at, created_by)
            SELECT printf('a%015d', l), printf('lead-a%09d', l), {_province_sql('l')}, NULL,
                   printf('owner-%02d', l % 20), 50, s + 1,
                   CASE s % 2 WHEN 0 THEN 'SMS' ELSE 'CALL' END,
                   strftime('%Y-%m-%d %H:%M:%S.000000', due_s, 'unixepoch'),
                   strftime('%Y-%m-%d %H:%M:%S.000000', due_s, 'unixepoch'),
                   'pending', CASE s WHEN 0 THEN 1 ELSE 0 END, 0,
                   strftime('%Y-%m-%d %H:%M:%S.000000', due_s, 'unixepoch'), 'bench'
            FROM t""")
        for ix in indexes:
            ix.create(conn)
        conn.exec_driver_sql("ANALYZE")
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    tmp.rename(path)
    print(f"built {path.name}: {rows:,} tasks in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return path


def _config():
    from valhalla_cli.services.ladder import ladder_config
    from valhalla_cli.settings import LadderSettings

    return ladder_config(LadderSettings())


def target(rows: int, db_url: str | None) -> str:
    """The database to measure: the SQLite file, or its mirror on the PostgreSQL server."""
    path = build(rows)
    if is_postgres(db_url):
        return mirror(path, db_url, f"bench_ladder_{rows}")
    return sqlite_url(path)


def ensure_leads(url: str) -> None:
    """The live ladders' leads, each with a Toronto number and express consent, so
    dispatch measures the lead checks on the path that claims (the history needs no leads)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        if conn.execute(text("SELECT COUNT(*) FROM lead WHERE lead_id LIKE 'lead-a%'")).scalar():
            return
        sqlite = engine.dialect.name == "sqlite"
        stamp = "2027-06-01 12:00:00.000000" if sqlite else "2027-06-01T12:00Z"
        rows = [{"l": f"lead-a{n:09d}", "p": f"+1416{2000000 + n:07d}", "t": stamp}
                for n in range(ACTIVE_LADDERS)]
        conn.execute(text("INSERT INTO lead (lead_id, phone, province, language, created_at, "
                          "updated_at) VALUES (:l, :p, 'ON', 'en', :t, :t)"), rows)
        conn.execute(text("INSERT INTO lead_consent (lead_id, kind, channel, given_at, actor) "
                          "VALUES (:l, 'express', 'all', :t, 'bench')"), rows)
    engine.dispose()


def _identity():
    from valhalla_cli.services.template import Identification

    return Identification("Maple Home Buyers", "+14165550100")


def reset_live(url: str) -> None:
    """Put the live part back (step 1 due and ready, nothing claimed) between benchmarks."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("""UPDATE followup_task SET status = 'pending', ready = (step = 1),
                    attempt = 0, claim_token = NULL, claimed_by = NULL, claimed_at = NULL,
                    lease_expires_at = NULL, status_reason = NULL, due_at = planned_at
                    WHERE lead_id >= 'lead-a' AND lead_id < 'lead-b'"""))
    engine.dispose()


def bench_dispatch(url: str, runs: int) -> tuple[Stopwatch, int]:
    """In-process dispatch of 500 (each run claims fresh tasks)."""
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import ladder

    ensure_leads(url)
    reset_live(url)
    db = open_database(url)
    watch, claimed = Stopwatch(), 0
    for run in range(runs):
        with watch, db.transaction(write=True) as session:
            result = ladder.dispatch(session, at=NOW + timedelta(seconds=run), limit=500,
                                     lease=timedelta(minutes=15), worker="bench",
                                     config=_config(), dry_run=False, enforce=False,
                                     actor="bench", business_timezone="America/Toronto",
                                     identification=_identity())
        claimed += len(result.tasks)
    db.dispose()
    return watch, claimed


def bench_dispatch_cli(url: str, runs: int) -> Stopwatch:
    reset_live(url)
    watch = Stopwatch(children=True)
    for run in range(runs):
        at = (NOW + timedelta(minutes=1, seconds=run)).isoformat()
        with watch:
            proc = subprocess.run(
            [sys.executable, "-m", "valhalla_cli", "--db", url, "ladder",
             "dispatch", "--limit", "500", "--at", at, "--format", "jsonl"],
            capture_output=True, text=True, cwd=ROOT,
            env={"VALHALLA_GOLIVE_ENFORCE": "0", "PATH": "/usr/bin:/bin",
                 "VALHALLA_BUSINESS_NAME": "Maple", "VALHALLA_BUSINESS_CALLBACK": "+14165550100"})
        assert proc.returncode == 0, proc.stderr
        assert len(proc.stdout.splitlines()) == 500, proc.stderr
    return watch


def bench_sla(url: str, runs: int, by: str | None = None) -> Stopwatch:
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import ladder

    db = open_database(url)
    watch = Stopwatch()
    until = date(2027, 5, 31)
    for _ in range(runs):
        with watch, db.transaction() as session:
            rows = ladder.sla(session, at=NOW, since=until - timedelta(days=29), until=until,
                              by=by, business_timezone="America/Toronto", config=_config())
    db.dispose()
    assert rows[0].completed > 0
    return watch


def bench_import(runs: int, db_url: str | None, leads: int = 10_000) -> Stopwatch:
    from valhalla_cli.bootstrap import open_database

    DATA.mkdir(parents=True, exist_ok=True)
    csv = DATA / f"leads_{leads}.csv"
    with csv.open("w", encoding="utf-8") as fh:
        fh.write("lead_id,province,market,owner,lead_score,start_at\n")
        for n in range(leads):
            start = (NOW + timedelta(minutes=7 * n)).isoformat() if n % 2 else ""
            fh.write(f"imp-{n},{PROVINCES[n % 13]},,owner-{n % 20},{n % 100},{start}\n")
    empty = DATA / "empty.db"
    if not empty.exists():
        open_database(f"sqlite:///{empty}").dispose()
    upgrade_to_head(sqlite_url(empty))  # the template is reused across migrations
    watch = Stopwatch(children=True)
    for _ in range(runs):
        work = DATA / "import.work.db"
        if is_postgres(db_url):
            url = fresh_database(db_url, "bench_ladder_import")
        else:
            shutil.copy(empty, work)
            url = sqlite_url(work)
        with watch:
            proc = subprocess.run(
            [sys.executable, "-m", "valhalla_cli", "--db", url, "ladder",
             "import", str(csv), "--at", NOW.isoformat(), "--json"],
            capture_output=True, text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin"})
        assert proc.returncode == 0, proc.stderr
        assert f'"created": {leads}' in proc.stdout, proc.stdout[:300]
        if is_postgres(db_url):
            drop_database(db_url, "bench_ladder_import")
        else:
            work.unlink()
    return watch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50004,500004,5000004",
                        help="comma-separated table sizes (48 000 + a multiple of 6)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--db", default=None,
                        help="a PostgreSQL server URL (postgresql+psycopg://…) to measure there "
                             "instead of SQLite")
    parser.add_argument("--import-only", action="store_true",
                        help="only `ladder import` of 10 000 leads")
    parser.add_argument("--sla-only", action="store_true",
                        help="only the SLA month report: plain and --by owner|province|step")
    parser.add_argument("--leads", type=int, default=10_000,
                        help="leads in the `ladder import` file (6 tasks each)")
    args = parser.parse_args()
    if args.import_only:
        i = bench_import(args.runs, args.db, args.leads)
        print(f"`ladder import` of {args.leads:,} leads ({6 * args.leads:,} tasks): median "
              f"{i.text()} (wall / CPU of the process) over {len(i.wall)} runs")
        return
    if args.sla_only:
        print("| tasks in table | sla month | by owner | by province | by step |")
        print("|---:|---:|---:|---:|---:|")
        for rows in (int(s) for s in args.sizes.split(",")):
            url = target(rows, args.db)
            figures = [bench_sla(url, args.runs, by).text()
                       for by in (None, "owner", "province", "step")]
            print(f"| {rows:,} | " + " | ".join(figures) + " |", flush=True)
        return
    print("wall / CPU medians; the CLI's CPU is the whole child process's")
    print("| tasks in table | dispatch 500 (claim) | dispatch cli (process) | sla month |")
    print("|---:|---:|---:|---:|")
    for rows in (int(s) for s in args.sizes.split(",")):
        url = target(rows, args.db)
        d, claimed = bench_dispatch(url, args.runs)
        assert claimed >= 500 * min(args.runs, 3), claimed
        c = bench_dispatch_cli(url, args.runs)
        s = bench_sla(url, args.runs)
        print(f"| {rows:,} | {d.text()} | {c.text()} | {s.text()} |", flush=True)
    i = bench_import(args.runs, args.db, args.leads)
    print(f"\n`ladder import` of {args.leads:,} leads ({6 * args.leads:,} tasks): median "
          f"{i.text()} (wall / CPU of the process) over {len(i.wall)} runs")


if __name__ == "__main__":
    main()
