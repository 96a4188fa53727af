"""Issue 10: hostile input and faults. One regression test (at least) per numbered defect,
named after it; database tests run on both engines (the `cli` / `db` fixtures)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Cli, db_count, run_valhalla, snapshot_tables

AT = "2027-01-15T10:00:00-05:00"
R = ("--reason", "drill")


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_file(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _bad(result, *needles: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


# --- 2: empty values ---------------------------------------------------------------------------

@pytest.mark.parametrize("market", ["", " ", "\t"])
def test_defect_02_empty_market_is_bad_input(cli, db, market):
    before = snapshot_tables(db)
    result = cli("market", "policy-set", "ON", "--market", market, "--min-lead-score", "90")
    _bad(result, "--market")
    assert snapshot_tables(db) == before


def test_defect_02_empty_at_is_bad_input(cli, db):
    before = snapshot_tables(db)
    _bad(cli("risk", "reserve", "GLOBAL", "10", "--ref", "r1", "--at", ""), "--at")
    _bad(cli("ladder", "create", "L-1", "--province", "ON", "--at", " "), "--at")
    assert snapshot_tables(db) == before


def test_defect_02_empty_db_flag_and_variable_are_bad_input(cli_nodb, tmp_path):
    _bad(cli_nodb("--db", "", "golive", "state"), "--db is empty")
    _bad(cli_nodb("golive", "state", env={"VALHALLA_DATABASE_URL": ""}),
         "VALHALLA_DATABASE_URL")
    _bad(cli_nodb("golive", "state", env={"VALHALLA_CONFIG": ""}), "VALHALLA_CONFIG")
    # nothing fell back to the default database
    assert not list(Path(os.environ["XDG_DATA_HOME"]).rglob("valhalla.db"))


# --- 3: downgrade that deletes rows -------------------------------------------------------------

def test_defect_03_downgrade_that_deletes_rows_needs_yes(cli, db):
    cli("golive", "kill-switch", "engage", *R)
    before = snapshot_tables(db)
    refused = cli("db", "downgrade", "base")
    _bad(refused, "audit_event (1 row, table dropped)", "--yes")
    assert snapshot_tables(db) == before
    assert cli("db", "current", "--json").json["at_head"] is True
    done = cli("db", "downgrade", "base", "--yes")
    assert done.exit_code == 0, done.stderr
    assert "audit_event" in done.stderr
    assert cli("db", "current", "--json").json["current"] is None


def test_defect_03_downgrade_deleting_nothing_needs_no_yes(cli, db):
    from valhalla_cli.schema import known_head_revision

    head = known_head_revision()
    assert cli("db", "downgrade", head).exit_code == 0  # a no-op deletes nothing


# --- 4: damaged database, db check, db backup --------------------------------------------------

def _corrupt(path: Path) -> None:
    """Garbage over every page but the header page: every table read hits it."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    for offset in range(page, len(data), page):
        data[offset:offset + page] = bytes([0xA5]) * page
    path.write_bytes(bytes(data))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_defect_04_damaged_database_is_exit_4_and_never_written(db_url):
    if not _is_sqlite(db_url):
        pytest.skip("a damaged file is a SQLite fault (PostgreSQL: db check reads every table)")
    path = _sqlite_file(db_url)
    _corrupt(path)
    digest = _digest(path)
    cli = Cli(db_url)
    for args in (("status", "--at", AT), ("runbook", "status", "--at", AT),
                 ("ladder", "show", "L-1"), ("risk", "reserve", "GLOBAL", "10", "--ref", "r1",
                                             "--at", AT)):
        result = cli(*args)
        assert result.exit_code == 4, (args, result.exit_code, result.stderr)
        assert "the database file is damaged: restore a backup" in result.stderr
    assert _digest(path) == digest
    checked = cli("db", "check", "--json")
    assert checked.exit_code == 1 and checked.json["ok"] is False
    assert checked.json["reason"] == "damaged" and "damaged" in checked.stderr


def test_defect_04_not_a_database_file_is_exit_4(tmp_path):
    path = tmp_path / "garbage.db"
    path.write_bytes(os.urandom(8192))
    digest = _digest(path)
    result = Cli(f"sqlite:///{path}")("golive", "state")
    # Issue 19, defect 19: a file that is not SQLite's is most likely a wrong path, not damage
    # to send the operator to a backup for.
    assert result.exit_code == 4 and "is not a SQLite database" in result.stderr
    assert "damaged" not in result.stderr and "restore" not in result.stderr
    assert _digest(path) == digest
    checked = Cli(f"sqlite:///{path}")("db", "check", "--json")
    assert checked.exit_code == 1 and checked.json["reason"] == "not_a_database"
    assert "is not a SQLite database" in checked.stderr and "damaged" not in checked.stderr


