"""`valhalla send`: its own cost per message against the Twilio double answering at
once, the status webhook under 8 concurrent clients, and the pace.

    nice -n 10 .venv/bin/python benchmarks/bench_send.py                   # SQLite
    nice -n 10 .venv/bin/python benchmarks/bench_send.py --pg-url URL      # and PostgreSQL
    .venv/bin/python benchmarks/bench_send.py --smallest                   # a quick check

- cost: N due texts sent by one in-process run (`max_per_second` high); the provider's answer
  time (each request's round trip to the double, timed around the call) is subtracted from the
  run's wall time: what is left per message is Valhalla's own work (claim, contact decision,
  the `sending` row, the answer's record and the task's completion). Target: under 5 ms on
  SQLite and 10 ms on PostgreSQL.
- webhook: a real `valhalla serve`, 8 client threads posting signed status callbacks (two
  statuses per message, 10 000 in all); p50/p99 latency and that none was lost (every event
  recorded, every message delivered). Target: p99 under 50 ms.
- pacing: 60 messages at `max_per_second = 2` through a real `valhalla send` process, from the
  first request to the last. Target: 29.5-31 s.

`--pg-url` is a superuser URL: a throw-away database is created on it and dropped.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from twilio_double import TwilioDouble  # noqa: E402

VALHALLA = [sys.executable, "-m", "valhalla_cli"]
AT = "2027-01-15T10:00:00-05:00"
LATER = "2027-01-15T10:01:00-05:00"
ENV = {**os.environ, "VALHALLA_BUSINESS_NAME": "Maple Home Buyers",
       "VALHALLA_BUSINESS_CALLBACK": "+14165550100", "VALHALLA_ACTOR": "bench"}


def cli(db_url: str, *args: str, config: Path | None = None) -> subprocess.CompletedProcess:
    argv = [*VALHALLA, *(["--config", str(config)] if config else []), "--db", db_url, *args]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=ENV)
    if result.returncode not in (0, 1):
        raise SystemExit(f"valhalla {' '.join(args)} failed: {result.stderr}")
    return result


def database(kind: str, pg_url: str | None, work: Path) -> tuple[str, object]:
    """A fresh database at head: its URL and a clean-up function."""
    if kind == "sqlite":
        path = work / f"send-{uuid.uuid4().hex[:6]}.db"
        return f"sqlite:///{path}", lambda: None
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    assert pg_url is not None
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = f"bench_send_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return make_url(pg_url).set(database=name).render_as_string(hide_password=False), drop


def due_texts(db_url: str, work: Path, count: int) -> None:
    rows = ["lead_id,province,phone,consent,consent_at,start_at"]
    rows += [f"B-{i},ON,+1416{5550000 + i:07d},express,2027-01-01T09:00,{AT}"
             for i in range(count)]
    csv = work / f"ladders-{uuid.uuid4().hex[:6]}.csv"
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    cli(db_url, "db", "upgrade")
    cli(db_url, "golive", "enable", "--reason", "benchmark")
    cli(db_url, "ladder", "import", str(csv), "--at", AT)


def config_for(double: TwilioDouble, work: Path, per_second: float,
               callback: str | None = None) -> Path:
    path = work / f"send-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(double.config(max_per_second=per_second, callback_url=callback),
                    encoding="utf-8")
    return path


def cost(kind: str, pg_url: str | None, work: Path, count: int) -> None:
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.inputs import parse_instant
    from valhalla_cli.services.ladder import ladder_config
    from valhalla_cli.services.sending import provider, run
    from valhalla_cli.settings import resolve_settings

    db_url, drop = database(kind, pg_url, work)
    try:
        due_texts(db_url, work, count)
        with TwilioDouble() as double:
            config = config_for(double, work, 10_000)
            os.environ.update({k: v for k, v in ENV.items() if k.startswith("VALHALLA_")})
            settings = resolve_settings(config=str(config), db=db_url)
            db = open_database(db_url)
            answered: list[float] = []
            create = provider.Twilio.create

            def timed(self, **kwargs):
                started = time.perf_counter()
                try:
                    return create(self, **kwargs)
                finally:
                    answered.append(time.perf_counter() - started)

            provider.Twilio.create = timed  # type: ignore[method-assign]
            try:
                started = time.perf_counter()
                result = run.send(db.transaction, settings, ladder_config(settings.ladder),
                                  at=parse_instant(LATER, "America/Toronto"), limit=None,
                                  max_seconds=3600, worker="bench", dry_run=False,
                                  actor="bench")
                wall = time.perf_counter() - started
            finally:
                provider.Twilio.create = create  # type: ignore[method-assign]
                db.dispose()
        sent = len(result.handled)
        assert sent == count, (sent, result.summary)
        own = (wall - sum(answered)) / sent
        target = 5 if kind == "sqlite" else 10
        print(f"{kind:<10} cost per message: {own * 1000:6.2f} ms own work "
              f"(+ {sum(answered) / sent * 1000:.2f} ms the double's answer), {sent} messages "
              f"in {wall:.2f} s   (target: under {target} ms)")
    finally:
        drop()  # type: ignore[operator]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def webhook(kind: str, pg_url: str | None, work: Path, callbacks: int) -> None:
    from sqlalchemy import text

    from valhalla_cli.bootstrap import open_database

    messages = callbacks // 2
    db_url, drop = database(kind, pg_url, work)
    proc = None
    try:
        cli(db_url, "db", "upgrade")
        db = open_database(db_url)
        now = datetime.now(UTC)
        with db.transaction(write=True) as session:
            session.execute(text(
                "INSERT INTO outbound_message (\"to\", sender, body, segments, provider, sid, "
                "state, created_at, accepted_at, actor) VALUES (:to, '+14165550100', 'hi', 1, "
                "'twilio', :sid, 'accepted', :now, :now, 'bench')"),
                [{"to": f"+1416{5550000 + i:07d}", "sid": f"SM{i:032x}", "now": now}
                 for i in range(messages)])
        double = TwilioDouble()
        config = config_for(double, work, 1)
        port = free_port()
        log = open(work / f"serve-{port}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([*VALHALLA, "--config", str(config), "--db", db_url, "serve",
                                 "--port", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                cwd=REPO, env=ENV)
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        target = url + "/api/webhooks/sms/status"
        clients = 8
        jobs = [(f"SM{i:032x}", status) for status in ("sent", "delivered")
                for i in range(messages)]
        latencies: list[float] = []
        failures: list[int] = []
        lock = threading.Lock()

        def post(share: list[tuple[str, str]]) -> None:
            mine = []
            with httpx.Client(timeout=60) as client:
                for sid, status in share:
                    params = {"MessageSid": sid, "MessageStatus": status,
                              "AccountSid": double.account_sid}
                    headers = {"X-Twilio-Signature": double.signature(target, params)}
                    started = time.perf_counter()
                    answer = client.post(target, data=params, headers=headers)
                    mine.append(time.perf_counter() - started)
                    if answer.status_code != 200:
                        failures.append(answer.status_code)
            with lock:
                latencies.extend(mine)

        # each status of a message goes out in order (sent before delivered), 8 at a time
        threads = [threading.Thread(target=post, args=(jobs[i::clients],))
                   for i in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        double.server.server_close()
        with db.engine.connect() as conn:
            events = conn.execute(text("SELECT COUNT(*) FROM message_event")).scalar()
            delivered = conn.execute(text(
                "SELECT COUNT(*) FROM outbound_message WHERE state = 'delivered'")).scalar()
        db.dispose()
        ordered = sorted(latencies)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]

        print(f"{kind:<10} status webhook, {clients} clients, {len(jobs)} callbacks in "
              f"{wall:.1f} s: p50 {pct(50) * 1000:.1f} ms, p99 {pct(99) * 1000:.1f} ms "
              f"(target: p99 under 50 ms); {events} events recorded, {delivered} of "
              f"{messages} delivered, {len(failures)} non-200 answers"
              + ("" if events == len(jobs) and not failures else "   LOST CALLBACKS"))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
        drop()  # type: ignore[operator]


def pacing(work: Path, count: int, per_second: float) -> None:
    db_url, _ = database("sqlite", None, work)
    due_texts(db_url, work, count)
    with TwilioDouble() as double:
        double.now = lambda: datetime(2027, 1, 15, 15, 1, tzinfo=UTC)
        config = config_for(double, work, per_second)
        started = time.perf_counter()
        cli(db_url, "send", "--at", LATER, "--max-seconds", "600", config=config)
        wall = time.perf_counter() - started
        times = sorted(r.at for r in double.creates())
    span = times[-1] - times[0]
    expected = (count - 1) / per_second
    print(f"pacing     {count} messages at max_per_second = {per_second:g}: first to last "
          f"request {span:.2f} s (ideal {expected:.1f} s; process {wall:.1f} s)   (target for "
          "60 at 2/s: 29.5-31 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", help="a PostgreSQL superuser URL: measure there too")
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--callbacks", type=int, default=10_000)
    parser.add_argument("--smallest", action="store_true",
                        help="tiny sizes, to check the script works")
    args = parser.parse_args()
    messages, callbacks, paced = args.messages, args.callbacks, 60
    if args.smallest:
        messages, callbacks, paced = 20, 200, 6
    with tempfile.TemporaryDirectory(prefix="bench-send-") as tmp:
        work = Path(tmp)
        kinds = ["sqlite"] + (["postgresql"] if args.pg_url else [])
        for kind in kinds:
            cost(kind, args.pg_url, work, messages)
        for kind in kinds:
            webhook(kind, args.pg_url, work, callbacks)
        pacing(work, paced, 2)


if __name__ == "__main__":
    main()
