"""Deal desk at scale: `liquidity score` < 50 ms and `offer compute` < 100 ms of their
own work with 2 000 000 buyer-feedback events and 100 000 offer-evidence rows.

    .venv/bin/python benchmarks/bench_deal.py            # builds benchmarks/data/deal.db once
    .venv/bin/python benchmarks/bench_deal.py --rebuild  # rebuild the data
    .venv/bin/python benchmarks/bench_deal.py --db postgresql+psycopg://…  # on PostgreSQL

The data is built with bulk SQL (recursive CTEs) straight into a SQLite file migrated to head:
520 nodes (13 provinces x 8 markets x 5 types) over 730 business dates, so each node has ~3 800
events and its 90-day window ~470; nodes are rebuilt from the events with one GROUP BY. Service
calls and whole commands are timed in-process (the command's own work: settings, opening the
database, the schema check, the query, the output); each command is also timed as a whole
process, beside `python -c "import sqlmodel"` for scale (no difference is taken: a command
imports only its own packs, so no import-only process matches it). Figures are medians. With `--db
postgresql…` the SQLite file is mirrored through COPY into a database on that server
(`_engines.mirror`) and everything is measured there.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _engines import DATA, is_postgres, mirror, upgrade_to_head  # noqa: E402

DB_PATH = DATA / "deal.db"
SQLITE_URL = f"sqlite:///{DB_PATH}"
URL = SQLITE_URL  # the database measured (main() points it at PostgreSQL with --db)
EVENTS = 2_000_000
EVIDENCE = 100_000
AT = "2027-01-15T12:00"
TZ = "America/Toronto"
PYTHON = sys.executable
MIN_SENT = 100  # feedback events in the scored node's 90-day window, at full size


def smallest() -> None:
    """Tiny sizes in a file of their own, to check that the script works (--smallest)."""
    global DB_PATH, SQLITE_URL, URL, EVENTS, EVIDENCE, MIN_SENT
    DB_PATH = DATA / "deal-smallest.db"
    SQLITE_URL = URL = f"sqlite:///{DB_PATH}"
    EVENTS, EVIDENCE, MIN_SENT = 60_000, 2_000, 1


def median_ms(run, repeat: int, warmup: int = 2) -> float:  # type: ignore[no-untyped-def]
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def build() -> None:
    from valhalla_cli.bootstrap import open_database

    DATA.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB_PATH}{suffix}").unlink(missing_ok=True)
    open_database(SQLITE_URL).dispose()  # a new file: migrated to head with the seeds
    started = time.perf_counter()
    conn = sqlite3.connect(DB_PATH, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    from valhalla_cli.inputs import PROVINCES

    conn.execute("CREATE TEMP TABLE p(i INTEGER PRIMARY KEY, code TEXT)")
    conn.executemany("INSERT INTO p VALUES (?, ?)", list(enumerate(PROVINCES)))
    conn.execute("CREATE TEMP TABLE t(i INTEGER PRIMARY KEY, code TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)",
                     list(enumerate(("SFR", "CONDO", "TOWNHOUSE", "MULTI", "LAND"))))
    # Event n: province n % 13, market (n / 13) % 8, type (n / 104) % 5, a business date among
    # the 730 ending 2027-01-15 (noon-ish UTC, so the Toronto date is the same), ~55 %
    # responded, ~30 % of those closed.
    conn.execute(f"""
        WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {EVENTS}),
        ev AS (
            SELECT n, (n % 13) AS pi, 'MKT' || ((n / 13) % 8) AS market, ((n / 104) % 5) AS ti,
                   date('2027-01-15', '-' || ((n * 7919) % 730) || ' days') AS day,
                   ((n * 31) % 100) < 55 AS responded, ((n * 17) % 100) < 30 AS maybe_closed,
                   12 + (n % 8) AS hour
            FROM seq)
        INSERT INTO buyer_feedback_event (at, business_date, province, market, property_type,
                                          buyer, responded, closed, deal_ref, source, actor)
        SELECT ev.day || ' ' || printf('%02d', ev.hour) || ':00:00.000000', ev.day, p.code,
               ev.market, t.code, 'buyer' || (ev.n % 5000), ev.responded,
               ev.responded AND ev.maybe_closed, NULL, 'bench', 'bench'
        FROM ev JOIN p ON p.i = ev.pi JOIN t ON t.i = ev.ti
    """)
    conn.execute("""
        INSERT INTO buyer_liquidity_node (province, market, market_key, property_type,
                                          business_date, sent, responded, closed)
        SELECT province, market, market, property_type, business_date, COUNT(*), SUM(responded),
               SUM(closed)
        FROM buyer_feedback_event GROUP BY province, market, property_type, business_date
    """)
    conn.execute(f"""
        WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {EVIDENCE})
        INSERT INTO offer_evidence (at, recorded_at, actor, province, market, property_type,
            deal_ref, note, mode, throttled, outcome, reason, arv_cents, repairs_cents,
            fees_cents, mao_cents, max_offer_cents, opening_offer_cents, liquidity_score,
            liquidity_band, inputs, policy, comps, liquidity, result)
        SELECT '2026-06-01 12:00:00.000000', '2026-06-01 12:00:00.000000', 'bench', p.code,
               'MKT' || (n % 8), 'SFR', 'D-' || n, NULL, 'sandbox', 0, 'offer', NULL,
               45000000, 5000000, 1000000, 25500000, 25500000, 22950000, 70, 'warm',
               '{{}}', '{{}}', NULL, '{{}}', '{{}}'
        FROM seq JOIN p ON p.i = seq.n % 13
    """)
    conn.execute("UPDATE offer_policy SET enabled = 1 WHERE province = 'ON' AND market = '*'")
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    print(f"built {DB_PATH} in {time.perf_counter() - started:.1f} s")


def counts() -> tuple[int, int]:
    if not DB_PATH.exists():
        return 0, 0
    conn = sqlite3.connect(DB_PATH)
    try:
        events = conn.execute("SELECT COUNT(*) FROM buyer_feedback_event").fetchone()[0]
        evidence = conn.execute("SELECT COUNT(*) FROM offer_evidence").fetchone()[0]
    except sqlite3.Error:
        return 0, 0
    finally:
        conn.close()
    return events, evidence


def in_process(repeat: int) -> dict[str, float]:
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.clock import parse_instant
    from valhalla_cli.services import liquidity, offer

    db = open_database(URL)
    at = parse_instant(AT, TZ)
    figures = {}

    def score() -> None:
        with db.transaction() as session:
            view = liquidity.score(session, province="ON", market="MKT3", property_type="SFR",
                                   at=at, business_timezone=TZ)
            assert view.sent >= MIN_SENT, view

    def compute() -> None:
        with db.transaction(write=True) as session:
            result = offer.compute(session, province="ON", market="MKT3", property_type="SFR",
                                   arv="450000", repairs="50000", at=at, actor="bench",
                                   business_timezone=TZ, enforce=True,
                                   recorded_at=datetime.now(UTC))
            assert result.outcome == "offer", result.reason

    def nodes() -> None:
        with db.transaction() as session:
            assert len(liquidity.nodes(session, province=None, at=at,
                                       business_timezone=TZ)) == 520

    import contextlib
    import io

    import typer

    from valhalla_cli.app import app

    # Typer builds its Click command tree once per process (start-up, like imports); what is
    # timed is the command itself: settings, opening the database, the schema check, the
    # service, the commit and the JSON rendering.
    click_app = typer.main.get_command(app)

    def command(*args: str):  # type: ignore[no-untyped-def]
        def go() -> None:
            sink = io.StringIO()
            with contextlib.redirect_stdout(sink), contextlib.suppress(SystemExit):
                click_app.main(["--db", URL, "-q", *args, "--at", AT, "--json"],
                               prog_name="valhalla")
            assert '"province": "ON"' in sink.getvalue(), sink.getvalue()
        return go

    figures["liquidity score (service, in-process)"] = median_ms(score, repeat)
    figures["liquidity score (whole command, in-process)"] = median_ms(
        command("liquidity", "score", "ON", "--market", "MKT3"), repeat)
    figures["offer compute (whole command, in-process)"] = median_ms(
        command("offer", "compute", "ON", "--market", "MKT3", "--arv", "450000", "--repairs",
                "50000"), repeat)
    figures["offer compute (service + commit, in-process)"] = median_ms(compute, repeat)
    figures["liquidity nodes, all 520 (service, in-process)"] = median_ms(nodes, max(5, repeat
                                                                                    // 4))
    db.dispose()
    return figures


def subprocesses(repeat: int) -> dict[str, float]:
    """Whole processes, interleaved (reference, score, compute, reference, ...) so that load on
    a shared machine affects all three alike."""
    env = {**os.environ, "VALHALLA_ACTOR": "bench"}
    cli = [PYTHON, "-m", "valhalla_cli", "--db", URL]
    commands = {
        "python -c 'import sqlmodel' (reference)": [PYTHON, "-c", "import sqlmodel"],
        "valhalla liquidity score (whole process)": [
            *cli, "-q", "liquidity", "score", "ON", "--market", "MKT3", "--at", AT, "--json"],
        "valhalla offer compute (whole process)": [
            *cli, "-q", "offer", "compute", "ON", "--market", "MKT3", "--arv", "450000",
            "--repairs", "50000", "--at", AT, "--json"],
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(repeat + 1):
        for name, argv in commands.items():
            started = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env)
            elapsed = (time.perf_counter() - started) * 1000
            if proc.returncode != 0:
                raise SystemExit(f"{argv} failed: {proc.stderr}")
            if round_:  # the first round warms the page cache
                samples[name].append(elapsed)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data file")
    parser.add_argument("--repeat", type=int, default=41, help="runs per in-process figure")
    parser.add_argument("--sub-repeat", type=int, default=11, help="runs per subprocess figure")
    parser.add_argument("--db", default=None,
                        help="a PostgreSQL server URL (postgresql+psycopg://…) to measure there")
    parser.add_argument("--smallest", action="store_true",
                        help="tiny sizes, to check the script works")
    args = parser.parse_args()
    global URL
    if args.smallest:
        smallest()
    events, evidence = counts()
    if args.rebuild or events < EVENTS or evidence < EVIDENCE:
        build()
        events, evidence = counts()
    upgrade_to_head(SQLITE_URL)  # a reused file may predate the latest migration
    if is_postgres(args.db):
        name = "bench_deal_smallest" if args.smallest else "bench_deal"
        URL = mirror(DB_PATH, args.db, name, rebuild=args.rebuild)
    print(f"data: {events:,} feedback events, {evidence:,} offer evidence rows ({URL})")
    results = in_process(args.repeat)
    results |= subprocesses(args.sub_repeat)
    targets = {"liquidity score (service, in-process)": "< 50 ms",
               "liquidity score (whole command, in-process)": "< 50 ms",
               "offer compute (whole command, in-process)": "< 100 ms",
               "offer compute (service + commit, in-process)": "< 100 ms"}
    for name, ms in results.items():
        target = targets.get(name)
        print(f"{name:<52} {ms:8.1f} ms" + (f"   (target {target})" if target else ""))


if __name__ == "__main__":
    main()
