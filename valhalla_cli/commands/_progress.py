"""The progress bar of a file import on a terminal (standard error), and its total."""

from pathlib import Path
from typing import Any, Self


class FileProgress:
    """A Rich progress bar over a file's bytes on a terminal; nothing when not on a terminal."""

    def __init__(self, path: Path, label: str, *, enabled: bool) -> None:
        self.path, self.label, self.enabled = path, label, enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Self:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      TaskProgressColumn(), TextColumn("{task.fields[rows]} rows"),
                                      console=Console(stderr=True), transient=True)
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=100, rows=0)
        return self

    def update(self, rows: int, fraction: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=min(100.0, fraction * 100), rows=rows)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def count_lines(path: Path) -> int:
    """Lines in a file, read in 1 MiB blocks (for the progress bar's total)."""
    total = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                total += block.count(b"\n")
    except OSError:
        return 0
    return total
