"""Messages that identify the sender (SPEC 17.6).

CASL (s. 6(2) and the Electronic Commerce Protection Regulations, s. 2-3) requires every
commercial text to identify the sender, give a way to reach it, and carry a working unsubscribe
mechanism; Quebec expects French. A template is the text of an SMS step in one language (step 0
is the default for every SMS step): it must contain `{business}` and the opt-out word of its
language (`STOP`; `ARRÊT` or `ARRET`), which `lead inbound` honours.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.errors import BadInput
from valhalla_cli.models import MessageTemplate

if TYPE_CHECKING:
    from valhalla_cli.services.runbook import CheckResult

PACK = "template"
PLACEHOLDERS = ("name", "business", "callback", "market")
OPT_OUT_WORD = {"en": ("STOP",), "fr": ("ARRÊT", "ARRET")}


@dataclass(frozen=True)
class Identification:
    """The `[business]` identity every text carries."""

    name: str
    callback: str  # E.164
    website: str | None = None


def identification_of(settings: Any) -> Identification | None:
    """The configured identity, or None while `[business] name` or `callback` is missing."""
    name, callback = settings.business_name, settings.business_callback
    if not name or not callback:
        return None
    return Identification(name, callback, settings.business_website)


@dataclass(frozen=True)
class TemplateView:
    step: str  # "default" or the step number
    language: str
    text: str
    updated_at: datetime | None
    updated_by: str | None
    created: bool = False


def _view(row: MessageTemplate, created: bool = False) -> TemplateView:
    return TemplateView("default" if row.step == 0 else str(row.step), row.language, row.text,
                        row.updated_at, row.updated_by, created)


def check_text(text: str | None, language: str) -> str:
    from valhalla_cli.inputs import check_message_text

    value = (text or "").strip().replace("\r\n", "\n")
    if not value:
        raise BadInput("--text must not be empty")
    if len(value) > 1000:
        raise BadInput("--text must be at most 1000 characters")
    check_message_text(value, field="--text")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise BadInput(f"--text: unbalanced braces ({exc})") from None
    unknown = [f for f in fields if f not in PLACEHOLDERS]
    if unknown:
        raise BadInput(f"--text: unknown placeholder {{{unknown[0]}}} (use "
                       + ", ".join("{" + p + "}" for p in PLACEHOLDERS) + ")")
    if "business" not in fields:
        raise BadInput("--text must contain {business}: every text identifies the sender "
                       "(CASL)")
    words = OPT_OUT_WORD[language]
    if not any(word in value.upper() for word in words):
        raise BadInput(f"--text must contain the opt-out word {' or '.join(words)} "
                       f"({language}): every text carries a working unsubscribe (CASL)")
    return value


def list_templates(session: Session) -> list[TemplateView]:
    return [_view(r) for r in session.scalars(
        select(MessageTemplate).order_by(col(MessageTemplate.step), col(MessageTemplate.language)))]


def set_template(session: Session, *, step: int | None, language: str, text: str, actor: str,
                 at: datetime) -> TemplateView:
    """Create or replace a template (audited, before -> after)."""
    from valhalla_cli.services import audit
    from valhalla_cli.services.contact_facts import check_language

    lang = check_language(language)
    if step is not None and not 1 <= step <= 100:
        raise BadInput("--step must be a ladder step number from 1 to 100")
    number = step or 0
    value = check_text(text, lang)
    row = session.scalars(select(MessageTemplate).where(
        col(MessageTemplate.step) == number, col(MessageTemplate.language) == lang)
        .with_for_update()).first()
    before = None if row is None else {"text": row.text}
    created = row is None
    if row is None:
        row = MessageTemplate(step=number, language=lang, text=value)
        session.add(row)
    row.text, row.updated_at, row.updated_by = value, at, actor
    session.flush()
    audit.record(session, pack=PACK, action="set", actor=actor, at=at,
                 subject=f"{'default' if number == 0 else number}/{lang}", before=before,
                 after={"text": value})
    return _view(row, created)


class TemplateSet:
    """Every template, read once per dispatch run (a handful of rows)."""

    def __init__(self, session: Session) -> None:
        self.texts = {(r.step, r.language): r.text for r in session.scalars(
            select(MessageTemplate))}

    def template_for(self, step: int, language: str) -> str | None:
        return self.texts.get((step, language)) or self.texts.get((0, language))

    def render(self, step: int, language: str, *, name: str | None, market: str,
               identification: Identification) -> str | None:
        text = self.template_for(step, language)
        if text is None:
            return None
        return text.format(name=f" {name}" if name else "", business=identification.name,
                           callback=identification.callback, market=market.title())


def runbook_check(session: Session, settings: Any, at: datetime) -> CheckResult:
    """Warn while `[business] name` or `callback` is missing (SMS tasks are held meanwhile);
    fail when a language in use has no template."""
    from valhalla_cli.models import Lead
    from valhalla_cli.services.contact_facts import LANGUAGES
    from valhalla_cli.services.dncl import held_counts
    from valhalla_cli.services.runbook import FAIL, OK, WARN, CheckResult

    templates = TemplateSet(session)
    # Only a language without a default template is looked for among the leads (and a lead
    # using it stops the scan at once): the registry is not read when every language has one.
    missing = [lang for lang in LANGUAGES if (0, lang) not in templates.texts
               and session.scalar(select(exists().where(col(Lead.language) == lang)))]
    if missing:
        return CheckResult("messages", FAIL, f"no default SMS template for language(s) "
                           f"{', '.join(missing)} in use by leads",
                           f"valhalla template set --language {missing[0]} --text '...'")
    if identification_of(settings) is None:
        held = held_counts(session, at=at).get("no_identification", 0)
        lacking = [k for k, v in (("name", settings.business_name),
                                  ("callback", settings.business_callback)) if not v]
        return CheckResult("messages", WARN,
                           f"[business] {' and '.join(lacking)} not configured: SMS tasks are "
                           f"held (no_identification; {held} held now)",
                           f"set [business] name and callback in {settings.config_path}")
    return CheckResult("messages", OK, f"texts identify {settings.business_name} "
                       f"({settings.business_callback}); templates for "
                       f"{', '.join(sorted({lang for _, lang in templates.texts}))}")
