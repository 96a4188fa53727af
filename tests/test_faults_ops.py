"""Issue 19 (faults and hostile input, second round): the operations defects. One regression
test (at least) per numbered defect, named after it; database tests run on both engines."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO

# --- 2 and 17: `serve` from flags and environment alone, exit statuses -------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_serve(args: list[str], workers: str, env: dict[str, str] | None = None,
                 ) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    argv = [sys.executable, "-m", "valhalla_cli", *args, "serve", "--port", str(port),
            "--workers", workers]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                            env={**os.environ, **(env or {})}, text=True)
    return proc, port


def _wait_healthy(proc: subprocess.Popen, port: int, timeout: float = 90) -> None:
    httpx = pytest.importorskip("httpx")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"serve did not answer /healthz: {proc.communicate()[1]}")


@pytest.mark.slow  # a real server process, stopped by SIGTERM
@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("how", ["flag", "env"])
def test_defect_02_serve_starts_without_a_config_file_and_sigterm_ends_it_as_terminated(
        db_url, workers, how):
    pytest.importorskip("uvicorn")
    config_home = Path(os.environ["XDG_CONFIG_HOME"])
    assert not (config_home / "valhalla" / "config.toml").exists()
    if how == "flag":
        proc, port = _start_serve(["--db", db_url], workers)
    else:
        proc, port = _start_serve([], workers, env={"VALHALLA_DATABASE_URL": db_url})
    _wait_healthy(proc, port)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, (proc.returncode, err)
    assert "Traceback" not in err, err
    assert "VALHALLA_CONFIG" not in err, err


@pytest.mark.slow  # a real server process and its workers
def test_defect_02_a_worker_that_cannot_start_stops_the_server_non_zero(db_url, tmp_path):
    pytest.importorskip("uvicorn")
    config = tmp_path / "serve.toml"
    config.write_text('[operator]\nname = "ops"\n', encoding="utf-8")
    proc, _port = _start_serve(["--config", str(config), "--db", db_url], "2")
    # The server has read the file and prints its banner; its workers read the file again
    # as they start, and now it is gone.
    banner = proc.stderr.readline()
    assert "valhalla serve: http://" in banner, banner
    config.unlink()
    try:
        _out, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"the server kept running: {proc.communicate()[1]}") from None
    assert proc.returncode == 3, (proc.returncode, err)
    assert "does not exist" in err, err
    assert "Traceback" not in err, err


# --- 7: `db backup` of a damaged database ------------------------------------------------------

def _damage_a_table_no_command_reads(path: Path, how: str) -> None:
    """A table of our own (and its index) whose last page is damaged: every valhalla command
    still works, none reads that table, but `PRAGMA integrity_check` fails, listing the
    problems ("rows") or failing itself on a page of an invalid type ("header")."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE scratch (x BLOB)")
        conn.execute("CREATE INDEX ix_scratch ON scratch (x)")
        rng = random.Random(19)
        conn.executemany("INSERT INTO scratch VALUES (?)", [(rng.randbytes(500),)
                                                            for _ in range(200)])
        conn.commit()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(path.read_bytes())
    if how == "header":
        last = len(data) - page
        data[last:last + 8] = b"\xff" * 8
    else:  # zeros over the cells of a table leaf page, three from the end
        third = len(data) - 3 * page
        data[third + page // 2:third + page // 2 + 400] = bytes(400)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["rows", "header"])
def test_defect_07_backup_of_a_damaged_database_is_refused_and_not_recorded(db_url, tmp_path,
                                                                            how):
    if not db_url.startswith("sqlite"):
        pytest.skip("valhalla copies SQLite files only (PostgreSQL: exit 2 naming pg_dump)")
    from conftest import Cli, db_count

    from valhalla_cli.bootstrap import open_database

    path = Path(db_url.removeprefix("sqlite:///"))
    _damage_a_table_no_command_reads(path, how)
    cli = Cli(db_url)
    assert cli("db", "check").exit_code == 1
    target = tmp_path / "bk.db"
    result = cli("db", "backup", str(target))
    assert result.exit_code == 4, (result.exit_code, result.stderr)
    assert "integrity check failed" in result.stderr and "no backup" in result.stderr
    assert not target.exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".bk.db")]
    db = open_database(db_url)
    try:
        assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE pack = 'db' "
                        "AND action = 'backup'") == 0
    finally:
        db.dispose()
    checks = {c["name"]: c for c in cli("runbook", "status", "--json").json["checks"]}
    assert checks["backup"]["status"] == "warn", checks["backup"]


# --- 10: over-long paths -------------------------------------------------------------------------

LONG = "x" * 100_000


def _one_short_line(result, code: int) -> None:
    assert result.exit_code == code, (result.exit_code, result.stderr[:300])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 400, result.stderr[:300]


