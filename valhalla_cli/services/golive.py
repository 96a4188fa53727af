"""Go-live (Prime Law): the production switch, the kill switch and the manual checklist.

Live means `enabled and not kill_switch`. With enforcement off (development only) the `enabled`
flag is ignored and a warning is given; the kill switch is an emergency stop and is honoured
even then (README: "Decisions").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import insert_if_missing
from valhalla_cli.errors import BadInput, NotFound
from valhalla_cli.inputs import REASON_MAX_LENGTH, parse_text
from valhalla_cli.models import GoLiveChecklistItem, GoLiveState
from valhalla_cli.models.types import table_of, view_of
from valhalla_cli.services import audit
from valhalla_cli.services.audit import Pack
from valhalla_cli.services.refusals import Refusal

if TYPE_CHECKING:
    from valhalla_cli.services.checks import CheckResult
    from valhalla_cli.settings import Settings

PACK = Pack.GOLIVE


@dataclass(frozen=True)
class LastChange:
    what: str
    by: str | None
    at: datetime | None
    reason: str | None


@dataclass(frozen=True)
class GoLiveView:
    enabled: bool
    kill_switch: bool
    live: bool
    enforce: bool
    last_change: LastChange | None


@dataclass(frozen=True)
class LiveStatus:
    """Whether production execution is allowed now, and if not, which switch says no."""

    live: bool
    reason: str | None  # kill_switch_engaged | golive_disabled | None
    message: str | None
    warning: str | None = None


def _state(session: Session, *, for_update: bool = False) -> GoLiveState:
    query = select(GoLiveState).where(col(GoLiveState.id) == 1)
    if for_update:
        query = query.with_for_update()
    state = session.scalars(query).first()
    if state is None:
        state = GoLiveState(id=1, enabled=False, kill_switch=False)
        session.add(state)
        session.flush()
    return state


def _last_change(state: GoLiveState) -> LastChange | None:
    changes = []
    if state.enabled_changed_at is not None:
        what = "enabled" if state.enabled else "disabled"
        changes.append(LastChange(what, state.enabled_changed_by, state.enabled_changed_at,
                                  state.enabled_reason))
    if state.kill_switch_changed_at is not None:
        what = "kill switch engaged" if state.kill_switch else "kill switch released"
        changes.append(LastChange(what, state.kill_switch_changed_by,
                                  state.kill_switch_changed_at, state.kill_switch_reason))
    # Every change listed has its instant (they are only listed when it is set).
    return max(changes, key=lambda c: c.at.timestamp() if c.at else 0.0) if changes else None


def get_state(session: Session, *, enforce: bool) -> GoLiveView:
    state = _state(session)
    return GoLiveView(
        enabled=state.enabled,
        kill_switch=state.kill_switch,
        live=live_status(session, enforce=enforce).live,
        enforce=enforce,
        last_change=_last_change(state),
    )


def _who(by: str | None, at: datetime | None, reason: str | None) -> str:
    when = at.strftime("%Y-%m-%d %H:%M UTC") if at else "at install"
    return f"by {by or 'the seed'} {when}" + (f": {reason}" if reason else "")


def live_status(session: Session, *, enforce: bool) -> LiveStatus:
    state = _state(session)
    if state.kill_switch:
        return LiveStatus(
            live=False,
            reason="kill_switch_engaged",
            message="the kill switch is engaged "
            + _who(state.kill_switch_changed_by, state.kill_switch_changed_at,
                   state.kill_switch_reason)
            + "; release it with valhalla golive kill-switch release --reason '...'",
        )
    if not state.enabled:
        if not enforce:
            return LiveStatus(
                live=True, reason=None, message=None,
                warning="go-live enforcement is off (development only): acting as if live",
            )
        return LiveStatus(
            live=False,
            reason="golive_disabled",
            message="go-live is disabled "
            + _who(state.enabled_changed_by, state.enabled_changed_at, state.enabled_reason)
            + "; enable it with valhalla golive enable --reason '...' (once valhalla runbook "
            "status is OK)",
        )
    return LiveStatus(live=True, reason=None, message=None)


def require_reason(reason: str | None) -> str:
    text = parse_text(reason, field="--reason", max_length=REASON_MAX_LENGTH)
    if text is None:
        raise BadInput("--reason must not be empty")
    return text


@dataclass(frozen=True)
class SwitchResult:
    action: str
    changed: bool
    refused: bool
    reason: str | None  # machine-readable reason code when refused
    failing_checks: list[str]
    state: GoLiveView
    message: str | None = None  # the refusal in words: each failing check and its fix

    @property
    def refusal(self) -> Refusal | None:
        """The switch refused (go-live while a check fails, or while the kill switch is on)."""
        if not self.refused:
            return None
        return Refusal(self.reason or "refused", self.message or "go-live not enabled")


def _set_switch(
    session: Session, *, field: str, value: bool, action: str, actor: str, at: datetime,
    reason: str, enforce: bool,
) -> SwitchResult:
    state = _state(session, for_update=True)
    before = {"enabled": state.enabled, "kill_switch": state.kill_switch}
    changed = getattr(state, field) != value
    setattr(state, field, value)
    setattr(state, f"{field}_changed_at", at)
    setattr(state, f"{field}_changed_by", actor)
    setattr(state, f"{field}_reason", reason)
    session.flush()
    after = {"enabled": state.enabled, "kill_switch": state.kill_switch}
    audit.record(session, pack=PACK, action=action, actor=actor, at=at, subject="go_live_state",
                 before=before, after=after, reason=reason)
    return SwitchResult(action=action, changed=changed, refused=False, reason=None,
                        failing_checks=[], state=get_state(session, enforce=enforce))


def mark_enabled(session: Session, *, actor: str, at: datetime, reason: str,
                 enforce: bool) -> SwitchResult:
    """Set `enabled`, once the gate (`golive_gate.enable`, which every face calls) has found
    the runbook without a failing check."""
    return _set_switch(session, field="enabled", value=True, action="enable", actor=actor,
                       at=at, reason=reason, enforce=enforce)


def disable(session: Session, *, actor: str, at: datetime, reason: str | None,
            enforce: bool) -> SwitchResult:
    return _set_switch(session, field="enabled", value=False, action="disable", actor=actor,
                       at=at, reason=require_reason(reason), enforce=enforce)


def engage_kill_switch(session: Session, *, actor: str, at: datetime, reason: str | None,
                       enforce: bool) -> SwitchResult:
    """Always allowed: nothing may block an emergency stop."""
    return _set_switch(session, field="kill_switch", value=True, action="kill_switch_engage",
                       actor=actor, at=at, reason=require_reason(reason), enforce=enforce)


def release_kill_switch(session: Session, *, actor: str, at: datetime, reason: str | None,
                        enforce: bool) -> SwitchResult:
    return _set_switch(session, field="kill_switch", value=False, action="kill_switch_release",
                       actor=actor, at=at, reason=require_reason(reason), enforce=enforce)


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    title: str
    signed: bool
    signed_by: str | None
    signed_at: datetime | None
    note: str | None


def _item_view(item: GoLiveChecklistItem) -> ChecklistItem:
    return view_of(ChecklistItem, item)


def list_checklist(session: Session) -> list[ChecklistItem]:
    items = session.scalars(select(GoLiveChecklistItem).order_by(col(GoLiveChecklistItem.key)))
    return [_item_view(i) for i in items]


def _checklist_key(key: str) -> str:
    cleaned = key.strip().lower()
    if not cleaned or len(cleaned) > 80 or not all(c.isalnum() or c in "-_." for c in cleaned):
        raise BadInput(f"checklist key {key!r} must be 1-80 letters, digits, '-', '_' or '.'")
    return cleaned


def _get_item(session: Session, key: str) -> GoLiveChecklistItem:
    item = session.get(GoLiveChecklistItem, _checklist_key(key), with_for_update=True)
    if item is None:
        raise NotFound(f"no checklist item {key!r} (see `valhalla golive checklist list`)")
    return item


def add_checklist_item(session: Session, *, key: str, title: str, actor: str,
                       at: datetime) -> ChecklistItem:
    key = _checklist_key(key)
    title = parse_text(title, field="--title", max_length=300) or ""
    if not title:
        raise BadInput("--title must not be empty")
    # Two operators adding the same key at once: the second gets the refusal it would get
    # coming second, not a unique-key failure.
    if not insert_if_missing(session, table_of(GoLiveChecklistItem), {
            "key": key, "title": title.strip(), "signed": False, "created_by": actor,
            "created_at": at}):
        raise BadInput(f"checklist item {key!r} already exists")
    item = session.get(GoLiveChecklistItem, key)
    assert item is not None  # inserted just above
    audit.record(session, pack=PACK, action="checklist_add", actor=actor, at=at, subject=key,
                 after={"title": item.title, "signed": False})
    return _item_view(item)


def sign_checklist_item(session: Session, *, key: str, note: str | None, actor: str,
                        at: datetime) -> ChecklistItem:
    note = parse_text(note, field="--note", max_length=REASON_MAX_LENGTH)
    item = _get_item(session, key)
    before = {"signed": item.signed, "signed_by": item.signed_by}
    item.signed, item.signed_by, item.signed_at, item.note = True, actor, at, note
    session.flush()
    audit.record(session, pack=PACK, action="checklist_sign", actor=actor, at=at,
                 subject=item.key, before=before,
                 after={"signed": True, "signed_by": actor}, reason=note)
    return _item_view(item)


def unsign_checklist_item(session: Session, *, key: str, reason: str | None, actor: str,
                          at: datetime) -> ChecklistItem:
    reason = require_reason(reason)
    item = _get_item(session, key)
    before = {"signed": item.signed, "signed_by": item.signed_by}
    item.signed, item.signed_by, item.signed_at, item.note = False, None, None, None
    session.flush()
    audit.record(session, pack=PACK, action="checklist_unsign", actor=actor, at=at,
                 subject=item.key, before=before, after={"signed": False}, reason=reason)
    return _item_view(item)


def history(session: Session, *, limit: int = 100) -> list[audit.AuditEntry]:
    return audit.list_events(session, pack=PACK, limit=limit)


def runbook_check(session: Session, settings: Settings, at: datetime) -> CheckResult:
    """Fails while the kill switch is engaged or a checklist item is unsigned."""
    from valhalla_cli.services.checks import FAIL, OK, WARN, CheckResult

    status = WARN if not settings.golive_enforce else FAIL
    view = get_state(session, enforce=settings.golive_enforce)
    if view.kill_switch:
        change = view.last_change
        by = f" by {change.by}: {change.reason}" if change and change.by else ""
        return CheckResult(status, f"kill switch engaged{by}",
                           "valhalla golive kill-switch release --reason ...")
    unsigned = [item.key for item in list_checklist(session) if not item.signed]
    if unsigned:
        return CheckResult(status, "unsigned checklist items: " + ", ".join(unsigned),
                           f"valhalla golive checklist sign {unsigned[0]}")
    if not settings.golive_enforce:
        return CheckResult(WARN, "go-live enforcement is off (development only)",
                           "unset VALHALLA_GOLIVE_ENFORCE or set golive.enforce = true")
    state = "live" if view.live else "not live"
    return CheckResult(OK, f"kill switch released, checklist signed ({state})")
