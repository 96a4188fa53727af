"""The go-live gate: enabling production is refused while the runbook has a failing check.

It sits above both the go-live switches and the runbook (which runs go-live's own check), so
neither of them imports the other's caller. Every face that enables go-live calls `enable`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from valhalla_cli.services import golive, refusals, runbook

if TYPE_CHECKING:
    from valhalla_cli.settings import Settings


def enable(
    session: Session, *, actor: str, at: datetime, reason: str | None, settings: Settings,
) -> golive.SwitchResult:
    """Set `enabled`, unless the runbook has failing checks (then refuse, changing nothing)."""
    reason = golive.require_reason(reason)
    enforce = settings.golive_enforce
    report = runbook.run_checks(session, settings, at=at)
    if report.failing:
        return golive.SwitchResult(
            action="enable", changed=False, refused=True, reason="runbook_not_ok",
            failing_checks=report.failing, state=golive.get_state(session, enforce=enforce),
            message="go-live not enabled: the runbook has failing checks: "
            + refusals.failing_checks(report.checks))
    return golive.mark_enabled(session, actor=actor, at=at, reason=reason, enforce=enforce)