def test_defect_10_config_init_with_an_over_long_path_is_bad_input(cli_nodb, tmp_path):
    _one_short_line(cli_nodb("config", "init", "--path", LONG), 2)
    _one_short_line(cli_nodb("config", "init", "--path", str(tmp_path / ("y/" * 3000))), 2)
    assert not list(tmp_path.iterdir())


def test_defect_10_an_over_long_config_path_is_a_configuration_error(cli_nodb):
    _one_short_line(cli_nodb("--config", LONG, "golive", "state"), 3)
    _one_short_line(cli_nodb("golive", "state", env={"VALHALLA_CONFIG": LONG}), 3)


def test_defect_10_db_backup_to_an_over_long_path_is_bad_input(cli, db_url, tmp_path):
    _one_short_line(cli("db", "backup", LONG), 2)  # PostgreSQL: not a pg_dump line of 100 KB
    if not db_url.startswith("sqlite"):
        return
    _one_short_line(cli("db", "backup", str(tmp_path / ("z" * 300))), 2)
    assert cli("audit", "--pack", "db", "--format", "json").json == []


# --- 13: importing from a named pipe -----------------------------------------------------------

@pytest.mark.parametrize("args", [
    ("ladder", "import", "{fifo}"),
    ("lead", "import", "{fifo}"),
    ("kpi", "import", "{fifo}"),
    ("liquidity", "import", "{fifo}"),
    ("dncl", "import", "{fifo}", "--as-of", "2026-12-01"),
    ("offer", "compute", "ON", "--repairs", "50000", "--comps", "{fifo}",
     "--sqft", "1400", "--at", "2027-01-15T10:00"),
], ids=lambda a: " ".join(a[:2]))
def test_defect_13_a_named_pipe_with_no_writer_is_refused_at_once(db_url, db, tmp_path, args):
    from conftest import run_valhalla, snapshot_tables

    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    before = snapshot_tables(db)
    started = time.monotonic()
    result = run_valhalla(*[a.format(fifo=fifo) for a in args], db_url=db_url, timeout=60)
    assert time.monotonic() - started < 30
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert "named pipe" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert snapshot_tables(db) == before  # no import batch left behind either


# --- 11: a revision row older than the tables --------------------------------------------------

def test_defect_11_a_revision_row_older_than_the_tables_is_exit_4_naming_the_state(db_url, db):
    from conftest import Cli, snapshot_tables

    from valhalla_cli.schema import objects_created_after

    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0011'")
    before = snapshot_tables(db)
    cli = Cli(db_url)
    for args in (("db", "upgrade"), ("init",), ("db", "downgrade", "base", "--yes"),
                 ("status",), ("golive", "state")):
        result = cli(*args)
        assert result.exit_code == 4, (args, result.exit_code, result.stderr)
        assert "says 0011" in result.stderr and "later revisions" in result.stderr
        assert "restore a backup" in result.stderr
        # it names objects that only a migration after 0011 creates
        named = result.stderr.split("later revisions (", 1)[1].split(")", 1)[0].split(", ")
        assert set(named) - {"..."} <= objects_created_after("0011") and named[0], named
    current = cli("db", "current", "--json")
    assert current.exit_code == 0
    assert current.json["status"] == "inconsistent" and current.json["problem"]
    assert snapshot_tables(db) == before


def test_defect_11_a_database_really_at_an_older_revision_still_upgrades(db_url, db):
    from conftest import Cli

    cli = Cli(db_url)
    assert cli("db", "downgrade", "0011", "--yes").exit_code == 0
    assert cli("db", "current", "--json").json["status"] == "behind"
    done = cli("db", "upgrade")
    assert done.exit_code == 0, done.stderr
    assert cli("db", "current", "--json").json["at_head"] is True


# --- 8: a mistyped SQLite path never becomes a fresh database -----------------------------------

def _how_named(how: str, path: Path, tmp_path: Path) -> tuple[tuple[str, ...], dict[str, str]]:
    url = f"sqlite:///{path}"
    if how == "flag":
        return ("--db", url), {}
    if how == "env":
        return (), {"VALHALLA_DATABASE_URL": url}
    config = tmp_path / "named.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return ("--config", str(config)), {}


@pytest.mark.parametrize("how", ["flag", "env", "file"])
def test_defect_08_a_missing_database_named_explicitly_is_exit_3_and_not_created(
        cli_nodb, tmp_path, how):
    typo = tmp_path / "nonexistent" / "dir" / "x.db"
    plain = tmp_path / "x.db"
    for path in (typo, plain):
        named, env = _how_named(how, path, tmp_path)
        for args in (("golive", "state"), ("status",), ("db", "backup", str(tmp_path / "b.db")),
                     ("risk", "reserve", "GLOBAL", "10", "--ref", "r", "--at",
                      "2027-01-15T10:00")):
            result = cli_nodb(*named, *args, env=env)
            assert result.exit_code == 3, (path, args, result.exit_code, result.stderr)
            assert f"no database at {path}" in result.stderr
            assert "valhalla init" in result.stderr
    assert not (tmp_path / "nonexistent").exists()
    assert not plain.exists() and not (tmp_path / "b.db").exists()
    assert not list(Path(os.environ["XDG_DATA_HOME"]).rglob("*.db"))


