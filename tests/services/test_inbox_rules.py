"""The inbox's pure rules: the phrase classifier, keywords, business days and the refusal clock."""

import unicodedata
from datetime import UTC, date, datetime

import pytest

from valhalla_cli.services.inbox_rules import (
    REFUSAL_PHRASES_EN,
    REFUSAL_PHRASES_FR,
    WRONG_NUMBER_PHRASES_EN,
    WRONG_NUMBER_PHRASES_FR,
    business_day,
    classify,
    first_word,
    help_language,
    is_start,
    more_severe,
    refusal_clock,
    refusal_deadline,
)


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))


def _forms(phrase: str) -> list[str]:
    """The phrase as sent: in a sentence, shouted, without accents, curly apostrophe, hyphen as
    space, with punctuation around."""
    return [phrase, f"Hi, {phrase} please.", phrase.upper(), _plain(phrase),
            f"{_plain(phrase).upper()}!!", phrase.replace("'", "\u2019"),
            phrase.replace("-", " "), f"ok... {phrase}?"]


REFUSALS = [*REFUSAL_PHRASES_EN, *REFUSAL_PHRASES_FR]
WRONGS = [*WRONG_NUMBER_PHRASES_EN, *WRONG_NUMBER_PHRASES_FR]


@pytest.mark.parametrize("phrase", REFUSALS)
def test_every_refusal_phrase_in_every_form_is_a_refusal(phrase: str) -> None:
    for text in _forms(phrase):
        assert classify(text) == "refusal", text


@pytest.mark.parametrize("phrase", WRONGS)
def test_every_wrong_number_phrase_in_every_form_is_wrong_number(phrase: str) -> None:
    for text in _forms(phrase):
        assert classify(text) == "wrong_number", text


def test_the_spec_lists_are_all_there() -> None:
    assert set(REFUSAL_PHRASES_EN) == {
        "stop texting", "stop calling", "remove me", "take me off", "do not contact",
        "don't contact", "do not text", "don't text", "do not call", "don't call",
        "leave me alone", "not interested", "no thanks"}
    assert {"pas intéressé", "pas interesse", "ne m'appelez plus", "ne me contactez plus",
            "ne me textez plus", "retirez-moi", "laissez-moi tranquille", "non merci",
            "pas intéressée"} <= set(REFUSAL_PHRASES_FR)
    assert set(WRONGS) == {"wrong number", "wrong person", "mauvais numéro",
                           "pas la bonne personne"}


@pytest.mark.parametrize("text", [
    "don't stop", "Don’t stop, I'm thinking", "I'm interested", "Interested, call me",
    "Yes what's your offer?", "stopping by tomorrow", "removeme", "nothanks to you",
    "Je suis intéressée", "c'est le bon numéro", "Retirez le panneau", "thanks!",
    "Please don't stop texting me, I'll answer tonight", "wrongnumber",
])
def test_near_misses_stay_replies(text: str) -> None:
    assert classify(text) == "reply"


@pytest.mark.parametrize(("text", "kind"), [
    ("Wrong number, and STOP TEXTING", "refusal"),
    ("Mauvais numéro. Laissez-moi tranquille!", "refusal"),
    ("Pas intéressée", "refusal"),
    ("RETIREZ MOI", "refusal"),
    ("I'm not interested.", "refusal"),
    ("You have the wrong-number", "wrong_number"),
])
def test_mixed_and_feminine_forms(text: str, kind: str) -> None:
    assert classify(text) == kind


def test_severity_is_kept() -> None:
    assert more_severe("reply", "refusal") == "refusal"
    assert more_severe("refusal", "reply") == "refusal"
    assert more_severe("wrong_number", "reply") == "wrong_number"
    assert more_severe("refusal", "wrong_number") == "refusal"


def test_keywords_are_the_first_word_with_punctuation_ignored() -> None:
    assert first_word("STOP.") == "STOP"
    assert is_start("start") and is_start("Unstop!") and not is_start("please start")
    assert help_language("HELP") == "en" and help_language("info?") == "en"
    assert help_language("Aide") == "fr" and help_language("helping") is None


def test_business_days_skip_weekends_and_the_provinces_holidays() -> None:
    # Friday 2027-02-12; Monday 2027-02-15 is Family Day in Ontario, not in Quebec.
    assert business_day("ON", date(2027, 2, 12), 1) == date(2027, 2, 16)
    assert business_day("QC", date(2027, 2, 12), 1) == date(2027, 2, 15)
    assert business_day("ON", date(2027, 2, 12), 10) == date(2027, 3, 1)
    assert business_day("QC", date(2027, 2, 12), 10) == date(2027, 2, 26)


def test_refusal_deadline_is_the_end_of_b10_skipping_a_statutory_holiday() -> None:
    received = datetime(2027, 2, 12, 20, 0, tzinfo=UTC)  # 15:00 Toronto, Friday
    deadline = refusal_deadline("ON", received, "America/Toronto")
    assert deadline == datetime(2027, 3, 2, 5, 0, tzinfo=UTC)  # midnight after Mon 1 March
    assert refusal_deadline("QC", received, "America/Toronto") == datetime(
        2027, 2, 27, 5, 0, tzinfo=UTC)


def test_refusal_clock_warns_from_b2_and_fails_from_b6() -> None:
    received = datetime(2027, 2, 12, 20, 0, tzinfo=UTC)
    zone = "America/Toronto"
    # B(2) is Wed 17 Feb in Ontario (Family Day skipped), B(6) is Tue 23 Feb.
    assert refusal_clock("ON", received, zone, datetime(2027, 2, 17, 4, 59, tzinfo=UTC)) == "ok"
    assert refusal_clock("ON", received, zone, datetime(2027, 2, 17, 5, 0, tzinfo=UTC)) == "warn"
    assert refusal_clock("ON", received, zone,
                         datetime(2027, 2, 23, 4, 59, tzinfo=UTC)) == "warn"
    assert refusal_clock("ON", received, zone, datetime(2027, 2, 23, 5, 0, tzinfo=UTC)) == "fail"
