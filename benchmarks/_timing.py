"""Timing helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "benchmarks" / "data"
VALHALLA = [sys.executable, "-m", "valhalla_cli"]


def median_seconds(run: Callable[[], object], repeat: int = 9, warmup: int = 1) -> float:
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def run_command(argv: list[str], env: dict[str, str] | None = None, check: bool = True) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, **(env or {})})
    if check and result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr}")


def report(name: str, seconds: float, target: str = "") -> None:
    suffix = f"   (target: {target})" if target else ""
    print(f"{name:<58} {seconds * 1000:9.1f} ms{suffix}")


class Stopwatch:
    """Wall and CPU seconds of a block: this process's CPU, or its children's (`children=True`).

    A PostgreSQL figure's CPU is the client's only; the server's work shows in the wall time.
    """

    def __init__(self, children: bool = False) -> None:
        self.children = children
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def _cpu(self) -> float:
        if self.children:
            import resource

            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            return usage.ru_utime + usage.ru_stime
        return time.process_time()

    def __enter__(self) -> Stopwatch:
        self._wall0, self._cpu0 = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall.append(time.perf_counter() - self._wall0)
        self.cpu.append(self._cpu() - self._cpu0)

    def text(self) -> str:
        """'wall / CPU ms' medians."""
        return (f"{statistics.median(self.wall) * 1000:.0f} / "
                f"{statistics.median(self.cpu) * 1000:.0f} ms")
