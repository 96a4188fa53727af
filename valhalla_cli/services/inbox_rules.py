"""The inbox's pure rules: what kind of answer a text is, keywords, and the refusal clock.

A refusal in words ("stop texting me", "pas intéressée") is an unsubscribe request under CASL
(honoured within 10 business days) and a do-not-call request under the CRTC's rules, so the
phrase lists below decide which inbox items carry a legal deadline. Matching ignores case and
accents, reads the curly apostrophe as "'" and hyphens as spaces, drops other punctuation, and
looks for each phrase as whole words.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, timedelta

from valhalla_cli.vocabulary import INBOX_KINDS

KINDS = INBOX_KINDS
REFUSAL, WRONG_NUMBER, REPLY = KINDS
SEVERITY = {REPLY: 0, WRONG_NUMBER: 1, REFUSAL: 2}

REFUSAL_PHRASES_EN = (
    "stop texting", "stop calling", "remove me", "take me off", "do not contact",
    "don't contact", "do not text", "don't text", "do not call", "don't call",
    "leave me alone", "not interested", "no thanks",
)
REFUSAL_PHRASES_FR = (
    "pas intéressé", "pas intéressée", "pas interesse", "pas interessee", "ne m'appelez plus",
    "ne me contactez plus", "ne me textez plus", "retirez-moi", "laissez-moi tranquille",
    "non merci",
)
WRONG_NUMBER_PHRASES_EN = ("wrong number", "wrong person")
WRONG_NUMBER_PHRASES_FR = ("mauvais numéro", "pas la bonne personne")

START_WORDS = ("START", "UNSTOP")
HELP_WORDS = {"HELP": "en", "INFO": "en", "AIDE": "fr"}

REFUSAL_BUSINESS_DAYS = 10
WARN_FROM_DAY = 2
FAIL_FROM_DAY = 6


def normalise(text: str) -> str:
    """Lower case, no accents, ’ as ', hyphens as spaces, other punctuation dropped, single
    spaces: the form phrases are compared in."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = re.sub(r"[-\u2010-\u2015]", " ", text)
    text = "".join(c if c.isalnum() or c == "'" or c.isspace() else " " for c in text)
    return " ".join(text.split())


def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    forms = sorted({normalise(p) for p in phrases}, key=len, reverse=True)
    return re.compile(r"(?<![\w'])(?:" + "|".join(re.escape(f) for f in forms) + r")(?![\w'])")


_REFUSAL = _pattern(REFUSAL_PHRASES_EN + REFUSAL_PHRASES_FR)
_WRONG = _pattern(WRONG_NUMBER_PHRASES_EN + WRONG_NUMBER_PHRASES_FR)
# A refusal phrase negated in place ("don't stop calling") is not a refusal.
_NEGATED_STOP = re.compile(r"(?<![\w'])(?:don't|do not|dont) stop(?![\w'])")


def classify(text: str) -> str:
    """`refusal`, `wrong_number` or `reply` (the most severe phrase found wins)."""
    norm = normalise(text)
    if _REFUSAL.search(_NEGATED_STOP.sub("xx", norm)):
        return REFUSAL
    if _WRONG.search(norm):
        return WRONG_NUMBER
    return REPLY


def more_severe(a: str, b: str) -> str:
    return a if SEVERITY[a] >= SEVERITY[b] else b


def first_word(body: str) -> str:
    """The first word without accents or punctuation, upper case (`STOP.` → STOP)."""
    words = body.strip().split()
    if not words:
        return ""
    word = unicodedata.normalize("NFKD", words[0])
    word = "".join(c for c in word if not unicodedata.combining(c)).upper()
    return "".join(c for c in word if c.isalnum())


def is_start(body: str) -> bool:
    return first_word(body) in START_WORDS


def help_language(body: str) -> str | None:
    """The language of a HELP/INFO/AIDE keyword, or None."""
    return HELP_WORDS.get(first_word(body))


# ---------------------------------------------------------------------------------------------
# Business days
# ---------------------------------------------------------------------------------------------

def is_business_day(province: str, day: date) -> bool:
    from valhalla_cli.services.contact_rules import is_holiday

    return day.weekday() < 5 and not is_holiday(province, day)


def business_day(province: str, received: date, n: int) -> date:
    """B(n): the n-th weekday after `received` (not counted) that is not a statutory holiday
    of the province."""
    day, count = received, 0
    while count < n:
        day += timedelta(days=1)
        if is_business_day(province, day):
            count += 1
    return day


def _start_of(day: date, zone: str) -> datetime:
    from datetime import UTC

    from valhalla_cli.tz import zone as get_zone

    return datetime.combine(day, time(0, 0), tzinfo=get_zone(zone)).astimezone(UTC)


def refusal_deadline(province: str, received_at: datetime, zone: str) -> datetime:
    """The end of B(10) in the lead's zone, as a UTC instant (the first instant after it)."""
    from valhalla_cli.tz import zone as get_zone

    received = received_at.astimezone(get_zone(zone)).date()
    return _start_of(business_day(province, received, REFUSAL_BUSINESS_DAYS)
                     + timedelta(days=1), zone)


def refusal_clock(province: str, received_at: datetime, zone: str, at: datetime) -> str:
    """`ok`, `warn` from the start of B(2), `fail` from the start of B(6)."""
    from valhalla_cli.tz import zone as get_zone

    received = received_at.astimezone(get_zone(zone)).date()
    if at >= _start_of(business_day(province, received, FAIL_FROM_DAY), zone):
        return "fail"
    if at >= _start_of(business_day(province, received, WARN_FROM_DAY), zone):
        return "warn"
    return "ok"
