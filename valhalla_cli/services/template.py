"""Messages that identify the sender.

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

from valhalla_cli.db import insert_if_missing
from valhalla_cli.errors import BadInput
from valhalla_cli.models import MessageTemplate
from valhalla_cli.models.types import table_of, view_of
from valhalla_cli.services.audit import Pack
from valhalla_cli.services.contact_rules import Reason

if TYPE_CHECKING:
    from valhalla_cli.services.checks import CheckResult

PACK = Pack.TEMPLATE
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
    return view_of(TemplateView, row, step="default" if row.step == 0 else str(row.step),
                   created=created)


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
    # Two operators setting the same new template at once: the second replaces the first's.
    created = insert_if_missing(session, table_of(MessageTemplate), {
        "step": number, "language": lang, "text": value, "updated_at": at, "updated_by": actor})
    row = session.scalars(select(MessageTemplate).where(
        col(MessageTemplate.step) == number, col(MessageTemplate.language) == lang)
        .with_for_update().execution_options(populate_existing=True)).one()
    before = None if created else {"text": row.text}
    row.text, row.updated_at, row.updated_by = value, at, actor
    session.flush()
    audit.record(session, pack=PACK, action="set", actor=actor, at=at,
                 subject=f"{'default' if number == 0 else number}/{lang}", before=before,
                 after={"text": value})
    return _view(row, created)


class TemplateSet:
    """Every template, read once per dispatch run when a text first needs one (a handful of
    rows; a run that hands out calls only never reads them)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._texts: dict[tuple[int, str], str] | None = None

    @property
    def texts(self) -> dict[tuple[int, str], str]:
        if self._texts is None:
            self._texts = {(r.step, r.language): r.text for r in self.session.scalars(
                select(MessageTemplate))}
        return self._texts

    def template_for(self, step: int, language: str) -> str | None:
        return self.texts.get((step, language)) or self.texts.get((0, language))

    def render(self, step: int, language: str, *, name: str | None, market: str | None,
               province: str, identification: Identification) -> str | None:
        text = self.template_for(step, language)
        if text is None:
            return None
        return text.format(name=f" {name}" if name else "", business=identification.name,
                           callback=identification.callback,
                           market=place_name(market, province, language))


# The provinces' and territories' names in each text language: a lead with no market is told
# about its province by name ("Nova Scotia"), never by its postal code in title case ("Ns").
PROVINCE_NAMES: dict[str, dict[str, str]] = {
    "AB": {"en": "Alberta", "fr": "Alberta"},
    "BC": {"en": "British Columbia", "fr": "Colombie-Britannique"},
    "MB": {"en": "Manitoba", "fr": "Manitoba"},
    "NB": {"en": "New Brunswick", "fr": "Nouveau-Brunswick"},
    "NL": {"en": "Newfoundland and Labrador", "fr": "Terre-Neuve-et-Labrador"},
    "NS": {"en": "Nova Scotia", "fr": "Nouvelle-Écosse"},
    "NT": {"en": "the Northwest Territories", "fr": "les Territoires du Nord-Ouest"},
    "NU": {"en": "Nunavut", "fr": "Nunavut"},
    "ON": {"en": "Ontario", "fr": "Ontario"},
    "PE": {"en": "Prince Edward Island", "fr": "Île-du-Prince-Édouard"},
    "QC": {"en": "Quebec", "fr": "Québec"},
    "SK": {"en": "Saskatchewan", "fr": "Saskatchewan"},
    "YT": {"en": "Yukon", "fr": "Yukon"},
}


def market_title(market: str) -> str:
    """A stored market (upper case, accents kept) as a text shows it: `MONTRÉAL` -> `Montréal`,
    `ST. JOHN'S` -> `St. John's`, `TROIS-RIVIÈRES` -> `Trois-Rivières` (str.title would write
    "John'S")."""
    def word(part: str) -> str:
        return "-".join(p[:1].upper() + p[1:].lower() for p in part.split("-"))

    return " ".join(word(part) for part in market.split(" "))


def place_name(market: str | None, province: str, language: str) -> str:
    """What `{market}` says: the market in title case, else the province's name in the text's
    language."""
    if market:
        return market_title(market)
    names = PROVINCE_NAMES.get(province)
    if names is None:
        return province
    return names.get(language) or names["en"]


@dataclass(frozen=True)
class Preview:
    """The exact text a lead's SMS step would be sent (what dispatch hands the sender)."""

    lead_id: str
    step: int
    template: str  # "default" or the step number whose template was used
    language: str
    to: str | None
    market: str
    text: str


