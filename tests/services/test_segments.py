"""SMS segments: GSM-7 (3GPP TS 23.038 basic set and extension table) or UCS-2 code units."""

import pytest

from valhalla_cli.services.sending.segments import GSM7_BASIC, is_gsm7, segments


@pytest.mark.parametrize("text, expected", [
    ("", 1),
    ("a" * 160, 1),
    ("a" * 161, 2),
    ("a" * 306, 2),  # 153 a segment beyond the first
    ("a" * 307, 3),
    ("€" * 80, 1),  # extension characters count twice: 160 septets
    ("€" * 81, 2),
    ("a" * 159 + "[", 2),  # 161 septets
    ("é" * 160, 1),  # é is in the basic set
    ("ê" * 70, 1),  # ê is not: UCS-2, 70 in one segment
    ("ê" * 71, 2),
    ("ê" * 134, 2),  # 67 a segment beyond
    ("ê" * 135, 3),
    ("😀" * 35, 1),  # an emoji is two UTF-16 code units
    ("😀" * 36, 2),
    ("a" * 69 + "😀", 2),  # 71 code units
])
def test_segments(text, expected):
    assert segments(text) == expected


def test_the_basic_set_follows_3gpp_ts_23_038():
    assert len(GSM7_BASIC) == 127  # 128 code points less the escape to the extension table
    assert "Ç" in GSM7_BASIC and "ç" not in GSM7_BASIC  # 0x09 is the capital C cedilla
    assert is_gsm7("Maple: {}[]~^|\\€ STOP") and not is_gsm7("ARRÊT")
    assert all(c in GSM7_BASIC for c in "@£$¥èéùìòØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r")
