"""The cost of one "next call" inside the server, as little as possible blurred by the load of
a shared machine: SQL statements (each with its time in the driver), CPU time, and how long the
write transaction lasts (SQLite's one writer is held that long), per `POST /api/desk/next` and
per disposition, measured in-process (the ASGI app through a test client, whose own CPU is in
the figure too) on `bench_desk.py`'s data, one caller; `--explain` prints each distinct
SELECT's query plan, `--profile` a cProfile of the server side of the Next calls.

    .venv/bin/python benchmarks/profile_desk.py --size 48006 --calls 40
    .venv/bin/python benchmarks/profile_desk.py --size 48006 --explain
    .venv/bin/python benchmarks/profile_desk.py --db postgresql+psycopg://… --size 48006
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _engines import upgrade_to_head  # noqa: E402
from bench_desk import ENV, calls_due, tokens  # noqa: E402
from bench_ladder import NOW, ensure_leads, target  # noqa: E402


class Statements:
    """Counts the statements of one phase, and keeps the first parameters of each."""

    def __init__(self) -> None:
        self.count = 0
        self.texts: Counter[str] = Counter()
        self.params: dict[str, Any] = {}
        self.seconds: Counter[str] = Counter()
        self.started = 0.0
        self.on = False

    def before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        if self.on:
            self.count += 1
            self.texts[statement] += 1
            self.params.setdefault(statement, parameters)
            self.started = time.perf_counter()

    def after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
              executemany: bool) -> None:
        if self.on:
            self.seconds[statement] += time.perf_counter() - self.started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=48_006)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--db", default=None)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    os.environ.update(ENV)
    url = target(args.size, args.db)
    upgrade_to_head(url)  # a file built before a later migration
    ensure_leads(url)
    calls_due(url)
    keys = tokens(url)

    from fastapi.testclient import TestClient
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from valhalla_cli.api.app import create_app
    from valhalla_cli.settings import resolve_settings

    counter = Statements()
    event.listen(Engine, "before_cursor_execute", counter.before)
    event.listen(Engine, "after_cursor_execute", counter.after)
    settings = resolve_settings(db=url)
    app = create_app(settings)
    at = NOW.isoformat()
    stats = {"next": [0, 0.0, 0.0], "disposition": [0, 0.0, 0.0]}  # statements, cpu, wall
    texts: dict[str, Counter[str]] = {"next": Counter(), "disposition": Counter()}
    profiler = cProfile.Profile()
    from valhalla_cli.services import desk as desk_service

    def profiled(work: Any) -> Any:
        # The server's side of a request runs in worker threads: profile the claim and the
        # card where they run.
        def run(*a: Any, **k: Any) -> Any:
            if args.profile and held["phase"] == "next":
                profiler.enable()
            try:
                return work(*a, **k)
            finally:
                if args.profile and held["phase"] == "next":
                    profiler.disable()
        return run

    held = {"next": 0.0, "disposition": 0.0, "phase": "next"}
    for name in ("claim_next", "next_card"):
        setattr(desk_service, name, profiled(getattr(desk_service, name)))
    transaction_timer(held)
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {keys[0]}"}
        held["phase"] = "warm-up"
        held["warm-up"] = 0.0
        client.get("/api/desk", params={"at": at}, headers=headers)
        warm = client.post("/api/desk/next", json={"at": at}, headers=headers).json()["task"]
        client.post(f"/api/desk/{warm['task_id']}/disposition", headers=headers,
                    json={"claim_token": warm["claim_token"], "outcome": "no_answer", "at": at})
        for _ in range(args.calls):
            for phase in ("next", "disposition"):
                held["phase"] = phase
                counter.on, counter.count, counter.texts = True, 0, Counter()
                cpu, wall = time.process_time(), time.perf_counter()
                if phase == "next":
                    answer = client.post("/api/desk/next", json={"at": at}, headers=headers)
                    card = answer.json()["task"]
                else:
                    answer = client.post(f"/api/desk/{card['task_id']}/disposition",
                                         json={"claim_token": card["claim_token"],
                                               "outcome": "no_answer", "at": at},
                                         headers=headers)
                    assert answer.status_code == 200, answer.text
                stats[phase][1] += time.process_time() - cpu
                stats[phase][2] += time.perf_counter() - wall
                counter.on = False
                stats[phase][0] += counter.count
                texts[phase].update(counter.texts)
    n = args.calls
    print("| phase | statements per request | CPU ms per request | wall ms per request | "
          "write transaction ms per request |")
    print("|---|---:|---:|---:|---:|")
    for phase, (count, cpu, wall) in stats.items():
        print(f"| {phase} | {count / n:.1f} | {cpu / n * 1000:.1f} | {wall / n * 1000:.1f} | "
              f"{held[phase] / n * 1000:.1f} |")
    for phase in ("next", "disposition"):
        print(f"\n## {phase}: statements (times per request, ms in the driver per request)")
        for text, times in texts[phase].most_common():
            print(f"{times / n:5.1f} {counter.seconds[text] / n * 1000:6.2f}  "
                  f"{' '.join(text.split())[:300]}")
    if args.explain:
        explain(url, counter.params, texts)
    if args.profile:
        report = pstats.Stats(profiler).sort_stats("cumulative")
        report.print_stats(40)
        report.sort_stats("tottime").print_stats(30)
        report.print_callees("dispatching.py.*[(]dispatch[)]|desk.py.*[(]card[)]")


def transaction_timer(held: dict[str, Any]) -> None:
    """Adds the wall time of each write transaction (BEGIN IMMEDIATE or a PostgreSQL write,
    to its commit) to the current phase: how long the request holds the writer."""
    from valhalla_cli import db

    transaction = db.Database.transaction

    @contextlib.contextmanager
    def timed(self: Any, *a: Any, write: bool = False, **k: Any) -> Any:
        started = time.perf_counter()
        try:
            with transaction(self, *a, write=write, **k) as session:
                yield session
        finally:
            if write:
                held[held["phase"]] += time.perf_counter() - started

    db.Database.transaction = timed  # type: ignore[method-assign]


def explain(url: str, params: dict[str, Any], texts: dict[str, Counter[str]]) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    seen = set()
    with engine.connect() as conn:
        for phase in texts.values():
            for text in phase:
                if text in seen or not text.lstrip().upper().startswith("SELECT"):
                    continue
                seen.add(text)
                prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
                raw = conn.connection.dbapi_connection
                cur = raw.cursor()
                try:
                    cur.execute(prefix + text, params.get(text) or ())
                    plan = [" ".join(str(c) for c in row) for row in cur.fetchall()]
                except Exception as exc:  # a plan we cannot ask for is shown as such
                    plan = [f"(no plan: {exc})"]
                print(f"\n{' '.join(text.split())[:200]}")
                for line in plan:
                    print("    " + line)


if __name__ == "__main__":
    main()
