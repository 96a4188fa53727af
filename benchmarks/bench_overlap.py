"""Overlapping dispatch at scale: 4 runs x `--limit 500` started together.

    python benchmarks/bench_overlap.py                                # SQLite, 5 000 004 tasks
    python benchmarks/bench_overlap.py --db postgresql+psycopg://…    # the same on PostgreSQL

The database is bench_ladder.py's 5 000 004-task file (or its PostgreSQL mirror). Before each
round the live part is reset: `--due` ladders (default 8 000, every live one) have step 1 due
and ready; a dry run counts how many of those are claimable now (window open; some provinces'
windows are still closed at this hour, those tasks are re-timed instead). Then 4 worker
processes, started, imported and connected beforehand (a one-task dry run loads the lazily
imported modules dispatch uses; `--cold` skips it, so each timed run also imports them), are
released by one barrier and each runs one `ladder.dispatch(limit=500)` write transaction, as 4
cron hosts would.

Per round: tasks handed out (must be min(2 000, claimable)), duplicates (must be 0), and each
run's wall time from the barrier to its commit (target < 1 s).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_ladder  # noqa: E402

RUNS, LIMIT = 4, 500


def _worker(url: str, name: str, at, barrier, queue, cold: bool) -> None:  # type: ignore[no-untyped-def]
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import ladder

    try:
        db = open_database(url)
        config = bench_ladder._config()
        with db.transaction() as session:
            session.connection()
            if not cold:
                # Imported beforehand: the service modules load lazily, so a process that only
                # connected would import them (and the holiday calendars) inside its timed run.
                # A one-task dry run of dispatch itself loads what dispatch uses (`ladder.due`,
                # used here before, left the controls' and the writes' modules to the timed
                # run: about 130 ms on a busy machine); a dry run changes nothing.
                ladder.dispatch(session, at=at, limit=1, lease=timedelta(minutes=15),
                                worker=name, config=config, dry_run=True, enforce=False,
                                actor=name, business_timezone="America/Toronto",
                                identification=bench_ladder._identity())
    except Exception as exc:
        barrier.abort()  # the others must not wait for a worker that will never come
        queue.put((name, exc, 0.0))
        raise
    barrier.wait()
    started = time.perf_counter()
    try:
        with db.transaction(write=True) as session:
            result = ladder.dispatch(session, at=at, limit=LIMIT, lease=timedelta(minutes=15),
                                     worker=name, config=config, dry_run=False, enforce=False,
                                     actor=name, business_timezone="America/Toronto",
                                     identification=bench_ladder._identity())
    except Exception as exc:
        queue.put((name, exc, 0.0))  # a failed run is reported, not waited for
        raise
    elapsed = time.perf_counter() - started
    db.dispose()
    queue.put((name, [t.task_id for t in result.tasks], elapsed))


def _prepare(url: str, due: int, at) -> int:  # type: ignore[no-untyped-def]
    """Reset the live part, keep `due` ladders' first step ready; return how many are claimable."""
    from sqlalchemy import create_engine, text

    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import ladder

    bench_ladder.ensure_leads(url)
    bench_ladder.reset_live(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE followup_task SET ready = false WHERE lead_id >= :cut "
                          "AND lead_id < 'lead-b' AND step = 1"), {"cut": f"lead-a{due:09d}"})
    engine.dispose()
    db = open_database(url)
    with db.transaction() as session:
        claimable = len(ladder.due(session, at=at, limit=100_000, config=bench_ladder._config(),
                                   business_timezone="America/Toronto",
                                   identification=bench_ladder._identity()))
    db.dispose()
    return claimable


def one_round(url: str, due: int, at, cold: bool = False) -> dict:  # type: ignore[no-untyped-def]
    claimable = _prepare(url, due, at)
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(RUNS), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, f"cron-{i}", at, barrier, queue, cold))
             for i in range(RUNS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=600) for _ in procs]
    failed = [(name, tasks) for name, tasks, _ in results if isinstance(tasks, BaseException)]
    if failed:
        for p in procs:
            p.join(timeout=60)
        raise SystemExit(f"run {failed[0][0]} failed: {failed[0][1]!r}")
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    handed = [task for _, tasks, _ in results for task in tasks]
    return {"claimable": claimable, "handed": len(handed),
            "duplicates": len(handed) - len(set(handed)),
            "per_run": sorted(len(tasks) for _, tasks, _ in results),
            "seconds": sorted(elapsed for _, _, elapsed in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None,
                        help="a PostgreSQL server URL (postgresql+psycopg://…) to measure there")
    parser.add_argument("--rows", type=int, default=5_000_004)
    parser.add_argument("--due", type=int, nargs="+", default=[8_000, 2_000],
                        help="live ladders whose first step is due (one table row each)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cold", action="store_true",
                        help="no dry run before the barrier: each timed run imports its modules")
    args = parser.parse_args()
    url = bench_ladder.target(args.rows, args.db)
    engine = "PostgreSQL" if args.db else "SQLite"
    print(f"{engine}, {args.rows:,} tasks, {RUNS} runs x --limit {LIMIT} started together"
          f"{' (cold: imports inside the timed run)' if args.cold else ''}\n")
    print("| due | claimable | round | handed out (expected) | duplicates | per run | "
          "run wall times (ms) |")
    print("|---:|---:|---:|---:|---:|---|---|")
    times: dict[int, list[float]] = {}
    ok = True
    for due in args.due:
        for round_ in range(args.rounds):
            at = bench_ladder.NOW + timedelta(minutes=1, seconds=round_)
            r = one_round(url, due, at, args.cold)
            expected = min(RUNS * LIMIT, r["claimable"])
            ok &= r["handed"] == expected and r["duplicates"] == 0
            times.setdefault(due, []).extend(r["seconds"])
            print(f"| {due:,} | {r['claimable']:,} | {round_ + 1} | {r['handed']:,} "
                  f"({expected:,}) | {r['duplicates']} | "
                  f"{' / '.join(str(n) for n in r['per_run'])} | "
                  f"{' / '.join(f'{s * 1000:.0f}' for s in r['seconds'])} |", flush=True)
    print()
    for due, samples in times.items():
        print(f"due {due:,}: run wall time median {statistics.median(samples) * 1000:.0f} ms, "
              f"max {max(samples) * 1000:.0f} ms over {len(samples)} runs (target < 1 000 ms)")
    bench_ladder.reset_live(url)
    if not ok:
        raise SystemExit("an overlapping run came back short or a task was handed out twice")


if __name__ == "__main__":
    main()
