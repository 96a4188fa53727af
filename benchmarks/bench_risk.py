"""Risk guard at a year of data: `risk reserve` and `risk snapshot`.

Builds (once) a SQLite database under benchmarks/data/ holding a year of ledger rows
(365 days x 4 engines + GLOBAL) and ~100 reservations per day with their journal events, then
times:

- `valhalla risk reserve` and `valhalla risk snapshot` as subprocesses (interpreter start,
  imports and all);
- the service calls in-process: the call alone on an open database, and "own work" as a command
  does it (open the database, check the schema, one transaction, the call).

Every figure is the median of --runs runs (default 9). Target: snapshot own work < 50 ms, any
data command's own work < 100 ms.

    .venv/bin/python benchmarks/bench_risk.py [--runs 9] [--rebuild]
    .venv/bin/python benchmarks/bench_risk.py --db postgresql+psycopg://…   # on PostgreSQL

With `--db postgresql…` the SQLite file is mirrored through COPY into a database on that server
(`_engines.mirror`) and everything is measured there.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))

from _engines import DATA, is_postgres, mirror, upgrade_to_head  # noqa: E402

DB_PATH = DATA / "risk.db"
SQLITE_URL = f"sqlite:///{DB_PATH}"
URL = SQLITE_URL  # the database measured (main() points it at PostgreSQL with --db)
TZ = "America/Toronto"
FIRST_DAY = date(2026, 1, 15)
DAYS = 365
PER_DAY = 100
ENGINES = ("acquisitions", "marketing", "dispositions")  # + "legal", created below
LAST_DAY = FIRST_DAY + timedelta(days=DAYS - 1)  # 2027-01-14: the benchmark's "today"
TODAY_AT = datetime(2027, 1, 14, 15, 0, tzinfo=UTC)  # 10:00 in Toronto

sys.path.insert(0, str(REPO))


def build() -> None:
    from sqlalchemy import insert, update

    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.models import GoLiveState, RiskEvent, RiskLedger, RiskPolicy, RiskReservation

    DATA.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB_PATH}{suffix}").unlink(missing_ok=True)
    db = open_database(SQLITE_URL)
    rng = random.Random(2027)
    engines = (*ENGINES, "legal")
    started = time.perf_counter()
    with db.transaction(write=True) as session:
        session.execute(insert(RiskPolicy.__table__).values(
            engine="legal", daily_cap_cents=5_000_00, enabled=True))
        session.execute(update(GoLiveState.__table__).values(enabled=True))
        reservations, events, ledger = [], [], []
        rid = 0
        for offset in range(DAYS):
            day = FIRST_DAY + timedelta(days=offset)
            at = datetime(day.year, day.month, day.day, 15, 0, tzinfo=UTC)
            totals = {e: [0, 0, 0] for e in (*engines, "GLOBAL")}
            for n in range(PER_DAY):
                rid += 1
                engine = rng.choice(engines)
                cents = rng.randint(10_00, 150_00)
                last = day == LAST_DAY
                roll = rng.random()
                status = "open" if last and roll < 0.5 else ("released" if roll < 0.7
                                                             else "settled")
                pnl = rng.randint(-cents, cents) if status == "settled" else None
                ref = f"bench-{day.isoformat()}-{n}"
                reservations.append(dict(
                    id=rid, ref=ref, engine=engine, amount_cents=cents, day=day, status=status,
                    reserved_at=at, reserved_by="bench",
                    closed_at=None if status == "open" else at + timedelta(hours=2),
                    closed_day=None if status == "open" else day, pnl_cents=pnl))
                events.append(dict(at=at, day=day, engine=engine, kind="reserve",
                                   amount_cents=cents, ref=ref, reservation_id=rid, actor="bench"))
                if status != "open":
                    events.append(dict(at=at + timedelta(hours=2), day=day, engine=engine,
                                       kind="settle" if status == "settled" else "release",
                                       amount_cents=cents, pnl_cents=pnl, ref=ref,
                                       reservation_id=rid, actor="bench"))
                for name in (engine, "GLOBAL"):
                    if status == "open":
                        totals[name][0] += cents
                    elif pnl is not None and pnl < 0:
                        totals[name][1] += -pnl
                    elif pnl:
                        totals[name][2] += pnl
            for name, (reserved, loss, profit) in totals.items():
                ledger.append(dict(day=day, engine=name, reserved_cents=reserved,
                                   realized_loss_cents=loss, realized_profit_cents=profit))
        session.execute(insert(RiskReservation.__table__), reservations)
        session.execute(insert(RiskEvent.__table__), events)
        session.execute(insert(RiskLedger.__table__), ledger)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    print(f"built {DB_PATH}: {len(ledger)} ledger rows, {len(reservations)} reservations, "
          f"{len(events)} events in {time.perf_counter() - started:.1f} s")


def median_ms(run: Callable[[], object], runs: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def subprocess_runner(make_args: Callable[[], list[str]]) -> Callable[[], None]:
    def run() -> None:
        argv = [sys.executable, "-m", "valhalla_cli", "--db", URL, *make_args()]
        result = subprocess.run(argv, capture_output=True, text=True, cwd=REPO,
                                env={**os.environ, "VALHALLA_ACTOR": "bench"})
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--db", default=None,
                        help="a PostgreSQL server URL (postgresql+psycopg://…) to measure there")
    args = parser.parse_args()
    global URL
    if args.rebuild or not DB_PATH.exists():
        build()
    upgrade_to_head(URL)  # a reused file may predate the latest migration
    if is_postgres(args.db):
        URL = mirror(DB_PATH, args.db, "bench_risk", rebuild=args.rebuild)

    counter = iter(range(10**9))
    stamp = datetime.now(UTC).strftime("%H%M%S%f")

    def next_ref() -> str:
        return f"run-{stamp}-{next(counter)}"

    at = TODAY_AT.isoformat()
    figures = {
        "subprocess: valhalla risk snapshot --json": median_ms(subprocess_runner(
            lambda: ["risk", "snapshot", "--day", LAST_DAY.isoformat(), "--json"]), args.runs),
        "subprocess: valhalla risk reserve --json": median_ms(subprocess_runner(
            lambda: ["risk", "reserve", "legal", "0.01", "--ref", next_ref(), "--at", at,
                     "--json"]), args.runs),
        "subprocess: python -c 'import the app, data layer, risk service' (floor)": median_ms(
            lambda: subprocess.run([sys.executable, "-c", "import valhalla_cli.app, "
                                    "valhalla_cli.db, valhalla_cli.services.risk"],
                                   check=True, cwd=REPO), args.runs),
    }

    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import risk

    def snapshot_call(db) -> None:
        with db.transaction() as session:
            risk.snapshot(session, day=LAST_DAY)

    def reserve_call(db) -> None:
        with db.transaction(write=True) as session:
            outcome = risk.reserve(session, engine="legal", amount="0.01", ref=next_ref(),
                                   at=TODAY_AT, actor="bench", business_timezone=TZ,
                                   enforce=True)
            assert outcome.result.status == "reserved", outcome.message

    def own_work(call: Callable) -> Callable[[], None]:
        def run() -> None:
            db = open_database(URL)
            try:
                call(db)
            finally:
                db.dispose()
        return run

    db = open_database(URL)
    figures["in-process: risk.snapshot (open database)"] = median_ms(
        lambda: snapshot_call(db), args.runs)
    figures["in-process: risk.reserve (open database)"] = median_ms(
        lambda: reserve_call(db), args.runs)
    db.dispose()
    figures["own work: open + schema check alone (the connection's set-up)"] = median_ms(
        own_work(lambda db: None), args.runs)
    figures["own work: open + schema check + risk.snapshot"] = median_ms(
        own_work(snapshot_call), args.runs)
    figures["own work: open + schema check + risk.reserve"] = median_ms(
        own_work(reserve_call), args.runs)

    targets = {"own work: open + schema check + risk.snapshot": "< 50 ms",
               "own work: open + schema check + risk.reserve": "< 100 ms"}
    print(f"medians of {args.runs} runs, {URL}: {DAYS} days x "
          f"{len(ENGINES) + 1} engines, {PER_DAY} reservations/day")
    for name, ms in figures.items():
        target = f"   (target {targets[name]})" if name in targets else ""
        print(f"{name:<74} {ms:8.1f} ms{target}")


if __name__ == "__main__":
    main()