def preview(session: Session, settings: Any, *, lead_id: str, step: int | None,
            steps: list[Any]) -> Preview:
    """The text of the lead's SMS step `step` (default: the next unfinished SMS step of its
    active ladder, else the ladder's first SMS step), rendered exactly as dispatch renders it.
    `steps` are the configured ladder steps."""
    from valhalla_cli.errors import ConfigError, NotFound, Refused
    from valhalla_cli.models import FollowupTask
    from valhalla_cli.models.ladder import ACTIVE_STATUSES
    from valhalla_cli.services.contact_facts import check_lead, load_leads

    lead_key = check_lead(lead_id)
    lead = load_leads(session, [lead_key]).get(lead_key)
    if lead is None:
        raise NotFound(f"no lead {lead_key!r} (valhalla lead add {lead_key} --province ...)")
    sms_steps = [s.step for s in steps if s.channel == "SMS"]
    channel_of = {s.step: s.channel for s in steps}
    if step is not None and step not in channel_of:
        raise BadInput(f"--step {step}: the ladder has steps 1 to {len(steps)}")
    if step is not None and channel_of[step] != "SMS":
        raise BadInput(f"--step {step} is a {channel_of[step]} step: only SMS steps have a "
                       f"text (SMS steps: {', '.join(map(str, sms_steps))})")
    tasks = list(session.scalars(select(FollowupTask).where(
        col(FollowupTask.lead_id) == lead_key,
        col(FollowupTask.status).in_(ACTIVE_STATUSES)).order_by(col(FollowupTask.step))))
    if step is None:
        upcoming = [t.step for t in tasks if t.channel == "SMS"]
        if upcoming:
            step = upcoming[0]
        elif sms_steps:
            step = sms_steps[0]
        else:
            raise Refused("the ladder has no SMS step: nothing is ever texted", "no_sms_step")
    identification = identification_of(settings)
    if identification is None:
        raise ConfigError(f"[business] name and callback are not configured, so no text can be "
                          f"sent: set them in {settings.config_path}")
    task = next((t for t in tasks if t.step == step), tasks[0] if tasks else None)
    market = task.market if task is not None else lead.market
    province = task.province if task is not None else lead.province
    templates = TemplateSet(session)
    text = templates.render(step, lead.language, name=lead.name, market=market,
                            province=province, identification=identification)
    if text is None:
        raise Refused(f"no SMS template in {lead.language} for step {step}, so its texts are "
                      f"held: valhalla template set --language {lead.language} --text '...'",
                      "no_template")
    used = "default" if (step, lead.language) not in templates.texts else str(step)
    return Preview(lead_key, step, used, lead.language, lead.phone,
                   place_name(market, province, lead.language), text)


def runbook_check(session: Session, settings: Any, at: datetime) -> CheckResult:
    """Warn while `[business] name` or `callback` is missing (SMS tasks are held meanwhile);
    fail when a language in use has no template."""
    from valhalla_cli.models import Lead
    from valhalla_cli.services.checks import FAIL, OK, WARN, CheckResult
    from valhalla_cli.services.contact_facts import LANGUAGES
    from valhalla_cli.services.dncl import held_counts

    templates = TemplateSet(session)
    # Only a language without a default template is looked for among the leads (and a lead
    # using it stops the scan at once): the registry is not read when every language has one.
    missing = [lang for lang in LANGUAGES if (0, lang) not in templates.texts
               and session.scalar(select(exists().where(col(Lead.language) == lang)))]
    if missing:
        return CheckResult(FAIL, f"no default SMS template for language(s) "
                           f"{', '.join(missing)} in use by leads",
                           f"valhalla template set --language {missing[0]} --text '...'")
    if identification_of(settings) is None:
        held = held_counts(session, at=at).get(Reason.NO_IDENTIFICATION, 0)
        lacking = [k for k, v in (("name", settings.business_name),
                                  ("callback", settings.business_callback)) if not v]
        path = settings.config_path
        fix = (f"set [business] name and callback in {path}" if path.exists() else
               f"valhalla init (writes {path}), then set [business] name and callback in it")
        return CheckResult(WARN,
                           f"[business] {' and '.join(lacking)} not configured: SMS tasks are "
                           f"held ({Reason.NO_IDENTIFICATION}; {held} held now)", fix)
    return CheckResult(OK, f"texts identify {settings.business_name} "
                       f"({settings.business_callback}); templates for "
                       f"{', '.join(sorted({lang for _, lang in templates.texts}))}")
