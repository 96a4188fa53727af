"""Benchmark: `valhalla regression evaluate` against large `kpi_event` tables.

Target: under 200 ms at 2 000 000 KPI events, and flat as the table grows (the evaluation reads
only recent + baseline (+1) rows per policy through the (metric, occurred_at, id) index).

    python benchmarks/bench_regression.py                 # 20 000 and 2 000 000 events
    python benchmarks/bench_regression.py --sizes 20000 200000 2000000 --runs 9
    python benchmarks/bench_regression.py --db postgresql+psycopg://…   # the same on PostgreSQL

The data is built once per size with bulk SQL into $VALHALLA_BENCH_DATA/regression_<N>.db
(default benchmarks/data/, git-ignored) and reused on later runs (--rebuild to force); with
`--db postgresql…` the file is mirrored through COPY into a database on that server. Every
size holds the 5 seeded metrics plus 3 other metrics, N / 8 events each, one event every 60 s,
stable values (no lever gets throttled, so every run does the same work).

Three medians are reported per size:
- `service`: `regression.evaluate(...)` inside a write transaction (the command's own work);
- `command`: the whole command in-process (settings, open + schema check, evaluate, render),
  without interpreter start and imports;
- `process`: `valhalla regression evaluate` as a fresh process (start-up and imports included).
"""

from __future__ import annotations

import argparse
import io
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _engines import DATA, is_postgres, mirror, sqlite_url, upgrade_to_head  # noqa: E402

METRICS = ("ladder_created", "followup_completed", "buyer_feedback", "offer_generated",
           "sms_delivered", "calls_made", "deals_closed", "leads_imported")
AT = "2031-01-01T00:00:00Z"


def build(path: Path, total: int) -> None:
    from valhalla_cli.bootstrap import open_database

    if path.exists():
        path.unlink()
    db = open_database(f"sqlite:///{path}")  # a new file is created at head with the seeds
    db.dispose()
    per_metric = total // len(METRICS)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    started = time.perf_counter()
    for metric in METRICS:
        # Stable streams: mean 0.8 with a fixed pattern, one event a minute from 2027-01-01.
        conn.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
            INSERT INTO kpi_event (metric, value, occurred_at, source)
            SELECT ?, CASE WHEN (i * 7) % 10 < 8 THEN 1.0 ELSE 0.0 END,
                   strftime('%Y-%m-%d %H:%M:%S', '2027-01-01 00:00:00', '+' || i || ' minutes')
                   || '.000000', 'bench'
            FROM n
            """,
            (per_metric, metric),
        )
        conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    count = conn.execute("SELECT COUNT(*) FROM kpi_event").fetchone()[0]
    conn.close()
    print(f"  built {path.name}: {count:,} events in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)


def ensure(total: int, rebuild: bool) -> Path:
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"regression_{total}.db"
    if rebuild or not path.exists():
        build(path, total)
    upgrade_to_head(f"sqlite:///{path}")  # a reused file may predate the latest migration
    return path


def median_ms(fn, runs: int) -> float:
    fn()  # warm-up (page cache, first connection)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def bench(url: str, runs: int) -> dict[str, float]:
    from typer.testing import CliRunner

    from valhalla_cli.app import app
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import regression

    at = datetime(2031, 1, 1, tzinfo=UTC)
    db = open_database(url)

    def service() -> None:
        with db.transaction(write=True) as session:
            run = regression.evaluate(session, at=at, actor="bench")
        assert not run.throttled_levers, run
        assert all(r.status == "ok" for r in run.results), run.results

    service_ms = median_ms(service, runs)
    with db.engine.connect() as conn:
        if is_postgres(url):
            plan = conn.exec_driver_sql(
                "EXPLAIN SELECT occurred_at, value FROM kpi_event WHERE metric = %(m)s "
                "AND occurred_at <= %(t)s ORDER BY occurred_at DESC, id DESC LIMIT 251",
                {"m": "ladder_created", "t": at}).all()
        else:
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT occurred_at, value FROM kpi_event WHERE metric = ? "
                "AND occurred_at <= ? ORDER BY occurred_at DESC, id DESC LIMIT 251",
                ("ladder_created", "2031-01-01 00:00:00.000000")).all()
    db.dispose()
    runner = CliRunner()

    def command() -> None:
        with redirect_stdout(io.StringIO()):
            result = runner.invoke(app, ["--db", url, "regression", "evaluate", "--at", AT,
                                         "--format", "tsv"])
        assert result.exit_code == 0, result.output

    command_ms = median_ms(command, runs)
    env = {**os.environ, "VALHALLA_ACTOR": "bench"}

    def process() -> None:
        subprocess.run([sys.executable, "-m", "valhalla_cli", "--db", url, "regression",
                        "evaluate", "--at", AT, "--format", "tsv"], check=True,
                       capture_output=True, env=env, cwd=ROOT)

    process_ms = median_ms(process, max(3, runs // 2))
    return {"service": service_ms, "command": command_ms, "process": process_ms,
            "plan": " / ".join(str(row[-1]) for row in plan)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 2_000_000])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--db", default=None,
                        help="a PostgreSQL server URL (postgresql+psycopg://…) to measure there")
    args = parser.parse_args()
    print("| kpi_event rows | service median (ms) | command median (ms) | process median (ms) |")
    print("|---:|---:|---:|---:|")
    plans = set()
    for size in args.sizes:
        path = ensure(size, args.rebuild)
        url = (mirror(path, args.db, f"bench_regression_{size}", rebuild=args.rebuild)
               if is_postgres(args.db) else sqlite_url(path))
        figures = bench(url, args.runs)
        plans.add(figures["plan"])
        print(f"| {size:,} | {figures['service']:.1f} | {figures['command']:.1f} | "
              f"{figures['process']:.0f} |", flush=True)
    for plan in sorted(plans):
        print(f"\nquery plan: {plan}")


if __name__ == "__main__":
    main()
