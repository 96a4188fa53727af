"""`valhalla db` and the schema gate: migrations, head checks, immutability, engine errors."""

import subprocess
import sys
import time

import pytest
from conftest import db_count


def test_schema_behind_head_is_refused_until_upgraded(cli):
    assert cli("db", "downgrade", "base", "--yes").exit_code == 0
    assert cli("db", "current", "--json").json["current"] is None
    refused = cli("golive", "state")
    assert refused.exit_code == 4
    assert "valhalla db upgrade" in refused.stderr
    assert cli("runbook", "status").exit_code == 4
    assert cli("db", "upgrade").exit_code == 0
    current = cli("db", "current", "--json").json
    assert current["at_head"] is True
    # seeds came back with the schema
    assert cli("golive", "state", "--json").json["enabled"] is False
    assert cli("runbook", "status").exit_code == 0


def test_downgrade_removes_tables_and_seeds(cli, db):
    cli("db", "downgrade", "base", "--yes")
    from sqlalchemy import inspect

    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}


def test_history_marks_current_and_head(cli):
    rows = cli("db", "history", "--json").json
    assert rows[0]["is_head"] is True and rows[0]["is_current"] is True
    assert rows[-1]["revision"] == "0001"


def test_unknown_revision_is_bad_input(cli):
    result = cli("db", "downgrade", "nope")
    assert result.exit_code == 2 and "unknown revision" in result.stderr


def test_models_and_migrations_agree(db):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from valhalla_cli.models import load_all

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, load_all())
    assert diff == []


def test_known_head_matches_alembic():
    from valhalla_cli.migrate import head_revision
    from valhalla_cli.schema import known_head_revision

    assert known_head_revision() == head_revision()


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET actor = 'mallory'",
                                       "DELETE FROM audit_event"])
def test_audit_event_is_append_only(cli, db, statement):
    cli("golive", "kill-switch", "engage", "--reason", "drill")
    assert db_count(db, "SELECT COUNT(*) FROM audit_event") == 1
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text(statement))
    assert db_count(db, "SELECT COUNT(*) FROM audit_event WHERE actor = 'tester'") == 1


def test_new_default_sqlite_file_is_created_at_head(cli_nodb, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "fresh"))
    result = cli_nodb("runbook", "status", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json["ok_to_enable_go_live"] is True
    assert (tmp_path / "fresh" / "valhalla" / "valhalla.db").exists()


def test_unreachable_postgres_is_exit_4(cli_nodb, tmp_path):
    url = f"postgresql+psycopg://nobody@/valhalla?host={tmp_path}&port=1"
    result = cli_nodb("--db", url, "golive", "state")
    assert result.exit_code == 4
    assert "unavailable" in result.stderr


def test_unsupported_engine_is_bad_input(cli_nodb):
    result = cli_nodb("--db", "mysql://x@localhost/db", "golive", "state")
    assert result.exit_code == 2 and "unsupported database" in result.stderr


def test_locked_sqlite_past_a_short_timeout_is_exit_4_in_one_line(short_busy_timeout, tmp_path,
                                                                   sqlite_template):
    """The same refusal in this process, with the busy timeout cut short (the real one is
    waited out in the slow test below)."""
    import shutil
    import sqlite3

    from conftest import Cli

    path = tmp_path / "locked.db"
    shutil.copy(sqlite_template, path)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        result = Cli(f"sqlite:///{path}")("golive", "kill-switch", "engage", "--reason", "x")
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.exit_code == 4, result.stderr
    assert "locked by another process" in result.stderr, result.stderr
    assert "valhalla process" not in result.stderr
    assert waited >= short_busy_timeout  # it waited for the busy timeout before giving up


@pytest.mark.slow  # waits out the real 10 s busy timeout, in a process of its own
def test_locked_sqlite_past_the_timeout_is_exit_4(tmp_path, sqlite_template):
    import shutil

    from conftest import run_valhalla

    path = tmp_path / "locked.db"
    shutil.copy(sqlite_template, path)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\n"
         "time.sleep(30)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        result = run_valhalla("--db", f"sqlite:///{path}", "golive", "kill-switch", "engage",
                              "--reason", "x", check_clean=False)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 4, result.stderr
    # The holder is not valhalla (issue 19, defect 19): the message must not claim it is.
    assert "locked by another process" in result.stderr, result.stderr
    assert "valhalla process" not in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert waited >= 5  # it waited for the busy timeout before giving up


def test_liquidity_nodes_keep_their_counts_when_the_key_moves_to_the_market_key(cli, db):
    """Revision 0025 makes (province, market_key, property type, date) the primary key: the
    nodes recorded before it keep their rows and counts, down and up again."""
    from sqlalchemy import text

    assert cli("db", "downgrade", "0024", "--yes").exit_code == 0
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO buyer_liquidity_node (province, market, market_key, property_type,"
            " business_date, sent, responded, closed) VALUES"
            " ('QC', 'Montréal', 'MONTREAL', 'SFR', '2027-01-15', 5, 3, 1),"
            " ('QC', 'Laval', 'LAVAL', 'SFR', '2027-01-15', 2, 1, 0)"))
    assert cli("db", "upgrade").exit_code == 0
    rows = "SELECT COUNT(*) FROM buyer_liquidity_node WHERE market_key = :key AND sent = :sent"
    assert db_count(db, rows, key="MONTREAL", sent=5) == 1
    assert db_count(db, rows, key="LAVAL", sent=2) == 1
    assert cli("db", "downgrade", "0024", "--yes").exit_code == 0
    assert db_count(db, "SELECT SUM(sent) FROM buyer_liquidity_node") == 7
