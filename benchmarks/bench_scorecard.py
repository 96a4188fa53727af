"""The scorecard's reports at scale: `offer funnel` over 100 000 offers with outcomes,
`ladder breaches` and `scorecard` over a month at 5 000 000 follow-up tasks; each under 1 s of
own work.

    nice -n 10 .venv/bin/python benchmarks/bench_scorecard.py            # 7 runs each
    nice -n 10 .venv/bin/python benchmarks/bench_scorecard.py --runs 3

Reuses the builders of the other scripts: `bench_ladder.build(5_000_004)` (5 M tasks, history
over two years answered at any hour, so about half of a month's completions are window
breaches: far more than a real business, which makes the breach figures a worst case) and
`bench_deal.build()` (100 000 offer-evidence rows). To the first it adds a lead record for
every finished ladder (`ensure_history_leads`: 833 334 leads, 15 % with a number of another
zone, 0.5 % with a confirmed zone), so breaches judge each task in its lead's zones; to the
second, once, with bulk SQL, the outcomes of every offer: all sent in June 2026, 40 %
accepted, 20 % rejected, 10 % countered, 30 % contracted with a price, 10 % closed (210 000
outcome rows), and the funnel row `offer outcome` keeps for each sent offer.

Figures are medians of in-process runs of the command's own work: open the database (schema
check), one read transaction, the service call (`command` rows add rendering through the CLI
runner, as `bench_status.py` does), in wall-clock time and in CPU time of the process (on a
shared, loaded machine the wall figure mostly measures the wait for a core).
"""

from __future__ import annotations

import argparse
import io
import sqlite3
import statistics
import sys
import time
from contextlib import redirect_stdout
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_deal  # noqa: E402
import bench_ladder  # noqa: E402
from _engines import mirror, upgrade_to_head  # noqa: E402

TASKS = 5_000_004
LADDER_UNTIL = date(2027, 5, 31)  # the month `bench_ladder.py --sla-only` measures
LADDER_AT = datetime(2027, 6, 15, 15, 0, tzinfo=UTC)
FUNNEL_SINCE, FUNNEL_UNTIL = date(2026, 6, 1), date(2026, 6, 30)
FUNNEL_AT = datetime(2026, 8, 1, 12, 0, tzinfo=UTC)
TZ = "America/Toronto"


CPU: dict[str, float] = {}  # the same medians in CPU time of this process (less load-bound)


def median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm-up (page cache, first connection)
    samples, cpu = [], []
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    median_ms.last_cpu = statistics.median(cpu)  # type: ignore[attr-defined]
    return statistics.median(samples)


def timed(figures: dict[str, float], name: str, fn, runs: int) -> None:  # type: ignore[no-untyped-def]
    figures[name] = median_ms(fn, runs)
    CPU[name] = median_ms.last_cpu  # type: ignore[attr-defined]


