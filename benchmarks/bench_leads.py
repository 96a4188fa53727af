"""Lead benchmarks: the National DNCL import, a contact decision with the list loaded,
`lead import`, and `ladder dispatch --limit 500` at 5 000 000 tasks with the lead checks on.

    nice -n 10 python benchmarks/bench_leads.py                       # everything, SQLite
    nice -n 10 python benchmarks/bench_leads.py --numbers 1000000     # a smaller list
    nice -n 10 python benchmarks/bench_leads.py --skip-dispatch       # no 5M-task file

`dncl import` and `lead import` are whole `valhalla` processes (interpreter start included);
peak memory is the process's maximum resident set (`resource.getrusage` of the child). The
download is generated as the DNCL operator ships it: a ZIP of one CSV per area code. The
contact decision is `market.can_contact(--lead, CALL)` in-process against the loaded list (the
DNCL part is one primary-key probe), compared with the same decision before the import.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _engines import DATA, drop_database, fresh_database, is_postgres, sqlite_url  # noqa: E402

AT = datetime(2027, 1, 15, 18, 0, tzinfo=UTC)  # Friday 13:00 in Toronto
AREAS = ("416", "647", "437", "905", "289", "519", "613", "705", "514", "438", "450", "418",
         "819", "604", "778", "250", "403", "780", "587", "204", "306", "902", "506", "709")


def make_download(path: Path, numbers: int) -> None:
    """numbers spread over the area codes, each CSV written as a stream into the ZIP."""
    if path.exists():
        return
    per_area = numbers // len(AREAS)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i, area in enumerate(AREAS):
            count = per_area + (numbers - per_area * len(AREAS) if i == 0 else 0)
            with zf.open(f"{area}.csv", "w", force_zip64=True) as out:
                step = max(1, 8_000_000 // max(count, 1))
                block = []
                for k in range(count):
                    block.append(f"{area},{2000000 + (k * step) % 8000000:07d}\n")
                    if len(block) >= 100_000:
                        out.write("".join(block).encode())
                        block = []
                out.write("".join(block).encode())
    tmp.rename(path)


def run(argv: list[str], url: str) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, peak RSS MiB) of one `valhalla` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "valhalla_cli", "--db", url, *argv],
                          capture_output=True, text=True, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "VALHALLA_ACTOR": "bench"})
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:2]} failed: {proc.stderr.strip()}")
    # ru_maxrss of children is the largest child so far: run the big import first.
    return wall, max(peak, before) / 1024, proc


def decision_ms(url: str, runs: int = 300) -> float:
    from valhalla_cli.bootstrap import open_database
    from valhalla_cli.services import market

    db = open_database(url)
    times = []
    with db.transaction() as session:
        market.can_contact(session, province=None, market=None, channel="CALL", at=AT,
                           lead_id="bench-lead", business_timezone="America/Toronto")
        for _ in range(runs):
            t = time.perf_counter()
            market.can_contact(session, province=None, market=None, channel="CALL", at=AT,
                               lead_id="bench-lead", business_timezone="America/Toronto")
            times.append(time.perf_counter() - t)
    db.dispose()
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--numbers", type=int, default=15_000_000)
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--skip-dispatch", action="store_true")
    parser.add_argument("--db", default=None,
                        help="a PostgreSQL server URL (postgresql+psycopg://…) to measure there "
                             "(a fresh database of its own) instead of SQLite")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    if is_postgres(args.db):
        url = fresh_database(args.db, "bench_leads")
    else:
        db_path = DATA / "leads_bench.db"
        for leftover in DATA.glob("leads_bench.db*"):
            leftover.unlink()
        url = sqlite_url(db_path)
    from valhalla_cli.bootstrap import open_database

    open_database(url).dispose()
    run(["lead", "add", "bench-lead", "--province", "ON", "--phone", "+14165550123",
         "--at", AT.isoformat()], url)
    before_ms = decision_ms(url)

    download = DATA / f"dncl_{args.numbers}.zip"
    t = time.perf_counter()
    make_download(download, args.numbers)
    print(f"download: {args.numbers:,} numbers, {download.stat().st_size / 2**20:.0f} MiB ZIP "
          f"(generated in {time.perf_counter() - t:.0f} s)")
    wall, peak, _ = run(["dncl", "import", str(download), "--as-of", "2027-01-10", "--at",
                            "2027-01-10T12:00", "--format", "json"], url)
    print(f"dncl import: {wall:.1f} s, peak RSS {peak:.0f} MiB (targets < 120 s, < 150 MiB)")
    after_ms = decision_ms(url)
    print(f"contact decision (CALL, --lead): {before_ms:.2f} ms before the list, "
          f"{after_ms:.2f} ms with {args.numbers:,} numbers loaded "
          f"(+{after_ms - before_ms:.2f} ms; target < 1 ms added)")

    leads = DATA / f"leads_{args.leads}.csv"
    with leads.open("w") as fh:
        fh.write("lead_id,province,phone,market,name,language,source,consent,consent_at\n")
        for n in range(args.leads):
            province = ("ON", "QC", "BC")[n % 3]
            fh.write(f"L-{n:07d},{province},+1416{3000000 + n:07d},,Owner {n},,ppc,"
                     f"inquiry,2027-01-0{1 + n % 9}T10:00\n")
    wall, _, _ = run(["lead", "import", str(leads), "--at", AT.isoformat(), "--format", "json"],
                     url)
    print(f"lead import: {args.leads:,} leads in {wall:.1f} s (target < 30 s)")

    if not args.skip_dispatch:
        import bench_ladder

        target = bench_ladder.target(5_000_004, args.db)
        watch, claimed = bench_ladder.bench_dispatch(target, 5)
        print(f"ladder dispatch --limit 500 at 5,000,004 tasks with the lead checks: median "
              f"{watch.text()} (wall / CPU), max {max(watch.wall) * 1000:.0f} ms "
              f"({claimed} claimed over 5 runs; target < 1 s)")
    if is_postgres(args.db):
        drop_database(args.db, "bench_leads")


if __name__ == "__main__":
    main()