def test_defect_04_db_check_passes_on_a_sound_database(cli):
    result = cli("db", "check", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["ok"] is True and result.json["schema"] == "at_head"


def test_defect_04_db_backup_and_the_runbook_backup_check(cli, db_url, tmp_path):
    target = tmp_path / "backup.db"
    if not _is_sqlite(db_url):
        result = cli("db", "backup", str(target))
        _bad(result, "pg_dump")
        assert "***" not in result.stderr or "password" not in result.stderr
        assert not target.exists()
        checks = {c["name"]: c for c in cli("runbook", "status", "--json", "--at", AT).json[
            "checks"]}
        assert checks["backup"]["status"] == "ok"
        return
    checks = {c["name"]: c for c in cli("runbook", "status", "--json").json["checks"]}
    assert checks["backup"]["status"] == "warn" and "no backup" in checks["backup"]["detail"]
    cli("golive", "kill-switch", "engage", *R)
    made = cli("db", "backup", str(target))
    assert made.exit_code == 0, made.stderr
    assert made.stdout.strip() == str(target)
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("SELECT COUNT(*) FROM audit_event").fetchone()[0] == 1
    assert Cli(f"sqlite:///{target}")("golive", "state", "--json").json["kill_switch"] is True
    _bad(cli("db", "backup", str(target)), "already exists")
    checks = {c["name"]: c for c in cli("runbook", "status", "--json").json["checks"]}
    assert checks["backup"]["status"] == "ok" and "ago" in checks["backup"]["detail"]
    later = cli("runbook", "status", "--json", "--at", "2199-01-01T00:00Z").json["checks"]
    backup = next(c for c in later if c["name"] == "backup")
    assert backup["status"] == "warn" and "none in 7 days" in backup["detail"]


@pytest.mark.slow  # real processes, killed or racing, for many seconds
def test_defect_04_backup_is_consistent_while_another_process_writes(tmp_path, db_url):
    """A writer commits KPI events 100 at a time in a loop; every backup taken meanwhile holds
    a whole number of those transactions and passes the integrity check."""
    if not _is_sqlite(db_url):
        pytest.skip("SQLite online backup")
    batch = tmp_path / "batch.csv"
    batch.write_text("metric,value,occurred_at\n" + "".join(
        f"ladder_created,1,2027-01-15T10:{i % 60:02d}:00Z\n" for i in range(100)))
    script = (f"for i in $(seq 1 15); do '{sys.executable}' -m valhalla_cli --db '{db_url}' "
              f"kpi import '{batch}' >/dev/null || exit 1; done")
    writer = subprocess.Popen(["bash", "-c", script], env={**os.environ})
    counts = []
    try:
        for n in range(4):
            target = tmp_path / f"b{n}.db"
            result = run_valhalla("db", "backup", str(target), db_url=db_url)
            assert result.exit_code == 0, result.stderr
            with sqlite3.connect(target) as copy:
                assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                counts.append(copy.execute("SELECT COUNT(*) FROM kpi_event WHERE "
                                           "metric = 'ladder_created'").fetchone()[0])
    finally:
        assert writer.wait(timeout=300) == 0
    assert all(c % 100 == 0 for c in counts), counts


# --- 5: encodings ------------------------------------------------------------------------------

def test_defect_05_latin1_csv_is_bad_input_suggesting_cp1252(cli, db, tmp_path):
    path = tmp_path / "feedback.csv"
    path.write_bytes("province,market,buyer,responded,at\n"
                     "QC,QUEBEC,b1,true,2027-01-10T10:00:00Z\n"
                     "QC,MONTRÉAL,b2,true,2027-01-10T10:00:00Z\n".encode("cp1252"))
    before = snapshot_tables(db)
    _bad(cli("liquidity", "import", str(path)), ":3:", "--encoding cp1252")
    assert snapshot_tables(db) == before
    done = cli("liquidity", "import", str(path), "--encoding", "cp1252", "--json")
    assert done.exit_code == 0, done.stderr
    assert done.json["imported"] == 2
    assert db_count(db, "SELECT COUNT(*) FROM buyer_feedback_event WHERE market = 'MONTRÉAL'"
                    ) == 1


def test_defect_05_utf8_bom_is_fine_and_every_import_takes_encoding(cli, tmp_path):
    path = tmp_path / "events.csv"
    path.write_bytes(b"\xef\xbb\xbfmetric,value,occurred_at\n"
                     b"ladder_created,1,2027-01-15T10:00:00Z\n")
    assert cli("kpi", "import", str(path), "--json").json["imported"] == 1
    leads = tmp_path / "leads.csv"
    leads.write_bytes("lead_id,province,owner\nL-1,ON,Zoé\n".encode("cp1252"))
    _bad(cli("ladder", "import", str(leads)), ":2:", "cp1252")
    assert cli("ladder", "import", str(leads), "--encoding", "cp1252", "--json"
               ).json["created"] == 1
    _bad(cli("kpi", "import", str(path), "--encoding", "klingon"), "--encoding")


# --- 6: newer, unversioned and doubly-versioned schemas ----------------------------------------

def _exec(db, *statements: str) -> None:
    from sqlalchemy import text

    with db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_defect_06_newer_schema_says_upgrade_the_package(cli, db):
    _exec(db, "UPDATE alembic_version SET version_num = '9999'")
    for args in (("golive", "state"), ("runbook", "status"), ("db", "upgrade"),
                 ("db", "downgrade", "base", "--yes")):
        result = cli(*args)
        assert result.exit_code == 4, (args, result.stderr)
        assert "newer than this valhalla" in result.stderr
        assert "upgrade the package" in result.stderr
    assert cli("db", "current", "--json").json["status"] == "newer"


def test_defect_06_tables_without_revision_and_two_revisions_are_exit_4(cli, db):
    _exec(db, "DELETE FROM alembic_version")
    for args in (("golive", "state"), ("db", "upgrade")):
        result = cli(*args)
        assert result.exit_code == 4 and "no schema revision" in result.stderr
        assert "restore a backup" in result.stderr
    _exec(db, "INSERT INTO alembic_version (version_num) VALUES ('0001')",
          "INSERT INTO alembic_version (version_num) VALUES ('0002')")
    for args in (("status",), ("db", "upgrade")):
        result = cli(*args)
        assert result.exit_code == 4 and "2 revisions" in result.stderr


def test_defect_06_runbook_database_check_fails_on_a_bad_schema(db):
    from valhalla_cli.services.runbook import check_database
    from valhalla_cli.settings import resolve_settings

    settings = resolve_settings(environ={})
    with db.transaction() as session:
        assert check_database(session, settings, None).status == "ok"
    for statements in (["UPDATE alembic_version SET version_num = '9999'"],
                       ["DELETE FROM alembic_version"],
                       ["INSERT INTO alembic_version (version_num) VALUES ('0001')",
                        "INSERT INTO alembic_version (version_num) VALUES ('0002')"]):
        _exec(db, *statements)
        with db.transaction() as session:
            result = check_database(session, settings, None)
        assert result.status == "fail", statements


# --- 7: control characters ---------------------------------------------------------------------

@pytest.mark.parametrize("reason", ["two\nrows", "tab\there", "red \x1b[31mtext", "bidi\u202e"])
def test_defect_07_control_characters_in_free_text_are_refused(cli, db, reason):
    before = snapshot_tables(db)
    _bad(cli("golive", "kill-switch", "engage", "--reason", reason), "--reason")
    assert snapshot_tables(db) == before


def test_defect_07_renderers_escape_what_they_print(cli, db):
    from sqlalchemy import insert

    from valhalla_cli.clock import utcnow
    from valhalla_cli.models import AuditEvent
    from valhalla_cli.models.types import table_of

    forged = "ok\n1\t2027-01-01\tmallory\t\x1b[2J"
    with db.transaction(write=True) as session:  # as an older version may have stored it
        session.execute(insert(table_of(AuditEvent)).values(
            pack="golive", action="note", actor="tester", at=utcnow(), reason=forged))
    tsv = cli("audit", "--format", "tsv").stdout
    lines = tsv.splitlines()
    assert len(lines) == 2, tsv  # the header and the one event
    assert "\x1b" not in tsv and "ok\\n1\\t2027-01-01\\tmallory\\t\\x1b[2J" in tsv
    table = cli("audit", "--format", "table").stdout
    assert "\x1b" not in table and "\\x1b[2J" in table
    body = cli("audit", "--json").stdout
    assert "\x1b" not in body and json.loads(body)[0]["reason"] == forged


# --- 8: disk full ------------------------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path, leave: int) -> None:
    """Fill the disk to within `leave` bytes."""
    stat = os.statvfs(mount)
    free = stat.f_bavail * stat.f_frsize
    with open(mount / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))


