"""What opening a PostgreSQL database costs a one-shot command before its own statements: the
dialect's few questions about the server and the schema check, and no catalog lookup of a type
Valhalla never uses (each is a round trip to the server on every new connection)."""

import pytest


def test_a_fresh_postgresql_connection_asks_only_what_it_needs(db_url, monkeypatch):
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite opens a file in the process")
    import psycopg

    from valhalla_cli.bootstrap import open_database

    sent: list[str] = []
    execute = psycopg.Cursor.execute

    def counted(self, query, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(query if isinstance(query, str) else query.as_string(self))
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    db = open_database(db_url)
    try:
        with db.transaction() as session:
            assert session.connection().exec_driver_sql("SELECT 41 + 1").scalar() == 42
    finally:
        db.dispose()
    assert not [q for q in sent if "pg_type" in q], sent  # the hstore lookup
    assert sent[-1] == "SELECT 41 + 1"
    assert len(sent) <= 8, sent


def test_postgresql_connections_do_not_compile_plans_just_in_time(db_url):
    """JIT compilation cost 550-700 ms on a 70 ms report query at the benchmark scale; the
    connection turns it off without a statement of its own, and keeps the URL's own options."""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    from sqlalchemy.engine import make_url

    from valhalla_cli.bootstrap import open_database

    with_options = make_url(db_url).update_query_dict(
        {"options": "-c application_name=valhalla-test"}).render_as_string(hide_password=False)
    for url, application in ((db_url, None), (with_options, "valhalla-test")):
        db = open_database(url)
        try:
            with db.transaction() as session:
                conn = session.connection()
                assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
                if application:
                    assert conn.exec_driver_sql("SHOW application_name").scalar() == application
        finally:
            db.dispose()
