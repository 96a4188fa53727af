"""What a runbook check returns: its status, one line of detail and the command that fixes it.

A leaf module (it imports nothing of Valhalla): every pack's check imports it, and the runbook,
which runs the checks, names each one by its key in `runbook.CHECKS`.
"""

from __future__ import annotations

from dataclasses import dataclass

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class CheckResult:
    status: str  # ok | warn | fail; warnings do not block go-live
    detail: str
    fix: str | None = None