def test_defect_08_full_disk_on_create_leaves_no_file(small_disk):
    _fill(small_disk, 64 * 1024)
    path = small_disk / "new.db"
    # `db upgrade` creates a database named by --db (other commands refuse a missing one)
    result = run_valhalla("db", "upgrade", db_url=f"sqlite:///{path}")
    assert result.exit_code == 4, result.stderr
    assert "no space left on the database's disk" in result.stderr
    assert "Traceback" not in result.stderr
    assert not [p for p in small_disk.iterdir() if p.name.startswith("new.db")]


def test_defect_08_full_disk_on_write_is_exit_4_and_nothing_half_written(small_disk, tmp_path,
                                                                          sqlite_template):
    path = small_disk / "valhalla.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    from valhalla_cli.bootstrap import open_database

    db = open_database(url)
    before = snapshot_tables(db)
    db.dispose()
    events = tmp_path / "events.csv"
    with events.open("w") as handle:
        handle.write("metric,value,occurred_at,source\n")
        for i in range(20_000):
            handle.write(f"ladder_created,1,2027-01-15T10:00:00Z,filler-{i:06d}-{'x' * 60}\n")
    _fill(small_disk, 200 * 1024)
    result = run_valhalla("kpi", "import", str(events), db_url=url)
    assert result.exit_code == 4, result.stderr
    assert "no space left on the database's disk" in result.stderr
    (small_disk / "filler").unlink()
    db = open_database(url)
    try:
        assert snapshot_tables(db) == before
    finally:
        db.dispose()


# --- 9: passwords ------------------------------------------------------------------------------

