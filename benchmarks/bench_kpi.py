"""`valhalla kpi import` of 1 000 000 rows: time and peak memory of the whole process.

Targets: `kpi import` of 1 000 000 rows in under 60 s; no command peaks above 150 MiB (imports
stream their file in chunks, so memory does not grow with the file).

    .venv/bin/python benchmarks/bench_kpi.py [--rows 1000000] [--runs 3]
    .venv/bin/python benchmarks/bench_kpi.py --db postgresql+psycopg://…  # into a fresh database
                                                                           # on that server
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import random
import resource
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from _engines import DATA, fresh_database, is_postgres
from _timing import REPO, Stopwatch

METRICS = ("ladder_created", "followup_completed", "buyer_feedback", "offer_generated")


def write_csv(path, rows: int) -> None:
    rng = random.Random(42)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metric", "value", "occurred_at", "province", "market"])
        for i in range(rows):
            at = start + timedelta(seconds=30 * i)
            writer.writerow([METRICS[i % 4], rng.choice((0, 1)),
                             at.strftime("%Y-%m-%dT%H:%M:%SZ"), "ON", "TORONTO"])


def run_import(db_path, csv_path, server_url: str | None, watch: Stopwatch) -> float:
    """Peak RSS (MiB) of one `valhalla kpi import` process on a fresh database; its wall and
    CPU time go to `watch`."""
    if is_postgres(server_url):
        url = fresh_database(server_url, "bench_kpi_import")
    else:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{db_path}{suffix}")
        url = f"sqlite:///{db_path}"
    env = {**os.environ, "VALHALLA_DATABASE_URL": url}
    # create it at head first (a command other than `db upgrade`/`init` refuses a missing file)
    subprocess.run([sys.executable, "-m", "valhalla_cli", "-q", "db", "upgrade"], cwd=REPO,
                   env=env, capture_output=True, check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with watch:
        subprocess.run([sys.executable, "-m", "valhalla_cli", "-q", "kpi", "import",
                        str(csv_path), "--format", "json"], cwd=REPO, env=env,
                       capture_output=True, check=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(peak, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default=None,
                        help="a PostgreSQL server URL (postgresql+psycopg://…) to import into")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    csv_path = DATA / f"kpi-{args.rows}.csv"
    if not csv_path.exists():
        write_csv(csv_path, args.rows)
    watch, peaks = Stopwatch(children=True), []
    for _ in range(args.runs):
        peaks.append(run_import(DATA / "kpi-import.db", csv_path, args.db, watch))
    print(f"kpi import of {args.rows:,} rows (whole process), median of {args.runs}: "
          f"{watch.text()} wall / CPU (target < 60 s)")
    print(f"peak RSS of the import process: {max(peaks):.0f} MiB (target < 150 MiB)")


if __name__ == "__main__":
    main()
