"""How many SMS segments a text takes: GSM-7 (3GPP TS 23.038) or UCS-2."""

from __future__ import annotations

# The GSM 7-bit default alphabet, in code order (0x1B, the escape to the extension table, is
# left out). Its 0x09 is the capital C with cedilla; 'é' is in the basic set, 'ê' is not.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
# The extension table: each character is the escape plus one septet, so it counts twice.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def segments(text: str) -> int:
    """The number of segments `text` is sent in: GSM-7 septets (extension characters count
    two) 160 in one segment, 153 a segment beyond; otherwise UCS-2 counted in UTF-16 code units
    (an emoji is two), 70 in one, 67 a segment beyond. An empty text is one segment."""
    if is_gsm7(text):
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        single, multi = GSM7_SINGLE, GSM7_MULTI
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi = UCS2_SINGLE, UCS2_MULTI
    if units <= single:
        return 1
    return -(-units // multi)
