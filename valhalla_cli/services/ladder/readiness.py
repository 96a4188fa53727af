"""Readiness: a step becomes dispatchable when every earlier step of its ladder is finished."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.orm import Session

_ADVANCE = text("""
UPDATE followup_task SET ready = :yes
WHERE ladder_id = :ladder_id AND status = 'pending' AND ready = :no
  AND step = (SELECT MIN(n.step) FROM followup_task n
              WHERE n.ladder_id = :ladder_id AND n.status IN ('pending', 'claimed'))
""")


def _advance(session: Session, ladder_ids: Iterable[str]) -> None:
    """Mark the lowest unfinished step of each ladder ready (earlier steps are all finished)."""
    params = [{"ladder_id": lid, "yes": True, "no": False} for lid in set(ladder_ids)]
    if params:
        session.execute(_ADVANCE, params)
