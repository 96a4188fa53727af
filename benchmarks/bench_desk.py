"""The call desk's "next call": p50/p99 of `POST /api/desk/next` with 8 callers at once
through a real `valhalla serve`, at the benchmark scale (5 000 000 tasks), on SQLite and PostgreSQL.

    nice -n 10 .venv/bin/python benchmarks/bench_desk.py                        # 5M tasks, SQLite
    nice -n 10 .venv/bin/python benchmarks/bench_desk.py --db postgresql+psycopg://…  # PostgreSQL
    .venv/bin/python benchmarks/bench_desk.py --size 48006 --calls 5            # a quick check

The table is `bench_ladder.py`'s (its SQLite file is built once and reused; with `--db` it is
mirrored into PostgreSQL by COPY): a history of finished ladders plus 8 000 live ladders of 20
owners. Here the live ladders' first step (a text) is finished and their CALL step is due, so
each owner has 400 calls waiting. 8 caller tokens of one owner each loop: Next call (timed: the
dispatch claim and the lead card), then a `no_answer` disposition (not timed). Target: p99 under
100 ms on SQLite. Every task handed out is checked to be handed out once.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _engines import DATA, upgrade_to_head  # noqa: E402
from bench_ladder import NOW, ensure_leads, reset_live, target  # noqa: E402

OWNER = "owner-00"
CALLERS = 8
ENV = {**os.environ, "VALHALLA_GOLIVE_ENFORCE": "0", "VALHALLA_BUSINESS_NAME":
       "Maple Home Buyers", "VALHALLA_BUSINESS_CALLBACK": "+14165550100",
       "VALHALLA_ACTOR": "bench"}


def calls_due(url: str) -> None:
    """The live ladders' texts done 50 minutes ago, their first call due and ready."""
    from sqlalchemy import create_engine, text

    reset_live(url)
    engine = create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    done = (NOW - timedelta(minutes=50)).astimezone(UTC)
    stamp = done.strftime("%Y-%m-%d %H:%M:%S.000000") if sqlite else done
    live = "lead_id >= 'lead-a' AND lead_id < 'lead-b'"
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE followup_task SET status = 'done', outcome = 'sent', "
                          f"completed_at = :t, response_minutes = 0 WHERE {live} AND step = 1"),
                     {"t": stamp})
        conn.execute(text(f"UPDATE followup_task SET ready = :yes, due_at = planned_at "
                          f"WHERE {live} AND step = 2"), {"yes": True})
        conn.execute(text("DELETE FROM api_token WHERE name LIKE 'desk-bench-%'"))
    engine.dispose()


def tokens(url: str) -> list[str]:
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import api_tokens

    db = open_database(url)
    made = []
    with db.transaction(write=True) as session:
        for n in range(CALLERS):
            made.append(api_tokens.create(session, name=f"desk-bench-{n}", scope="operate",
                                          actor="bench", at=datetime.now(UTC),
                                          owner=OWNER).token)
    db.dispose()
    return made


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(url: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    DATA.mkdir(parents=True, exist_ok=True)
    log = open(DATA / f"desk-serve-{port}.log", "wb")  # noqa: SIM115 (lives with the server)
    proc = subprocess.Popen([sys.executable, "-m", "valhalla_cli", "--db", url, "serve",
                             "--port", str(port), "--workers", str(workers)], stdout=log,
                            stderr=subprocess.STDOUT, cwd=ROOT, env=ENV)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("valhalla serve did not start")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def run(base: str, keys: list[str], calls: int, think: float
        ) -> tuple[list[float], list[int], float]:
    """Each caller: `calls` times Next call (timed), `think` seconds on the phone, then a
    disposition."""
    latencies: list[list[float]] = [[] for _ in keys]
    handed: list[list[int]] = [[] for _ in keys]
    errors: list[str] = []
    barrier = threading.Barrier(len(keys) + 1)
    at = NOW.isoformat()

    def caller(index: int) -> None:
        with httpx.Client(base_url=base, timeout=60,
                          headers={"Authorization": f"Bearer {keys[index]}"}) as client:
            client.get("/api/desk", params={"at": at})  # warm the connection and the worker
            barrier.wait()
            for _ in range(calls):
                started = time.perf_counter()
                answer = client.post("/api/desk/next", json={"at": at})
                latencies[index].append(time.perf_counter() - started)
                card = answer.json().get("task") if answer.status_code == 200 else None
                if card is None:
                    errors.append(f"next: {answer.status_code} {answer.text[:200]}")
                    return
                handed[index].append(card["task_id"])
                if think:
                    time.sleep(think)
                done = client.post(f"/api/desk/{card['task_id']}/disposition",
                                   json={"claim_token": card["claim_token"],
                                         "outcome": "no_answer", "at": at})
                if done.status_code != 200:
                    errors.append(f"disposition: {done.status_code} {done.text[:200]}")
                    return

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(keys))]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if errors:
        raise SystemExit("; ".join(errors[:3]))
    return [x for per in latencies for x in per], [t for per in handed for t in per], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5_000_004,
                        help="tasks in the table (48 000 + a multiple of 6)")
    parser.add_argument("--calls", type=int, default=40, help="Next calls per caller")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds a caller spends on the phone between Next and its "
                             "disposition (0: a closed loop, the worst case)")
    parser.add_argument("--db", default=None,
                        help="a PostgreSQL server URL (postgresql+psycopg://…) to measure "
                             "there instead of SQLite")
    args = parser.parse_args()
    if not 1 <= args.calls <= 50:
        raise SystemExit("--calls must be 1-50 (an owner has 400 calls for 8 callers)")
    url = target(args.size, args.db)
    upgrade_to_head(url)  # a file built before a later migration
    ensure_leads(url)
    calls_due(url)
    keys = tokens(url)
    proc, base = serve(url, args.workers)
    try:
        latencies, handed, wall = run(base, keys, args.calls, args.think)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert len(handed) == len(set(handed)), "a task was handed out twice"
    engine = "postgresql" if args.db else "sqlite"
    print("| engine | tasks in table | callers | next calls | p50 | p99 | calls/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| {engine} | {args.size:,} | {CALLERS} | {len(latencies)} | "
          f"{percentile(latencies, 50) * 1000:.1f} ms | {percentile(latencies, 99) * 1000:.1f} ms"
          f" | {len(latencies) / wall:.0f} |", flush=True)


if __name__ == "__main__":
    main()
