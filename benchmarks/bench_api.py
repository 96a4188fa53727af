"""HTTP API latency and throughput: `can-contact` and `risk reserve` through a real
`valhalla serve` on loopback, 8 concurrent clients, beside the same question as a CLI process.

Bounded: a fixed number of requests per endpoint (default 4 000), then the server is stopped.
Run it under `nice -n 10` on a shared machine:

    nice -n 10 .venv/bin/python benchmarks/bench_api.py                       # SQLite
    nice -n 10 .venv/bin/python benchmarks/bench_api.py --pg-url URL          # and PostgreSQL

`--pg-url` is a superuser URL of a server; a throw-away database is created on it and dropped.
Each client is a thread with its own keep-alive connection, sending its next request as soon as
the previous one is answered (a closed loop: latency then includes queueing behind the other 7
clients on a 2-core machine shared with the server), and, with `--rate`, paced at that many
requests per second per client (a dialer asking before each call), the clients spread evenly over
the interval.
"""

from __future__ import annotations

import argparse
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "benchmarks" / "data"
VALHALLA = [sys.executable, "-m", "valhalla_cli"]
AT = "2027-01-15T10:00:00-05:00"
CAN_CONTACT = ("/api/governance/market/can-contact",
               {"province": "ON", "market": "TORONTO", "channel": "CALL", "lead_score": "60",
                "at": AT})


def cli(db_url: str, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([*VALHALLA, "--db", db_url, *args], capture_output=True,
                            text=True, cwd=REPO)
    if result.returncode not in (0, 1):
        raise SystemExit(f"valhalla {' '.join(args)} failed: {result.stderr}")
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(db_url: str) -> str:
    cli(db_url, "db", "upgrade")
    cli(db_url, "golive", "enable", "--reason", "benchmark", "--at", AT)
    cli(db_url, "risk", "policy-set", "GLOBAL", "--daily-cap", "900000000", "--reason", "bench",
        "--at", AT)
    cli(db_url, "risk", "policy-set", "acquisitions", "--daily-cap", "900000000", "--reason",
        "bench", "--at", AT)
    created = cli(db_url, "api", "token", "create", f"bench-{uuid.uuid4().hex[:6]}", "--scope",
                  "operate", "--format", "json")
    import json

    return json.loads(created.stdout)["token"]


def start(db_url: str, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(DATA / f"serve-{port}.log", "wb")  # noqa: SIM115 (lives as long as the server)
    proc = subprocess.Popen([*VALHALLA, "--db", db_url, "serve", "--port", str(port),
                             "--workers", str(workers)], stdout=log, stderr=subprocess.STDOUT,
                            cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("valhalla serve did not start")


def load(url: str, token: str, *, requests: int, clients: int, rate: float,
         make) -> tuple[list[float], float, dict[int, int]]:
    """Send `requests` requests from `clients` threads; latencies in seconds, wall time."""
    per_client = requests // clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def run(index: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                          timeout=60) as client:
            for n in range(10):  # warm the connection and the worker
                method, path, kwargs = make(index, -1 - n)
                client.request(method, path, **kwargs)
            barrier.wait()
            interval = 1 / rate if rate else 0
            # Clients start out of phase, as independent dialers are: in phase, all of them
            # would ask at the same instant each interval and measure the queue of that burst.
            next_at = time.perf_counter() + interval * index / clients
            for n in range(per_client):
                if interval:
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    next_at += interval
                method, path, kwargs = make(index, n)
                started = time.perf_counter()
                answer = client.request(method, path, **kwargs)
                latencies[index].append(time.perf_counter() - started)
                with lock:
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return [x for per in latencies for x in per], wall, statuses


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def cli_median(db_url: str, args: list[str], runs: int) -> float:
    samples = []
    for n in range(runs):
        started = time.perf_counter()
        cli(db_url, *[a.replace("{n}", str(n)) for a in args])
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def bench(engine: str, db_url: str, args: argparse.Namespace) -> None:
    token = prepare(db_url)
    proc, url = start(db_url, args.workers)
    run_id = uuid.uuid4().hex[:6]
    try:
        cases = {
            "can-contact": lambda i, n: ("GET", CAN_CONTACT[0], {"params": CAN_CONTACT[1]}),
            "risk reserve": lambda i, n: ("POST", "/api/governance/risk/reserve", {"json": {
                "engine": "acquisitions", "amount": "1", "ref": f"b{run_id}-{i}-{n}",
                "at": AT}}),
        }
        for name, make in cases.items():
            for rate in ([0.0, args.rate] if args.rate else [0.0]):
                lat, wall, statuses = load(url, token, requests=args.requests,
                                           clients=args.clients, rate=rate, make=make)
                mode = "closed loop" if not rate else f"{rate:g} req/s per client"
                print(f"{engine:<10} {name:<13} {mode:<22} n={len(lat):<5} "
                      f"p50 {percentile(lat, 50) * 1000:6.2f} ms  "
                      f"p99 {percentile(lat, 99) * 1000:6.2f} ms  "
                      f"{len(lat) / wall:7.0f} req/s  statuses {statuses}", flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    can = cli_median(db_url, ["market", "can-contact", "ON", "--market", "TORONTO", "--channel",
                              "CALL", "--lead-score", "60", "--at", AT, "--format", "json"],
                     args.cli_runs)
    reserve = cli_median(db_url, ["risk", "reserve", "acquisitions", "1", "--ref",
                                  f"cli{run_id}-{{n}}", "--at", AT, "--format", "json"],
                         args.cli_runs)
    print(f"{engine:<10} as a CLI process (median of {args.cli_runs}): can-contact "
          f"{can * 1000:.0f} ms, risk reserve {reserve * 1000:.0f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="per endpoint and mode")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--rate", type=float, default=50.0,
                        help="paced run: requests per second per client (0: closed loop only)")
    parser.add_argument("--cli-runs", type=int, default=10)
    parser.add_argument("--pg-url", help="PostgreSQL superuser URL: also benchmark PostgreSQL")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / "api-bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    bench("sqlite", f"sqlite:///{path}", args)
    if args.pg_url:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        name = f"vh_bench_api_{uuid.uuid4().hex[:6]}"
        admin = create_engine(make_url(args.pg_url).set(database="postgres"),
                              isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
            bench("postgresql", url, args)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


if __name__ == "__main__":
    main()