@pytest.mark.parametrize("url,secret", [
    ("postgresql+psycopg://ops:hunter22@db.example/valhalla", "hunter22"),
    ("postgresql+psycopg://ops@db.example/valhalla?password=hunter22", "hunter22"),
    ("postgresql+psycopg://ops:hun@ter22@db.example/valhalla", "ter22"),
    ("postgresql+psycopg://ops@db.example/valhalla?sslmode=require&sslpassword=hunter22",
     "hunter22"),
])
def test_defect_09_config_show_masks_every_password_form(cli_nodb, url, secret):
    shown = cli_nodb("--db", url, "config", "show", "--json")
    assert shown.exit_code == 0
    assert secret not in shown.stdout and "***" in shown.stdout


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://ops:hun@ter22@127.0.0.1:1/valhalla",
    "postgresql+psycopg://ops:hunter22@127.0.0.1:1/valhalla",
    "postgresql+psycopg://ops@127.0.0.1:1/valhalla?password=hunter22",
])
def test_defect_09_errors_never_echo_user_info_or_query(cli_nodb, url):
    result = cli_nodb("--db", url, "golive", "state")
    assert result.exit_code in (3, 4), result.stderr
    assert "ter22" not in result.stderr and "ops:" not in result.stderr


@pytest.mark.parametrize("url", [" ", "postgresql+psycopg://ops@db:notaport/valhalla",
                                 "postgresql+psycopg://ops@[::1/valhalla", "not a url"])
def test_defect_09_malformed_url_is_a_configuration_error(cli_nodb, url):
    result = cli_nodb("--db", url, "golive", "state")
    assert result.exit_code == 3, (result.exit_code, result.stderr)
    assert "ops@" not in result.stderr


# --- 10: edge values ---------------------------------------------------------------------------

@pytest.mark.parametrize("at", ["9999-12-31T23:59", "0001-01-01T00:00", "1969-12-31T23:00Z",
                                "2200-01-01T00:00Z"])
def test_defect_10_instants_outside_1970_2200_are_bad_input(cli, db, at):
    before = snapshot_tables(db)
    _bad(cli("risk", "reserve", "GLOBAL", "10", "--ref", "r1", "--at", at), "out of range")
    _bad(cli("market", "can-contact", "ON", "--channel", "SMS", "--at", at), "out of range")
    _bad(cli("ladder", "create", "L-1", "--province", "ON", "--at", at), "out of range")
    _bad(cli("risk", "snapshot", "--day", at[:10]), "out of range")
    assert snapshot_tables(db) == before


def test_defect_10_huge_numbers_are_bad_input(cli, db, tmp_path):
    before = snapshot_tables(db)
    _bad(cli("ladder", "dispatch", "--lease", "99999999999999999999d"), "--lease")
    _bad(cli("ladder", "dispatch", "--lease", "400d"), "too long")
    comps = tmp_path / "comps.csv"
    comps.write_text("address,sold_price,sqft,sold_on\n1 Main,500000,1000,2026-12-01\n")
    _bad(cli("offer", "compute", "ON", "--comps", str(comps), "--sqft", "1e308",
             "--repairs", "1000"), "--sqft")
    _bad(cli("kpi", "emit", "buyer_feedback", "--value", "1e308"), "out of range")
    _bad(cli("kpi", "emit", "buyer_feedback", "--value", "nan"), "finite")
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps({"metric": "buyer_feedback", "value": 2**1100,
                               "occurred_at": "2027-01-15T10:00:00Z"}) + "\n")
    _bad(cli("kpi", "import", str(big)), ":1:", "out of range")
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"metric": "buyer_feedback", "value": ' + "[" * 100_000 + "]" * 100_000
                    + ', "occurred_at": "2027-01-15T10:00:00Z"}\n')
    _bad(cli("kpi", "import", str(deep)), ":1:")
    assert snapshot_tables(db) == before


def test_defect_10_json_output_never_holds_nan_or_infinity(cli):
    from valhalla_cli.wire import jsonable

    for value in ("1e15", "-1e15", "1e15"):
        assert cli("kpi", "emit", "buyer_feedback", "--value", value, "--at", AT).exit_code == 0
    body = cli("kpi", "summary", "--json", "--at", AT).stdout
    json.loads(body, parse_constant=lambda c: pytest.fail(f"{c} in JSON output"))
    assert jsonable({"x": float("inf"), "y": float("nan")}) == {"x": None, "y": None}


# --- 11: imports -------------------------------------------------------------------------------

