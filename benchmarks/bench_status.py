"""Benchmark: `valhalla status` and its review page (`--format html`) at the benchmark scale.

Targets: the overview's own work under 150 ms; the review page in under 1 s
of the command's own work.

    python benchmarks/bench_status.py             # builds benchmarks/data/status.db once, 9 runs
    python benchmarks/bench_status.py --runs 15

The database is the 5 000 004-task ladder file of bench_ladder.py (two years of finished ladders
plus 8 000 live ones; built by that script's builder, or reused) migrated to head, plus, by bulk
SQL: 2 000 000 KPI events (8 metrics, one a minute), a year of risk ledger rows with 100 open
reservations today, and 40 000 heimdall recommendations with outcomes. "Now" is bench_ladder's
NOW (Tuesday 2027-06-15 11:00 Toronto): about 16 000 tasks are due, but the history ends a week
earlier, so the 7-day SLA window holds only about 10 000 completed tasks. A second row evaluates
`--at` 30 days earlier, where the window is full (about 47 000 completed tasks, the SLA sort's
worst case here) and nothing is due. The KPI history ends on 2027-05-23, so the page's 30-day KPI
window holds about 74 000 events at NOW and a full 30 days (about 340 000) at NOW - 30 days.

Figures (medians after one warm-up run):
- `service`: `status.overview(...)` in its read transaction (the command's own work);
- `command`: the whole command in-process (settings, open + schema check, overview, JSON render),
  without interpreter start-up and imports;
- `html`: the same with `--format html` (the review page rendered by Jinja2);
- `process`: `valhalla status --json` as a fresh process (start-up and imports included);
- `CPU`: the CPU time of the same in-process runs, which a busy shared machine inflates far less
  than the wall clock.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_ladder  # noqa: E402

TASKS = 5_000_004
KPI_EVENTS = 2_000_000
METRICS = ("ladder_created", "followup_completed", "buyer_feedback", "offer_generated",
           "calls_made", "sms_sent", "deals_closed", "leads_imported")
RECOMMENDATIONS = 40_000
NOW = bench_ladder.NOW


def build(rebuild: bool = False) -> Path:
    from valhalla_cli import migrate
    from valhalla_cli.bootstrap import open_database

    path = DATA / ("status.db" if TASKS == 5_000_004 else f"status-{TASKS}.db")
    if path.exists() and not rebuild:
        # Reused across branches: bring it to this checkout's head (a no-op when it is there).
        db = open_database(f"sqlite:///{path}", check_schema=False)
        migrate.upgrade(db, "head")
        db.dispose()
        return path
    source = bench_ladder.build(TASKS)
    tmp = path.with_suffix(".building")
    started = time.perf_counter()
    shutil.copy(source, tmp)
    db = open_database(f"sqlite:///{tmp}", check_schema=False)
    migrate.upgrade(db, "head")
    db.dispose()
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA synchronous = OFF")
    per_metric = KPI_EVENTS // len(METRICS)
    for metric in METRICS:  # stable streams: no lever trips, every run does the same work
        conn.execute(
            """WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
               INSERT INTO kpi_event (metric, value, occurred_at, source)
               SELECT ?, CASE WHEN (i * 7) % 10 < 8 THEN 1.0 ELSE 0.0 END,
                      strftime('%Y-%m-%d %H:%M:%S', '2026-12-01 00:00:00', '+' || i || ' minutes')
                      || '.000000', 'bench'
               FROM n""", (per_metric, metric))
    today = (NOW - timedelta(hours=4)).date()  # the business date in Toronto
    for back in range(365):  # a year of ledger rows; only today's are read
        day = (today - timedelta(days=back)).isoformat()
        for engine, cents in (("acquisitions", 900_000), ("marketing", 300_000),
                              ("dispositions", 100_000), ("GLOBAL", 1_300_000)):
            conn.execute("INSERT INTO risk_ledger (day, engine, reserved_cents, "
                         "realized_loss_cents, realized_profit_cents) VALUES (?, ?, ?, 0, 0)",
                         (day, engine, cents if back == 0 else 0))
    conn.execute(
        """WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99)
           INSERT INTO risk_reservation (ref, engine, amount_cents, day, status, reserved_at,
                                         reserved_by)
           SELECT 'bench-' || i, CASE WHEN i < 60 THEN 'acquisitions' WHEN i < 90
                  THEN 'marketing' ELSE 'dispositions' END,
                  CASE WHEN i < 60 THEN 15000 WHEN i < 90 THEN 10000 ELSE 10000 END,
                  ?, 'open', ?, 'bench' FROM n""",
        (today.isoformat(), NOW.strftime("%Y-%m-%d %H:%M:%S.000000")))
    conn.execute(
        f"""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n
                                    WHERE i < {RECOMMENDATIONS - 1})
            INSERT INTO heimdall_recommendation (domain, subject, confidence, mode, decision,
                recorded_at, recorded_by, outcome, outcome_at, outcome_by)
            SELECT CASE i % 4 WHEN 0 THEN 'lead_scoring' WHEN 1 THEN 'offer_pricing'
                   WHEN 2 THEN 'buyer_matching' ELSE 'followup_timing' END,
                   'subject-' || i, 0.5 + (i % 50) / 100.0, 'sandbox', 'shadow',
                   strftime('%Y-%m-%d %H:%M:%S', '2026-06-15 00:00:00', '+' || (i * 13) ||
                            ' minutes') || '.000000', 'bench',
                   CASE WHEN i % 10 < 8 THEN 'success' ELSE 'failure' END,
                   strftime('%Y-%m-%d %H:%M:%S', '2026-06-15 01:00:00', '+' || (i * 13) ||
                            ' minutes') || '.000000', 'bench'
            FROM n""")
    conn.commit()
    for table in ("kpi_event", "risk_ledger", "risk_reservation", "heimdall_recommendation"):
        conn.execute(f"ANALYZE {table}")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    tmp.rename(path)
    print(f"built {path.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return path


CPU_MS: dict[str, float] = {}  # CPU-time medians, keyed by the function measured


def median_ms(fn, runs: int) -> float:
    """Median wall-clock ms; the median CPU ms of this process goes to CPU_MS (on a shared
    machine the wall clock also counts the time other jobs held the cores; on PostgreSQL the
    server's CPU shows only in the wall clock)."""
    fn()  # warm-up (page cache, first connection)
    samples, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    CPU_MS[fn.__name__] = statistics.median(cpu)
    return statistics.median(samples)


def bench(url: str, runs: int, now) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from valhalla_cli.app import app
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import scorecard, status
    from valhalla_cli.settings import resolve_settings

    settings = resolve_settings(config=None, db=url, actor="bench", quiet=True)
    db = open_database(url)
    seen = {}

    def service() -> None:
        with db.transaction() as session:
            seen["view"] = status.overview(session, settings, now)

    service_ms = median_ms(service, runs)

    def scorecard_part() -> None:  # the month's scorecard the overview includes
        with db.transaction() as session:
            scorecard.compute(session, settings, at=now)

    scorecard_ms = median_ms(scorecard_part, runs)
    db.dispose()
    view = seen["view"]
    assert view.sla is not None and view.sla.completed > (5_000 if TASKS == 5_000_004 else 0), \
        view.sla
    assert view.tasks is not None
    runner = CliRunner()
    at = now.isoformat()

    def command() -> None:
        with redirect_stdout(io.StringIO()):
            result = runner.invoke(app, ["--db", url, "status", "--at", at, "--json"])
        assert result.exit_code in (0, 1), result.output

    command_ms = median_ms(command, runs)

    from valhalla_cli import review_page

    def html() -> None:
        review_page._environment.cache_clear()  # each process builds its environment: count it
        with redirect_stdout(io.StringIO()):
            result = runner.invoke(app, ["--db", url, "status", "--at", at, "--format", "html"])
        assert result.exit_code in (0, 1), result.output
        assert result.output.startswith("<!DOCTYPE html>")

    html_ms = median_ms(html, runs)
    env = {**os.environ, "VALHALLA_ACTOR": "bench"}

    def process() -> None:
        subprocess.run([sys.executable, "-m", "valhalla_cli", "--db", url, "status", "--at", at,
                        "--json"], capture_output=True, env=env, cwd=ROOT)

    process_ms = median_ms(process, max(3, runs // 2))
    return {"scorecard": scorecard_ms, "scorecard_cpu": CPU_MS["scorecard_part"],
            "service": service_ms, "command": command_ms, "html": html_ms, "process": process_ms,
            "service_cpu": CPU_MS["service"], "html_cpu": CPU_MS["html"],
            "sla_completed": view.sla.completed, "due": view.tasks.due}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--db", default=None,
                        help="a PostgreSQL server URL (postgresql+psycopg://…) to measure there "
                             "(the same rows, mirrored) instead of SQLite")
    parser.add_argument("--smallest", action="store_true",
                        help="tiny sizes, to check the script works")
    args = parser.parse_args()
    if args.smallest:
        global TASKS, KPI_EVENTS, RECOMMENDATIONS
        TASKS, KPI_EVENTS, RECOMMENDATIONS = 50_004, 20_000, 400
    path = build(args.rebuild)
    url = f"sqlite:///{path}"
    if args.db:
        from _engines import mirror

        url = mirror(path, args.db, f"bench_status_{TASKS}", rebuild=args.rebuild)
    print(f"{TASKS:,} tasks, {KPI_EVENTS:,} KPI events, {RECOMMENDATIONS:,} heimdall "
          "recommendations\n")
    print("| --at | SLA window (completed) | tasks due | service median (ms) | "
          "command median (ms) | html command median (ms) | process median (ms) | "
          "service CPU (ms) | html command CPU (ms) | of which the month's scorecard "
          "(wall / CPU ms) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for label, now in (("NOW", NOW), ("NOW - 30 days", NOW - timedelta(days=30))):
        f = bench(url, args.runs if args.smallest else max(7, args.runs), now)
        print(f"| {label} | {f['sla_completed']:,} | {f['due']:,} | {f['service']:.1f} | "
              f"{f['command']:.1f} | {f['html']:.1f} | {f['process']:.0f} | "
              f"{f['service_cpu']:.1f} | {f['html_cpu']:.1f} | "
              f"{f['scorecard']:.1f} / {f['scorecard_cpu']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
