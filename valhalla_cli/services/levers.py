"""Levers the regression tripwire can throttle, read by the packs that obey them.

`followups` throttled: `ladder dispatch` refuses. `offers` throttled: `offer compute` computes but
reports `throttled: true` and exits 1 ("do not send"). The names are written here once: the
packs that obey a lever, the tripwire's seeded policies and `regression policy-set --lever`
import them (a pack's own modules cannot hold them: importing any module of `services/ladder`
runs the whole package, which reads its lever here). Their spelling is the vocabulary's, which
the help texts list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from valhalla_cli.models import RegressionState
from valhalla_cli.vocabulary import LEVERS

# followups: obeyed by `ladder dispatch`; offers: obeyed by `offer compute`
FOLLOWUPS, OFFERS = LEVERS


def known_levers() -> tuple[str, ...]:
    """Every lever, each obeyed by its pack."""
    return LEVERS


@dataclass(frozen=True)
class LeverThrottle:
    lever: str
    since: datetime | None
    metric: str | None
    drop_pct: float | None
    reason: str | None

    @property
    def message(self) -> str:
        since = self.since.strftime("%Y-%m-%d %H:%M UTC") if self.since else "unknown time"
        return (f"the '{self.lever}' lever is throttled by the regression tripwire since {since}"
                + (f" ({self.reason})" if self.reason else "")
                + f"; release with `valhalla regression release {self.lever} --reason ...`")


def throttled_lever(session: Session, lever: str) -> LeverThrottle | None:
    """The lever's throttle if it is throttled now, else None."""
    state = session.get(RegressionState, lever)
    if state is None or not state.throttled:
        return None
    return LeverThrottle(lever=lever, since=state.since, metric=state.metric,
                         drop_pct=state.drop_pct, reason=state.reason)
