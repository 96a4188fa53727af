"""Sharing SQLite's write lock: when a long import, and the cleanup after it, pauses so that
waiting writers (`golive kill-switch engage`, a dispatch) get in between its transactions."""

from __future__ import annotations

from typing import Any

# SQLite has no queue for its write lock: a waiting process retries from its busy handler,
# sleeping up to 100 ms between tries, and an import that began its next transaction at once
# would win the lock again every time. Pausing this long between chunks lets every waiter in.
SQLITE_YIELD_S = 0.1
# ...but only once the import has held the lock this long since it last paused: a pause after
# every 0.2 s chunk spent a third of a ladder import asleep, and a waiter still gets in within
# about this long plus one chunk.
SQLITE_YIELD_EVERY_S = 0.25


class LockYield:
    """When a committed SQLite import pauses to let waiting writers in: after at least
    `every` seconds of writing since its last pause (`clock` and `sleep` are time's)."""

    def __init__(self, every: float = SQLITE_YIELD_EVERY_S, pause: float = SQLITE_YIELD_S,
                 clock: Any = None, sleep: Any = None) -> None:
        import time

        self.every, self.pause = every, pause
        self.clock, self.sleep = clock or time.monotonic, sleep or time.sleep
        self.since = self.clock()

    def after_commit(self) -> None:
        if self.clock() - self.since >= self.every:
            self.sleep(self.pause)
            self.since = self.clock()


def pause_for_writers(db: Any) -> None:
    """Between two cleanup chunks: let a waiting SQLite writer in (see SQLITE_YIELD_S)."""
    if db.dialect == "sqlite":
        import time

        time.sleep(SQLITE_YIELD_S)