def _add_once(path: Path, count_sql: str, inserts: list[str], what: str) -> int:
    """Run `inserts` in one transaction unless `count_sql` already counts rows; that count."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        have = conn.execute(count_sql).fetchone()[0]
        if have:
            return have
        started = time.perf_counter()
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        for sql in inserts:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        have = conn.execute(count_sql).fetchone()[0]
        print(f"added {have:,} {what} in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
        return have
    finally:
        conn.close()


def add_outcomes(path: Path) -> int:
    """The outcomes of every offer of deal.db (once): n % 10 decides its life."""
    stages = [  # (status, condition on n % 10, days after sent, amount)
        ("sent", "1", 0, "NULL"),
        ("countered", "k = 6", 1, "26000000"),
        ("accepted", "k <= 3", 2, "NULL"),
        ("rejected", "k IN (4, 5, 6)", 3, "NULL"),
        ("contracted", "k <= 2", 5, "25000000 - (id % 7) * 100000"),
        ("closed", "k = 0", 20, "NULL"),
    ]
    inserts = [f"""
        INSERT INTO offer_outcome (evidence_id, status, amount_cents, note, at, recorded_at,
                                   actor)
        SELECT id, '{status}', {amount}, NULL,
               strftime('%Y-%m-%d 16:00:00.000000', '2026-06-02',
                        '+' || ((id % 28) + {days}) || ' days'),
               '2026-08-01 12:00:00.000000', 'bench'
        FROM (SELECT id, id % 10 AS k FROM offer_evidence) WHERE {condition}"""
               for status, condition, days, amount in stages]
    # what `offer outcome` keeps beside each stage: one funnel row per sent offer
    inserts.append("""
        INSERT INTO offer_funnel (evidence_id, sent_at, province, market, property_type,
                                  countered_at, accepted_at, rejected_at, contracted_at,
                                  closed_at, withdrawn_at, over_max, contract_gap_cents)
        SELECT e.id, s.at, e.province, e.market, e.property_type,
               (SELECT at FROM offer_outcome o WHERE o.evidence_id = e.id
                AND o.status = 'countered'),
               (SELECT at FROM offer_outcome o WHERE o.evidence_id = e.id
                AND o.status = 'accepted'),
               (SELECT at FROM offer_outcome o WHERE o.evidence_id = e.id
                AND o.status = 'rejected'),
               (SELECT at FROM offer_outcome o WHERE o.evidence_id = e.id
                AND o.status = 'contracted'),
               (SELECT at FROM offer_outcome o WHERE o.evidence_id = e.id
                AND o.status = 'closed'),
               NULL, 0,
               (SELECT amount_cents FROM offer_outcome o WHERE o.evidence_id = e.id
                AND o.status = 'contracted') - e.max_offer_cents
        FROM offer_outcome s JOIN offer_evidence e ON e.id = s.evidence_id
        WHERE s.status = 'sent'""")
    return _add_once(path, "SELECT COUNT(*) FROM offer_outcome", inserts, "outcomes")


NATIVE_AREA_CODE = {"AB": "403", "BC": "604", "MB": "204", "NB": "506", "NL": "709",
                    "NS": "902", "NT": "867", "NU": "867", "ON": "416", "PE": "902",
                    "QC": "514", "SK": "306", "YT": "867"}


def ensure_history_leads(path: Path) -> int:
    """A lead record for every finished ladder (once), so breaches judge each task in its
    lead's zones: 85 % with a number of the province's own area code, 15 % with one of another
    zone (604 Vancouver, or 416 Toronto for a BC lead) and one in 200 with a confirmed zone
    (America/Regina)."""
    native = " ".join(f"WHEN '{p}' THEN '{c}'" for p, c in NATIVE_AREA_CODE.items())
    return _add_once(path, "SELECT COUNT(*) FROM lead WHERE lead_id LIKE 'lead-h%'", [f"""
        INSERT INTO lead (lead_id, phone, province, language, timezone, created_at, updated_at)
        SELECT lead_id,
               '+1' || CASE WHEN n % 20 < 3 THEN (CASE province WHEN 'BC' THEN '416'
                                                  ELSE '604' END)
                            ELSE (CASE province {native} END) END
                    || printf('%07d', 2000000 + n % 8000000),
               province, 'en', CASE WHEN n % 200 = 0 THEN 'America/Regina' END,
               '2025-01-01 00:00:00.000000', '2025-01-01 00:00:00.000000'
        FROM (SELECT DISTINCT lead_id, province, CAST(substr(lead_id, 7) AS INTEGER) AS n
              FROM followup_task WHERE lead_id >= 'lead-h' AND lead_id < 'lead-i')"""],
                     "history leads")


def bench_funnel(runs: int, server: str | None) -> dict[str, float]:
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import offer_outcome

    if bench_deal.counts()[1] < bench_deal.EVIDENCE:
        bench_deal.build()
    add_outcomes(bench_deal.DB_PATH)
    url = bench_deal.SQLITE_URL
    upgrade_to_head(url)  # bench_deal's file is reused across migrations
    if server:  # its own mirror: bench_deal's mirror may predate the outcomes
        url = mirror(bench_deal.DB_PATH, server, f"bench_funnel_{bench_deal.EVIDENCE}")
    figures: dict[str, float] = {}
    seen = {}
    for by in (None, "market", "province"):
        def run(by=by) -> None:  # type: ignore[no-untyped-def]
            db = open_database(url)
            with db.transaction() as session:
                seen[by] = offer_outcome.funnel(session, at=FUNNEL_AT, since=FUNNEL_SINCE,
                                                until=FUNNEL_UNTIL, by=by,
                                                business_timezone=TZ)
            db.dispose()

        timed(figures, f"funnel{'' if by is None else ' --by ' + by}", run, runs)
    row = seen[None][0]
    assert row.sent >= bench_deal.EVIDENCE, row  # bench_deal's own runs add offers
    figures["_sent"] = row.sent
    figures["_accept_rate"] = row.accept_rate or 0
    figures["_contract_rate"] = row.contract_rate or 0
    return figures


def bench_ladder_month(runs: int, server: str | None) -> dict[str, float]:
    from typer.testing import CliRunner

    from valhalla_cli.app import app
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import ladder_breaches, scorecard
    from valhalla_cli.settings import resolve_settings

    path = bench_ladder.build(TASKS)
    figures_leads = ensure_history_leads(path)
    url = f"sqlite:///{path}"
    if server:  # its own mirror: bench_ladder's holds no history leads
        url = mirror(path, server, f"bench_scorecard_{TASKS}")
    settings = resolve_settings(config=None, db=url, actor="bench", quiet=True)
    since = LADDER_UNTIL - timedelta(days=29)
    seen = {}
    figures: dict[str, float] = {}
    for limit in (1000, 1):
        def breaches(limit=limit) -> None:  # type: ignore[no-untyped-def]
            db = open_database(url)
            with db.transaction() as session:
                seen[limit] = ladder_breaches.report(session, at=LADDER_AT, since=since,
                                                     until=LADDER_UNTIL, business_timezone=TZ,
                                                     limit=limit)
            db.dispose()

        timed(figures, f"breaches --limit {limit}", breaches, runs)

    def card() -> None:
        db = open_database(url)
        with db.transaction() as session:
            seen["card"] = scorecard.compute(session, settings, at=LADDER_AT, since=since,
                                             until=LADDER_UNTIL)
        db.dispose()

    timed(figures, "scorecard", card, runs)
    runner = CliRunner()
    args = ["--db", url, "scorecard", "--since", since.isoformat(), "--until",
            LADDER_UNTIL.isoformat(), "--at", LADDER_AT.isoformat(), "--json"]

    def command() -> None:
        with redirect_stdout(io.StringIO()):
            result = runner.invoke(app, args)
        assert result.exit_code in (0, 1), result.output

    timed(figures, "scorecard command (in-process, rendered)", command, runs)
    report = seen[1000]
    figures["_completed"] = report.completed
    figures["_breaches"] = report.breaches
    figures["_missed"] = len(seen["card"].missed)
    figures["_leads"] = figures_leads
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", choices=("funnel", "ladder"), default=None)
    parser.add_argument("--smallest", action="store_true",
                        help="tiny sizes, to check the script works")
    parser.add_argument("--db", default=None,
                        help="a PostgreSQL server URL (postgresql+psycopg://…) to measure there "
                             "(the same rows, mirrored) instead of SQLite")
    args = parser.parse_args()
    if args.smallest:
        global TASKS
        TASKS = 50_004
        bench_deal.smallest()
    results: dict[str, float] = {}
    if args.only in (None, "funnel"):
        results.update(bench_funnel(args.runs, args.db))
    if args.only in (None, "ladder"):
        results.update(bench_ladder_month(args.runs, args.db))
    facts = {k: v for k, v in results.items() if k.startswith("_")}
    print(f"facts: {', '.join(f'{k[1:]}={v:,}' for k, v in facts.items())}")
    print("| measurement | median wall (ms) | median CPU (ms) | target |")
    print("|---|---:|---:|---|")
    for name, value in results.items():
        if not name.startswith("_"):
            print(f"| {name} | {value:.1f} | {CPU[name]:.1f} | < 1000 |")


if __name__ == "__main__":
    main()
