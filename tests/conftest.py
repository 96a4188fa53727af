"""Shared fixtures: a fresh database per test on SQLite (and PostgreSQL when configured), and a
CLI runner that asserts the project's promises about errors.

Set VALHALLA_TEST_POSTGRES_URL (a superuser URL, e.g.
postgresql+psycopg://valhalla@/valhalla?host=/tmp/pg&port=54329) to run every database test a
second time against PostgreSQL; `pytest -m postgresql` selects only those runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Rich reads the terminal at import time: fix width and colour before the app is imported.
os.environ["COLUMNS"] = "200"
os.environ["TERMINAL_WIDTH"] = "200"
os.environ["NO_COLOR"] = "1"
for _name in [n for n in os.environ if n.startswith("VALHALLA_")]:
    if not _name.startswith("VALHALLA_TEST_"):  # the test suite's own knobs stay
        del os.environ[_name]

import pytest  # noqa: E402

PG_URL = os.environ.get("VALHALLA_TEST_POSTGRES_URL")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """No test reads or writes the real user's config or data directories."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("VALHALLA_ACTOR", "tester")
    yield home


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    from valhalla_cli.bootstrap import open_database

    path = tmp_path_factory.mktemp("template") / "template.db"
    db = open_database(f"sqlite:///{path}")
    with db.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return path


def _pg_admin_engine():
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL).set(database="postgres")
    return create_engine(url, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A PostgreSQL database migrated to head once; each test gets a copy (CREATE ... TEMPLATE)."""
    if not PG_URL:
        pytest.skip("VALHALLA_TEST_POSTGRES_URL is not set")
    from sqlalchemy.engine import make_url

    from valhalla_cli.bootstrap import open_database

    name = f"vh_template_{uuid.uuid4().hex[:8]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    from valhalla_cli import migrate

    db = open_database(url, check_schema=False)
    migrate.upgrade(db, "head")
    db.dispose()
    yield name
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at head with the seeds, on each engine."""
    if request.param == "sqlite":
        path = tmp_path / "valhalla.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    from sqlalchemy.engine import make_url

    name = f"vh_test_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def db(db_url: str):
    """An open Database for service-level tests and for inspecting state after CLI calls."""
    from valhalla_cli.bootstrap import open_database

    database = open_database(db_url)
    yield database
    database.dispose()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)

    @property
    def jsonl(self) -> list:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def _assert_clean_errors(result: CliResult) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout
    if result.exit_code == 5:
        raise AssertionError(f"internal error: {result.stderr}")
    if result.exit_code in (2, 3, 4):
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one line on stderr, got: {result.stderr!r}"


def _build_command_once() -> None:
    """Typer's CliRunner rebuilds the whole Click tree from the Typer app on every invoke (about
    0.3 s here, most of an in-process call). A real process builds it once; so do the tests."""
    import typer.testing

    build = getattr(typer.testing, "_get_command", None)
    if build is None or getattr(build, "cached", False):
        return
    built: dict[int, object] = {}

    def cached(app):
        if id(app) not in built:
            built[id(app)] = build(app)
        return built[id(app)]

    cached.cached = True
    typer.testing._get_command = cached


class Cli:
    """Runs `valhalla` in-process against one database, as a user would."""

    def __init__(self, url: str | None) -> None:
        self.url = url

    def __call__(self, *args: str, input: str | None = None, env: dict | None = None,
                 db: bool = True) -> CliResult:
        from typer.testing import CliRunner

        from valhalla_cli.app import app

        _build_command_once()
        argv = (["--db", self.url] if (db and self.url) else []) + [str(a) for a in args]
        runner = CliRunner()
        outcome = runner.invoke(app, argv, input=input, env=env, catch_exceptions=False)
        result = CliResult(outcome.exit_code, outcome.stdout, outcome.stderr)
        _assert_clean_errors(result)
        return result


@pytest.fixture
def cli(db_url: str) -> Cli:
    return Cli(db_url)


@pytest.fixture
def cli_nodb() -> Cli:
    """The CLI with no --db: the default database under the isolated XDG data home."""
    return Cli(None)


def run_valhalla(*args: str, db_url: str | None = None, env: dict | None = None,
                 timeout: float = 120, check_clean: bool = True) -> CliResult:
    """Run `python -m valhalla_cli` in a real subprocess (concurrency and end-to-end tests)."""
    argv = [sys.executable, "-m", "valhalla_cli"]
    if db_url:
        argv += ["--db", db_url]
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(argv + [str(a) for a in args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=REPO)
    result = CliResult(proc.returncode, proc.stdout, proc.stderr)
    if check_clean:
        _assert_clean_errors(result)
    return result


def db_count(db, sql: str, **params) -> int:
    """A scalar from the database (for asserting state, e.g. 'nothing changed')."""
    from sqlalchemy import text

    with db.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def snapshot_tables(db) -> dict[str, list]:
    """Every row of every table: compare before/after to prove a command changed nothing."""
    from sqlalchemy import inspect, text

    names = sorted(inspect(db.engine).get_table_names())
    with db.engine.connect() as conn:
        return {
            n: sorted(tuple(map(repr, row)) for row in conn.execute(text(f'SELECT * FROM "{n}"')))
            for n in names
        }


# --- shared harnesses ----------------------------------------------------------------------------

def walk_commands(command, path: tuple[str, ...] = ()):
    """The command tree as (path, Click command) pairs, the root first (path ())."""
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from walk_commands(sub, (*path, name))


def cli_root():
    """The Click command `valhalla` is built into (what a shell runs)."""
    import typer.main

    from valhalla_cli.app import app

    return typer.main.get_command(app)


def run_workers(target, args: list[tuple], *, start: str = "spawn", timeout: float = 300,
                check_exit: bool = True) -> list:
    """Real processes racing: one per `args` tuple, each called as `target(*args, barrier,
    queue)`; the barrier holds them until all are connected, each puts its answer on the queue.
    Returns the answers (in the order they arrived)."""
    import multiprocessing

    ctx = multiprocessing.get_context(start)
    barrier, queue = ctx.Barrier(len(args)), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, barrier, queue)) for a in args]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=timeout) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        if check_exit:
            assert proc.exitcode == 0
    return results


def settings_for(db_url: str):
    """The settings a command would resolve for this database (defaults otherwise)."""
    from valhalla_cli.settings import resolve_settings

    return resolve_settings(db=db_url)


class ChangesNothing:
    """`with ChangesNothing(db):` fails when the block changed any row of any table."""

    def __init__(self, db) -> None:
        self.db = db

    def __enter__(self) -> ChangesNothing:
        self.before = snapshot_tables(self.db)
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert snapshot_tables(self.db) == self.before, "the database changed"


@pytest.fixture
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    """SQLite's busy timeout cut to 0.3 s, for a test that waits it out on purpose: an engine
    made in this process reads it when it connects (request this before the fixture that
    opens the database)."""
    import valhalla_cli.db

    monkeypatch.setattr(valhalla_cli.db, "SQLITE_BUSY_TIMEOUT_MS", 300)
    return 0.3
