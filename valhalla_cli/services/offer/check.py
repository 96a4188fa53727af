"""The offer pack's runbook check: enabled policies are within bounds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from valhalla_cli.models import OfferPolicy
from valhalla_cli.services.offer.mao import PROVINCE_WIDE
from valhalla_cli.services.offer.policies import _merge

__all__ = ["runbook_check"]


def runbook_check(session: Session, settings: Any, at: datetime) -> Any:
    """`offers`: fail when an enabled policy is out of bounds; warn when none is enabled."""
    from valhalla_cli.services.checks import FAIL, OK, WARN, CheckResult

    rows = list(session.scalars(select(OfferPolicy)))
    bases = {r.province: r for r in rows if r.market == PROVINCE_WIDE}
    enabled, broken = [], []
    for row in rows:
        merged = _merge(row, None) if row.market == PROVINCE_WIDE else _merge(
            bases.get(row.province), row)
        if not merged.enabled:
            continue
        label = row.province + ("" if row.market == PROVINCE_WIDE else f"/{row.market}")
        enabled.append(label)
        problems = merged.problems()
        if problems:
            broken.append(f"{label}: {'; '.join(problems)}")
    if broken:
        first = broken[0].split(":")[0]
        province, _, market = first.partition("/")
        fix = (f"valhalla offer policy-set {province}" + (f" --market {market!r}" if market
                                                          else "") + " --disable")
        return CheckResult(FAIL, "enabled offer policies out of bounds: "
                           + " | ".join(broken), fix)
    if not enabled:
        return CheckResult(WARN, "no offer policy is enabled (offers are refused "
                           "everywhere)", "valhalla offer policy-set ON --enable")
    from valhalla_cli.wording import plural

    return CheckResult(OK, f"{plural(len(enabled), 'enabled offer policy')} within "
                       "bounds: " + ", ".join(enabled))