@pytest.mark.parametrize("how", ["flag", "env", "file"])
def test_defect_08_init_and_db_upgrade_create_it_only_in_an_existing_folder(cli_nodb, tmp_path,
                                                                             how):
    typo = tmp_path / "nonexistent" / "x.db"
    named, env = _how_named(how, typo, tmp_path)
    for args in (("init",), ("db", "upgrade")):
        result = cli_nodb(*named, *args, env=env)
        assert result.exit_code == 3, (args, result.exit_code, result.stderr)
        assert f"no database at {typo}" in result.stderr and "does not exist" in result.stderr
    assert not (tmp_path / "nonexistent").exists()
    for index, args in enumerate((("init",), ("db", "upgrade"))):
        path = tmp_path / f"made-{index}.db"
        named, env = _how_named(how, path, tmp_path)
        env = {**env, "XDG_CONFIG_HOME": str(tmp_path / f"config-{index}")}
        made = cli_nodb(*named, *args, env=env)
        assert made.exit_code == 0, (args, made.stderr)
        assert path.exists()
        assert cli_nodb(*named, "golive", "state", "--json", env=env).exit_code == 0


def test_defect_08_the_default_location_is_still_created_by_any_command(cli_nodb):
    result = cli_nodb("golive", "state", "--json")
    assert result.exit_code == 0, result.stderr
    assert list(Path(os.environ["XDG_DATA_HOME"]).rglob("valhalla.db"))


# --- 9: a full disk ------------------------------------------------------------------------------

@pytest.fixture
def full_disk_db(tmp_path, sqlite_template):
    """A database on a real 2 MiB tmpfs; `fill(leave)` fills the disk to within `leave` bytes."""
    import shutil

    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    shutil.copy(sqlite_template, mount / "v.db")

    def fill(leave: int = 0) -> None:
        (mount / "filler").unlink(missing_ok=True)
        stat = os.statvfs(mount)
        with open(mount / "filler", "wb") as handle:
            handle.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))

    try:
        yield mount, fill
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow  # real processes on a full tmpfs, one per command
def test_defect_09_reads_work_on_a_full_disk_and_writes_say_free_some_space(full_disk_db,
                                                                           tmp_path):
    from conftest import run_valhalla, snapshot_tables

    from valhalla_cli.bootstrap import open_database

    mount, fill = full_disk_db
    url = f"sqlite:///{mount / 'v.db'}"
    db = open_database(url)
    before = snapshot_tables(db)
    db.dispose()
    events = tmp_path / "events.csv"
    events.write_text("metric,value,occurred_at,source\nladder_created,1,2027-01-15T10:00Z,x\n")
    fill(0)
    for args in (("golive", "state", "--json"), ("risk", "snapshot", "--json"),
                 ("kpi", "list", "--json"), ("db", "check", "--json"),
                 ("status", "--json", "--at", "2027-01-15T10:00")):
        read = run_valhalla(*args, db_url=url)
        assert read.exit_code in (0, 1), (args, read.exit_code, read.stderr)
        assert read.stdout.strip().startswith(("{", "[")), (args, read.stdout[:200])
    for args in (("golive", "kill-switch", "engage", "--reason", "drill"),
                 ("ladder", "create", "L-1", "--province", "ON"),
                 ("risk", "reserve", "acquisitions", "10", "--ref", "r1"),
                 ("kpi", "import", str(events))):
        write = run_valhalla(*args, db_url=url)
        assert write.exit_code == 4, (args, write.exit_code, write.stderr)
        assert "no space left on the database's disk: free some space" in write.stderr, (
            args, write.stderr)
    (mount / "filler").unlink()
    db = open_database(url)
    try:
        assert snapshot_tables(db) == before  # nothing half-written
    finally:
        db.dispose()
    # With some room again the kill switch engages.
    fill(200 * 1024)
    engaged = run_valhalla("golive", "kill-switch", "engage", "--reason", "drill", db_url=url)
    assert engaged.exit_code == 0, engaged.stderr
    assert run_valhalla("golive", "state", "--json", db_url=url).json["kill_switch"] is True


def test_defect_09_config_init_on_a_full_disk_is_exit_4_and_leaves_nothing(full_disk_db,
                                                                          cli_nodb):
    mount, fill = full_disk_db
    fill(0)
    listing = sorted(p.name for p in mount.iterdir())
    for target in (mount / "c.toml", mount / "sub" / "deeper" / "c.toml"):
        result = cli_nodb("config", "init", "--path", str(target))
        assert result.exit_code == 4, (result.exit_code, result.stderr)
        assert "no space left" in result.stderr and "free some space" in result.stderr
    assert sorted(p.name for p in mount.iterdir()) == listing  # no .config-*.toml, no folder
