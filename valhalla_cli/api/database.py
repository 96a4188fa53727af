"""The database of one server process: its engine, opened on first use and kept (pooled
connections), and the lock that queues SQLite writers. The app, the review pages and the
webhooks share it."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING

from valhalla_cli.errors import DatabaseUnavailable

if TYPE_CHECKING:
    from valhalla_cli.db import Database


class ServerDatabase:
    """The engine of one worker process, opened on first use and kept (pooled connections)."""

    def __init__(self, url: str) -> None:
        from valhalla_cli.db import sqlite_path

        self.url = url
        self.sqlite_file = sqlite_path(url)
        self._database: Database | None = None
        self._lock = threading.Lock()
        # SQLite has one writer at a time. Requests of this process queue for it here, in
        # order, instead of in SQLite's busy handler, whose growing sleeps (up to 100 ms each)
        # made the tail of concurrent writes; other processes still meet the busy timeout.
        # They wait on the event loop, holding no worker thread meanwhile (a writer waiting in
        # a thread could leave the holder none to finish with).
        self.write_lock: asyncio.Lock | None = (
            asyncio.Lock() if self.sqlite_file is not None else None)

    def get(self) -> Database:
        # A SQLite file that disappeared under a running server must not be recreated empty
        # by the driver's connect: answer 503 until it is back.
        if self.sqlite_file is not None and not self.sqlite_file.exists():
            raise DatabaseUnavailable(f"database file {self.sqlite_file} does not exist: run "
                                      "`valhalla init` or `valhalla db upgrade`")
        if self._database is None:
            with self._lock:
                if self._database is None:
                    from valhalla_cli.db import Database, make_engine

                    self._database = Database(engine=make_engine(self.url), url=self.url)
        return self._database

    def dispose(self) -> None:
        if self._database is not None:
            self._database.dispose()