def test_defect_11_duplicate_csv_header_is_bad_input(cli, db, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("lead_id,province,province\nL-1,ON,QC\n")
    before = snapshot_tables(db)
    _bad(cli("ladder", "import", str(path)), ":1:", "'province' appears twice")
    assert snapshot_tables(db) == before


@pytest.mark.parametrize("value", [["ON"], {"code": "ON"}])
def test_defect_11_non_scalar_json_value_is_bad_input(cli, db, tmp_path, value):
    path = tmp_path / "leads.jsonl"
    path.write_text(json.dumps({"lead_id": "L-1", "province": "ON"}) + "\n"
                    + json.dumps({"lead_id": "L-2", "province": value}) + "\n")
    before = snapshot_tables(db)
    _bad(cli("ladder", "import", str(path)), ":2:", "'province'")
    assert snapshot_tables(db) == before


def test_defect_11_line_over_1_mib_is_bad_input_with_bounded_memory(cli, db, tmp_path):
    path = tmp_path / "events.csv"
    with path.open("wb") as handle:
        handle.write(b"metric,value,occurred_at\n")
        handle.truncate(256 * 1024 * 1024)  # sparse: a quarter of a GiB of NUL bytes, no newline
    before = snapshot_tables(db)
    # The import's own process, measured from inside it by VmHWM (the peak of this process
    # image). Not ru_maxrss: Linux carries it across execve, so a child of a large test runner
    # would report the runner's peak, not the command's.
    probe = ("import sys\n"
             "from valhalla_cli.app import main\n"
             "sys.argv = ['valhalla'] + sys.argv[1:]\n"
             "try:\n    main()\n"
             "except SystemExit as exc:\n"
             "    status = open('/proc/self/status').read()\n"
             "    peak = int(status.split('VmHWM:')[1].split()[0]) // 1024\n"
             "    print(f'peak_mib={peak}')\n"
             "    raise\n")
    proc = subprocess.run([sys.executable, "-c", probe, "--db", cli.url, "kpi", "import",
                           str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert ":2:" in proc.stderr and "longer than 1024 KiB" in proc.stderr, proc.stderr
    peak_mib = int(proc.stdout.strip().rsplit("peak_mib=", 1)[1])
    assert peak_mib < 150, peak_mib  # SPEC 15: no command above 150 MiB
    assert snapshot_tables(db) == before


# --- 12: daylight saving -----------------------------------------------------------------------

def test_defect_12_dst_gap_and_overlap_need_an_explicit_offset(cli, db):
    before = snapshot_tables(db)
    gap = cli("risk", "reserve", "GLOBAL", "10", "--ref", "r1", "--at", "2027-03-14T02:30")
    _bad(gap, "does not exist in America/Toronto", "offset")
    overlap = cli("ladder", "create", "L-1", "--province", "ON", "--at", "2027-11-07T01:30")
    _bad(overlap, "happens twice", "2027-11-07T01:30-04:00", "2027-11-07T01:30-05:00")
    assert snapshot_tables(db) == before
    explicit = cli("ladder", "create", "L-1", "--province", "ON", "--at",
                   "2027-11-07T01:30-05:00", "--json")
    assert explicit.exit_code == 0, explicit.stderr


def test_defect_12_dst_rule_holds_in_imports(cli, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("metric,value,occurred_at\nladder_created,1,2027-03-14T02:30\n")
    _bad(cli("kpi", "import", str(path)), ":2:", "'occurred_at'", "does not exist")


# --- 1: the kill switch is never blocked by an import; imports land whole or not at all --------

IMPORT_LEADS = int(os.environ.get("VALHALLA_TEST_IMPORT_LEADS", "20000"))
IMPORT_AT = "2027-01-15T10:00:00-05:00"


def _leads_file(path: Path, count: int, prefix: str = "L") -> Path:
    with path.open("w") as handle:
        handle.write("lead_id,province\n")
        for i in range(count):
            handle.write(f"{prefix}-{i:07d},ON\n")
    return path


def _start_import(db_url: str, path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "valhalla_cli", "--db", db_url, "ladder",
                             "import", str(path), "--json", "--at", IMPORT_AT],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent)


def _visible_tasks(db) -> int:
    """What every reader sees: the ORM count (unfinished imports are left out)."""
    return _visible_and_running(db)[0]


def _visible_and_running(db) -> tuple[int, int]:
    """The visible task count and the running imports, read in one snapshot."""
    from sqlalchemy import func, select

    from valhalla_cli.models import FollowupTask, ImportBatch

    with db.transaction() as session:
        running = session.scalar(select(func.count()).select_from(ImportBatch)
                                 .where(ImportBatch.status == "running"))
        visible = session.scalar(select(func.count()).select_from(FollowupTask))
    return visible, running


def _batches(db, status: str) -> int:
    return db_count(db, "SELECT COUNT(*) FROM import_batch WHERE status = :s", s=status)


class _WriteLockProbe:
    """Takes SQLite's write lock (BEGIN IMMEDIATE) again and again while an import runs and
    records the longest wait: how long the import ever held the lock in one go."""

    def __init__(self, db_url: str) -> None:
        import threading

        self.path = _sqlite_file(db_url)
        self.longest = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)

    def _run(self) -> None:
        import time

        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                conn.execute("BEGIN IMMEDIATE")
                waited = time.monotonic() - started
                conn.execute("ROLLBACK")
                self.longest = max(self.longest, waited)
                self.samples += 1
                time.sleep(0.02)
        finally:
            conn.close()


def _timed(*args: str, db_url: str) -> tuple[float, object]:
    import time

    started = time.monotonic()
    result = run_valhalla(*args, db_url=db_url)
    return time.monotonic() - started, result


def _engage_in_one_transaction(db) -> float:
    """The kill switch's own write transaction (BEGIN IMMEDIATE to COMMIT), timed: what an
    import could block. The process around it is measured separately (start-up dominates)."""
    import time

    from valhalla_cli.clock import utcnow
    from valhalla_cli.services import golive

    started = time.monotonic()
    with db.transaction(write=True) as session:
        golive.engage_kill_switch(session, actor="tester", at=utcnow(), reason="drill",
                                  enforce=True)
    return time.monotonic() - started


@pytest.mark.slow  # real processes, killed or racing, for many seconds
def test_defect_01_kill_switch_engages_within_2s_during_a_large_import(db_url, db, tmp_path):
    path = _leads_file(tmp_path / "leads.csv", IMPORT_LEADS)
    importer = _start_import(db_url, path)

    def seen_while_running() -> None:
        visible, running = _visible_and_running(db)
        if running:
            assert visible == 0  # nothing of the running import shows

    try:
        # validated; now writing in short transactions
        got_through = _kill_switch_during(db_url, db, importer,
                                          lambda: _batches(db, "running") > 0,
                                          seen_while_running, probe_s=4)
        out, err = importer.communicate(timeout=1800)
    finally:
        _reap(importer)
    assert importer.returncode == 0, err
    assert json.loads(out)["created"] == IMPORT_LEADS
    _assert_got_through("import", *got_through)
    assert _visible_tasks(db) == IMPORT_LEADS * 6
    assert Cli(db_url)("golive", "state", "--json").json["kill_switch"] is True


@pytest.mark.slow  # real processes, killed or racing, for many seconds
def test_defect_01_kill_9_at_random_moments_leaves_no_visible_partial_rows(db_url, db, tmp_path):
    import random
    import signal
    import time

    rng = random.Random(10)
    count = 3000
    path = _leads_file(tmp_path / "leads.csv", count)
    for attempt in range(3):
        importer = _start_import(db_url, path)
        delay = rng.uniform(0.5, 4.0)
        time.sleep(delay)
        importer.send_signal(signal.SIGKILL)
        importer.communicate()
        visible = _visible_tasks(db)
        assert visible in (0, count * 6), (attempt, delay, visible)
        if visible:
            break
    finished = run_valhalla("ladder", "import", str(path), "--json", "--at", IMPORT_AT,
                            db_url=db_url)
    assert finished.exit_code == 0, finished.stderr
    body = finished.json
    assert body["created"] + body["existing"] == count
    assert _visible_tasks(db) == count * 6
    # the killed imports' hidden rows are gone, not merely hidden
    assert db_count(db, "SELECT COUNT(*) FROM followup_task") == count * 6
    assert _batches(db, "running") == 0


def test_defect_01_a_failed_import_writes_nothing_and_takes_no_batch(cli, db, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("lead_id,province\n" + "".join(f"L-{i},ON\n" for i in range(600))
                    + "L-bad,XX\n")
    _bad(cli("ladder", "import", str(path)), ":602:", "province")
    assert db_count(db, "SELECT COUNT(*) FROM followup_task") == 0
    assert db_count(db, "SELECT COUNT(*) FROM import_batch") == 0


# --- 1 (continued): lead import and dncl import write in short transactions too ---------------
# `lead import` stages its rows and applies them in its last transaction; `dncl import` writes a
# new generation of numbers that the area codes point at in its last transaction. The same
# guarantees as `ladder import` above, proven the same way.

BIG_LEAD_IMPORT = int(os.environ.get("VALHALLA_TEST_LEAD_IMPORT_LEADS", "50000"))
BIG_DNCL_IMPORT = int(os.environ.get("VALHALLA_TEST_DNCL_IMPORT_NUMBERS", "2000000"))
DNCL_AREAS = ("416", "647", "905", "604")
OLD_LISTED = "+14165550199"  # on the small old list, not on the big new one


def _start(db_url: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "valhalla_cli", "--db", db_url, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parent.parent)


def _phone_leads_file(path: Path, count: int) -> Path:
    with path.open("w") as handle:
        handle.write("lead_id,province,phone,consent\n")
        for i in range(count):
            handle.write(f"P-{i:07d},{('ON', 'QC')[i % 2]},+1416{3000000 + i:07d},inquiry\n")
    return path


def _visible_leads(db) -> tuple[int, int, int]:
    """Leads and consents as every reader sees them, and the running imports, in one snapshot."""
    from sqlalchemy import func, select

    from valhalla_cli.models import ImportBatch, Lead, LeadConsent

    with db.transaction() as session:
        running = session.scalar(select(func.count()).select_from(ImportBatch)
                                 .where(ImportBatch.status == "running"))
        leads = session.scalar(select(func.count()).select_from(Lead))
        consents = session.scalar(select(func.count()).select_from(LeadConsent))
    return leads, consents, running


def _staged_rows(db) -> int:
    return (db_count(db, "SELECT COUNT(*) FROM lead_import_lead")
            + db_count(db, "SELECT COUNT(*) FROM lead_import_consent"))


def _dncl_download(path: Path, numbers: int) -> Path:
    """One CSV per area code; none of the numbers is 555-0199."""
    import zipfile

    per_area = numbers // len(DNCL_AREAS)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for area in DNCL_AREAS:
            with zf.open(f"{area}.csv", "w") as out:
                for start in range(0, per_area, 100_000):
                    out.write("".join(f"{area},{2000000 + k:07d}\n" for k in
                                      range(start, min(per_area, start + 100_000))).encode())
    return path


@pytest.fixture(scope="module")
def big_download(tmp_path_factory) -> Path:
    return _dncl_download(tmp_path_factory.mktemp("dncl") / "national.zip", BIG_DNCL_IMPORT)


def _old_list(db_url: str, tmp_path: Path) -> None:
    """A small list imported first: what readers must keep seeing until the new one is whole."""
    import zipfile

    small = tmp_path / "old.zip"
    with zipfile.ZipFile(small, "w") as zf:
        zf.writestr("416.csv", "416,5550199\n416,5550100\n416,5550101\n")
    result = run_valhalla("dncl", "import", str(small), "--as-of", "2027-01-10", "--at",
                          "2027-01-10T09:00", db_url=db_url)
    assert result.exit_code == 0, result.stderr


def _dncl_seen(cli) -> tuple[str, int]:
    """What a reader sees of area code 416: the old number's status and the list's size."""
    check = cli("dncl", "check", OLD_LISTED, "--at", "2027-01-15T12:00", "--json").json
    status = {a["area_code"]: a["numbers"] for a in
              cli("dncl", "status", "--at", "2027-01-15T12:00", "--json").json}
    return check["status"], status.get("416", 0)


def _reap(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()


def _assert_got_through(label: str, waits: list[float], processes: list[float], probe,
                        extra: str = "") -> None:
    """The kill switch's transactions never waited 2 s; on SQLite no writer waited 2 s for the
    write lock ("about 1 s": a batch is ~0.2 s on an idle machine; the margin is for a loaded
    CI host)."""
    assert waits, "the import finished before the kill switch could be tried"
    assert max(waits) < 2.0, (waits, processes)
    if probe is not None:
        assert probe.samples > 5 and probe.longest < 2.0, (probe.samples, probe.longest)
    print(f"kill switch during {label}: transactions {[round(w, 3) for w in waits]} s, "
          f"processes {processes} s, longest write-lock wait "
          f"{probe.longest if probe else 'n/a'} s{extra}")


def _kill_switch_during(db_url: str, db, importer: subprocess.Popen, started,
                        seen_while_running, *, probe_s: float = 3
                        ) -> tuple[list[float], list[float], object]:
    """Engage / release / engage the kill switch while `importer` writes; returns the kill
    switch's own transaction times, the whole processes' times and the write-lock probe."""
    import time

    probe = _WriteLockProbe(db_url) if _is_sqlite(db_url) else None
    engage_waits: list[float] = []
    processes: list[float] = []
    try:
        deadline = time.monotonic() + 600
        while not started():  # now writing in short transactions
            assert importer.poll() is None, importer.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        # The kill switch first, while the import surely still writes (a fast import would
        # otherwise finish during the probe); the probe watches the write lock meanwhile and
        # after (the kill switch's transactions are milliseconds: they do not blur it).
        probing_since = time.monotonic()
        if probe is not None:
            probe.start()
        for command in ("engage", "release", "engage"):
            if importer.poll() is not None:
                break
            elapsed, result = _timed("golive", "kill-switch", command, "--reason", "drill",
                                     db_url=db_url)
            assert result.exit_code == 0, result.stderr
            processes.append(round(elapsed, 2))
            engage_waits.append(_engage_in_one_transaction(db))
            seen_while_running()
        while importer.poll() is None and time.monotonic() - probing_since < probe_s:
            time.sleep(0.05)
    finally:
        if probe is not None:
            probe.stop()
    return engage_waits, processes, probe


def _kill_9_after(db, delay: float, importer: subprocess.Popen) -> None:
    """kill -9 the import `delay` seconds after its batch appears (it is writing)."""
    import signal
    import time

    while _batches(db, "running") == 0 and importer.poll() is None:
        time.sleep(0.02)
    time.sleep(delay)
    importer.send_signal(signal.SIGKILL)
    importer.communicate()


@pytest.mark.slow  # real processes, killed or racing, for many seconds
def test_defect_01_kill_switch_engages_within_2s_during_a_large_lead_import(db_url, db,
                                                                              tmp_path):
    path = _phone_leads_file(tmp_path / "leads.csv", BIG_LEAD_IMPORT)
    importer = _start(db_url, "lead", "import", str(path), "--json", "--at", IMPORT_AT)

    def seen_while_running() -> None:
        leads, consents, running = _visible_leads(db)
        if running:
            assert (leads, consents) == (0, 0)  # nothing of the running import shows

    try:
        got_through = _kill_switch_during(db_url, db, importer, lambda: _staged_rows(db) > 0,
                                          seen_while_running)
        out, err = importer.communicate(timeout=1800)
    finally:
        _reap(importer)
    assert importer.returncode == 0, err
    assert json.loads(out)["created"] == BIG_LEAD_IMPORT
    _assert_got_through("lead import", *got_through)
    assert _visible_leads(db) == (BIG_LEAD_IMPORT, BIG_LEAD_IMPORT, 0)
    assert _staged_rows(db) == 0  # the staged rows went once applied
    assert Cli(db_url)("golive", "state", "--json").json["kill_switch"] is True


@pytest.mark.slow  # real processes, killed or racing, for many seconds
def test_defect_01_kill_switch_engages_within_2s_during_a_large_dncl_import(db_url, db,
                                                                              tmp_path,
                                                                              big_download):
    _old_list(db_url, tmp_path)
    old = db_count(db, "SELECT generation FROM dncl_area WHERE area_code = 416")
    reader = Cli(db_url)
    importer = _start(db_url, "dncl", "import", str(big_download), "--as-of", "2027-01-12",
                      "--at", "2027-01-12T09:00", "--json")
    sightings = []

    def seen_while_running() -> None:
        running = _batches(db, "running")
        seen = _dncl_seen(reader)
        if running:
            assert seen == ("listed", 3)  # the old list, whole, until the flip
        sightings.append(seen)

    try:
        # writing: the newest key is of a generation above the old list's (an index probe;
        # counting the growing table in a loop would slow the import down)
        got_through = _kill_switch_during(
            db_url, db, importer,
            lambda: (db_count(db, "SELECT MAX(number) FROM dncl_number") // 10**10) > old,
            seen_while_running)
        out, err = importer.communicate(timeout=1800)
    finally:
        _reap(importer)
    assert importer.returncode == 0, err
    per_area = BIG_DNCL_IMPORT // len(DNCL_AREAS)
    assert json.loads(out) == [{"area_code": a, "numbers": per_area, "as_of": "2027-01-12"}
                               for a in sorted(DNCL_AREAS)]
    _assert_got_through("dncl import", *got_through, extra=f"; reader saw {sightings}")
    assert _dncl_seen(reader) == ("not_listed", per_area)
    # the replaced list is deleted, not merely unread
    assert db_count(db, "SELECT COUNT(*) FROM dncl_number") == BIG_DNCL_IMPORT
    assert Cli(db_url)("golive", "state", "--json").json["kill_switch"] is True


@pytest.mark.slow  # real processes, killed or racing, for many seconds
def test_defect_01_kill_9_during_a_lead_import_leaves_nothing_visible(db_url, db, tmp_path):
    import random

    rng = random.Random(12)
    count = 20_000
    path = _phone_leads_file(tmp_path / "leads.csv", count)
    for attempt in range(3):
        delay = rng.uniform(0.5, 4.0)
        _kill_9_after(db, delay, _start(db_url, "lead", "import", str(path), "--json", "--at",
                                        IMPORT_AT))
        leads, consents, _ = _visible_leads(db)
        assert (leads, consents) in ((0, 0), (count, count)), (attempt, delay, leads, consents)
        if leads:
            break
    finished = run_valhalla("lead", "import", str(path), "--json", "--at", IMPORT_AT,
                            db_url=db_url)
    assert finished.exit_code == 0, finished.stderr
    assert finished.json["created"] + finished.json["unchanged"] == count
    leads, consents, running = _visible_leads(db)
    assert leads == count and consents in (count, 2 * count) and running == 0
    assert _staged_rows(db) == 0  # the killed imports' staged rows are gone
    assert _batches(db, "running") == 0


@pytest.mark.slow  # real processes, killed or racing, for many seconds
def test_defect_01_kill_9_during_a_dncl_import_keeps_the_old_list_whole(db_url, db, tmp_path,
                                                                        big_download):
    import random

    _old_list(db_url, tmp_path)
    reader = Cli(db_url)
    rng = random.Random(13)
    per_area = BIG_DNCL_IMPORT // len(DNCL_AREAS)
    for attempt in range(2):
        delay = rng.uniform(0.5, 3.0)
        _kill_9_after(db, delay, _start(db_url, "dncl", "import", str(big_download), "--as-of",
                                        "2027-01-12", "--at", "2027-01-12T09:00", "--json"))
        seen = _dncl_seen(reader)
        assert seen in (("listed", 3), ("not_listed", per_area)), (attempt, delay, seen)
        if seen[0] == "not_listed":
            break
    # The next import of anything cleans up the killed import's numbers.
    small = tmp_path / "613.zip"
    import zipfile

    with zipfile.ZipFile(small, "w") as zf:
        zf.writestr("613.csv", "613,5550101\n")
    after = run_valhalla("dncl", "import", str(small), "--as-of", "2027-01-12", "--at",
                         "2027-01-12T09:00", db_url=db_url)
    assert after.exit_code == 0, after.stderr
    status = {a["area_code"]: a["numbers"] for a in
              reader("dncl", "status", "--at", "2027-01-15T12:00", "--json").json}
    assert db_count(db, "SELECT COUNT(*) FROM dncl_number") == sum(status.values())
    assert _batches(db, "running") == 0
