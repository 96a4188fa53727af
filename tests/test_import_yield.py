"""A SQLite import commits after every chunk but pauses (to let a waiting writer take the lock)
only after a quarter of a second of writing since its last pause, not after every chunk: the
pauses had been a third of a `ladder import`'s time."""

from valhalla_cli.lock_yield import SQLITE_YIELD_EVERY_S, SQLITE_YIELD_S, LockYield


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(self.now)
        self.now += seconds


def test_an_import_pauses_once_per_quarter_second_of_writing_not_per_chunk():
    t = FakeTime()
    yielder = LockYield(clock=t.clock, sleep=t.sleep)
    for _ in range(10):  # ten chunks of 0.2 s each
        t.now += 0.2
        yielder.after_commit()
    assert len(t.slept) == 5  # after every second chunk (was: after each of the 10)
    assert SQLITE_YIELD_EVERY_S <= 0.25 and SQLITE_YIELD_S >= 0.1


def test_a_slow_chunk_still_pauses_after_it():
    """Each chunk that takes longer than the interval is followed by a pause, so a writer that
    waits never waits much more than one chunk."""
    t = FakeTime()
    yielder = LockYield(clock=t.clock, sleep=t.sleep)
    for _ in range(4):
        t.now += 0.3
        yielder.after_commit()
    assert len(t.slept) == 4
    gaps = [b - a for a, b in zip(t.slept, t.slept[1:], strict=False)]
    assert all(abs(g - (0.3 + SQLITE_YIELD_S)) < 1e-9 for g in gaps)
