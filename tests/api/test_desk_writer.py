"""Next call holds the database's writer for the claim only: the card (history, conversation,
local times, script) is read after the claim has committed, and the claim costs the same few
statements however long the queue is. Both engines, in-process (the card is watched while it
is being assembled)."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from api.test_desk_api import AT, _config, _ladders, _live, _token
from valhalla_cli.db import sqlite_path


@pytest.fixture
def desk_app(db_url, db, tmp_path, cli):
    from fastapi.testclient import TestClient

    from valhalla_cli.api.app import create_app
    from valhalla_cli.settings import resolve_settings

    config = tmp_path / "desk.toml"
    config.write_text(_config(), encoding="utf-8")
    app = create_app(resolve_settings(config=str(config), db=db_url))
    with TestClient(app) as client:
        client.config_path = config
        yield client


def _next(client, token: str):
    answer = client.post("/api/desk/next", json={"at": AT},
                         headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()["task"]


@pytest.mark.slow
def test_the_card_is_read_after_the_claim_has_committed(desk_app, db_url, db, cli,
                                                       monkeypatch):
    from valhalla_cli.services import desk

    _ladders(cli, desk_app.config_path, [("L-1", "va1", "+14165550101")])
    _live(cli, desk_app.config_path)
    alice = _token(db, "alice", owner="va1")
    other = create_engine(db_url)
    seen: dict[str, object] = {}
    card = desk.card

    def watched(session, *, task, **kwargs):
        # Another connection, while the card is being assembled: the claim is already there
        # for everyone, and (SQLite) the one writer is free for the next caller.
        with other.connect() as conn:
            seen["row"] = tuple(conn.execute(text(
                "SELECT status, claim_token FROM followup_task WHERE id = :i"),
                {"i": task.id}).one())
        path = sqlite_path(db_url)
        if path is not None:
            raw = sqlite3.connect(path, timeout=0)
            try:
                raw.execute("BEGIN IMMEDIATE")
                seen["writer_free"] = True
                raw.rollback()
            except sqlite3.OperationalError:
                seen["writer_free"] = False
            finally:
                raw.close()
        return card(session, task=task, **kwargs)

    monkeypatch.setattr(desk, "card", watched)
    try:
        got = _next(desk_app, alice)
    finally:
        other.dispose()
    assert got["lead_id"] == "L-1"
    assert seen["row"] == ("claimed", got["claim_token"])
    if sqlite_path(db_url) is not None:
        assert seen["writer_free"] is True


@pytest.mark.slow
def test_next_call_costs_the_same_statements_whatever_the_queue(desk_app, db_url, db, cli):
    from valhalla_cli.db import Database

    _live(cli, desk_app.config_path)
    alice, bob = _token(db, "alice", owner="va1"), _token(db, "bob", owner="va2")
    _ladders(cli, desk_app.config_path, [("S-1", "va1", "+14165550101")])
    _ladders(cli, desk_app.config_path, [(f"M-{n:02d}", "va2", f"+141655502{n:02d}")
                                         for n in range(40)])
    counts: dict[str, int] = {"write": 0, "all": 0}
    in_write = {"on": False}
    transaction = Database.transaction

    def counted(conn, cursor, statement, parameters, context, executemany):
        counts["all"] += 1
        counts["write"] += in_write["on"]

    @contextlib.contextmanager
    def marked(self, *, write: bool = False):
        in_write["on"] = write
        try:
            with transaction(self, write=write) as session:
                yield session
        finally:
            in_write["on"] = False

    per_queue = {}
    event.listen(Engine, "before_cursor_execute", counted)
    try:
        Database.transaction = marked  # type: ignore[method-assign]
        for name, token in (("one due call", alice), ("forty due calls", bob)):
            counts.update(write=0, all=0)
            assert _next(desk_app, token) is not None
            per_queue[name] = dict(counts)
    finally:
        Database.transaction = transaction  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", counted)
    assert per_queue["one due call"] == per_queue["forty due calls"], per_queue
    # The claim's write transaction is a fixed handful of statements; the card's reads follow.
    assert per_queue["one due call"]["write"] <= 20, per_queue
    assert per_queue["one due call"]["all"] - per_queue["one due call"]["write"] >= 6, per_queue


@pytest.mark.slow
def test_an_owners_next_does_not_walk_other_owners_due_calls(desk_app, db_url, db, cli):
    """SQLite's count of virtual-machine steps for one Next: the same whether 5 or 150 calls of
    other owners fall due before this owner's (the scan seeks the owner's due calls)."""
    if sqlite_path(db_url) is None:
        pytest.skip("a count of SQLite's virtual-machine steps")
    _live(cli, desk_app.config_path)
    steps = {"n": 0}

    def count(conn, cursor, statement, parameters, context, executemany):
        conn.connection.dbapi_connection.set_progress_handler(_step(steps), 1)

    cost = {}
    event.listen(Engine, "before_cursor_execute", count)
    try:
        for others, first in ((5, 0), (145, 5)):
            _ladders(cli, desk_app.config_path, [(f"B-{n:03d}", "va2", f"+14165551{n:03d}")
                                                 for n in range(first, first + others)])
            _ladders(cli, desk_app.config_path, [(f"A-{first}", "va1", "+14165550101")])
            alice = _token(db, f"alice-{first}", owner="va1")
            steps["n"] = 0
            card = _next(desk_app, alice)
            assert card["lead_id"] == f"A-{first}"
            cost[first + others] = steps["n"]
            done = desk_app.post(f"/api/desk/{card['task_id']}/disposition",
                                 json={"claim_token": card["claim_token"],
                                       "outcome": "not_interested", "at": AT},
                                 headers={"Authorization": f"Bearer {alice}"})
            assert done.status_code == 200, done.text
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert cost[150] < cost[5] * 1.3, cost


def _step(steps):
    def tick():
        steps["n"] += 1
        return 0
    return tick


def test_the_server_keeps_what_it_loaded_at_start_out_of_full_collections(tmp_path):
    """The server's modules live as long as it does: frozen once started, so the collector's
    full passes (which pause every request in flight) do not walk them."""
    import gc

    from fastapi.testclient import TestClient

    from valhalla_cli.api.app import create_app
    from valhalla_cli.settings import resolve_settings

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    app = create_app(resolve_settings(db=f"sqlite:///{tmp_path / 'v.db'}"))
    with TestClient(app):
        assert gc.get_freeze_count() > 0


@pytest.mark.slow
def test_a_card_that_cannot_be_read_leaves_the_claim_held_for_the_next_next(
        desk_app, db_url, db, cli, monkeypatch):
    from valhalla_cli.errors import DatabaseUnavailable
    from valhalla_cli.services import desk

    _ladders(cli, desk_app.config_path, [("L-1", "va1", "+14165550101")])
    _live(cli, desk_app.config_path)
    alice = _token(db, "alice", owner="va1")
    card = desk.card
    failures = iter([DatabaseUnavailable("the database went away")])

    def once(session, **kwargs):
        for error in failures:
            raise error
        return card(session, **kwargs)

    monkeypatch.setattr(desk, "card", once)
    lost = desk_app.post("/api/desk/next", json={"at": AT},
                         headers={"Authorization": f"Bearer {alice}"})
    assert lost.status_code == 503, lost.text
    with db.transaction() as session:
        status, token = session.execute(text(
            "SELECT status, claim_token FROM followup_task WHERE lead_id = 'L-1' AND step = 1")
        ).one()
    assert status == "claimed" and token
    again = _next(desk_app, alice)
    assert again["lead_id"] == "L-1" and again["claim_token"] == token
    assert again["attempt"] == 1
