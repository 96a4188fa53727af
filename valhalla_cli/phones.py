"""Phone numbers: the one parser (E.164) and the area-code table of recipient zones.

`parse_phone` uses the `phonenumbers` parser only (imported inside the function: the package's
geocoder and carrier data are large and `--help` must stay cheap). Zones come from our own table,
not from `phonenumbers.timezone`, whose Canadian data is wrong for several zones (867-667
Whitehorse maps to Vancouver; Dawson Creek, Creston and Fort Nelson map to Edmonton).

AREA_CODES lists every geographic area code in service in Canada, after the Canadian Numbering
Administrator's list of area codes in service (https://www.cnac.ca, "Area codes"), each with the
province(s) it serves and its zones: the zones seeded for its province(s) (migration 0002),
narrowed to one zone where the whole area code lies in one.
"""

from __future__ import annotations

from valhalla_cli.errors import BadInput

_TORONTO = ("America/Toronto",)
_BC = ("America/Vancouver", "America/Edmonton", "America/Creston", "America/Dawson_Creek",
       "America/Fort_Nelson")
_QC = ("America/Toronto", "America/Blanc-Sablon")
_ON = ("America/Toronto", "America/Winnipeg", "America/Atikokan")
_SK = ("America/Regina", "America/Swift_Current", "America/Edmonton")
_NL = ("America/St_Johns", "America/Goose_Bay")
_NORTH = ("America/Whitehorse", "America/Dawson", "America/Yellowknife", "America/Inuvik",
          "America/Iqaluit", "America/Rankin_Inlet", "America/Resolute", "America/Cambridge_Bay",
          "America/Atikokan")


def _codes(codes: str, provinces: tuple[str, ...], zones: tuple[str, ...]
           ) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    return {code: (provinces, zones) for code in codes.split()}


# area code -> (provinces, zones)
AREA_CODES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # Alberta: one zone province-wide (Lloydminster keeps Alberta time).
    **_codes("403 587 780 825 368", ("AB",), ("America/Edmonton",)),
    # British Columbia: 604 is the Lower Mainland only; 250 and the province-wide overlays
    # reach the Peace (Dawson Creek, Fort Nelson), Creston and the East Kootenay.
    **_codes("604", ("BC",), ("America/Vancouver",)),
    **_codes("250 778 236 672 257", ("BC",), _BC),
    **_codes("204 431 584", ("MB",), ("America/Winnipeg",)),
    **_codes("506 428", ("NB",), ("America/Moncton",)),
    **_codes("709 879", ("NL",), _NL),  # Newfoundland and Labrador (Goose Bay)
    **_codes("902 782", ("NS", "PE"), ("America/Halifax",)),
    # Ontario: everything but 807 is Eastern time; 807 (north-west) spans Eastern, Central and
    # Atikokan's year-round EST.
    **_codes("416 647 437 942 905 289 365 742 519 226 548 382 613 343 753 705 249 683",
             ("ON",), _TORONTO),
    **_codes("807", ("ON",), _ON),
    # Quebec: Blanc-Sablon (Atlantic time) is in the 418 region; the others are Eastern.
    **_codes("514 438 263 450 579 354 819 873 468", ("QC",), _TORONTO),
    **_codes("418 581 367 273", ("QC",), _QC),
    **_codes("306 639 474", ("SK",), _SK),
    **_codes("867", ("YT", "NT", "NU"), _NORTH),
}


def parse_phone(value: object, *, option: str = "--phone") -> str:
    """A valid Canadian number in any common writing -> E.164 (`(416) 555-0199` ->
    `+14165550199`); anything else is bad input."""
    from phonenumbers.phonenumberutil import (
        NumberParseException,
        PhoneNumberFormat,
        format_number,
        is_valid_number_for_region,
        parse,
    )

    text = str(value if value is not None else "").strip()
    if not text or len(text) > 40 or "\x00" in text:
        raise BadInput(f"{option}: {text[:40]!r} is not a phone number of Canada")
    # Whole numbers take ASCII digits only, as everywhere: `phonenumbers` would read
    # Arabic-Indic or full-width digits as the number they resemble.
    if any(char.isdigit() and not "0" <= char <= "9" for char in text):
        raise BadInput(f"{option}: {text!r} is not a phone number of Canada (write its digits "
                       "as 0-9)")
    try:
        number = parse(text, "CA")
    except NumberParseException:
        raise BadInput(f"{option}: {text!r} is not a phone number of Canada") from None
    if not is_valid_number_for_region(number, "CA"):
        raise BadInput(f"{option}: {text!r} is not a valid phone number of Canada")
    return format_number(number, PhoneNumberFormat.E164)


def area_code(phone: str) -> str:
    """The area code of an E.164 Canadian number (+14165550199 -> 416)."""
    return phone[2:5]


def area_code_zones(phone: str | None) -> tuple[str, ...]:
    """The zones of a number's area code; a non-geographic number (toll-free, 600) adds none."""
    if not phone:
        return ()
    entry = AREA_CODES.get(area_code(phone))
    return entry[1] if entry else ()


def ten_digits(phone: str) -> int:
    """The ten digits of an E.164 Canadian number as the DNCL stores them (a BIGINT key)."""
    return int(phone[2:])
