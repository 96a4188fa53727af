"""IANA time zones from the `tzdata` package, never from the host's zone files.

The host carries older data (2025b here) that still puts Vancouver at UTC-8 in January 2027;
IANA 2026f made British Columbia UTC-7, Alberta and the Northwest Territories UTC-6 and
Manitoba UTC-5 all year. `zoneinfo` searches TZPATH before the package, so the search path is
emptied before any zone is loaded.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta
from functools import lru_cache

from valhalla_cli.errors import BadInput

zoneinfo.reset_tzpath([])
zoneinfo.ZoneInfo.clear_cache()

# Offsets that only IANA 2026f (tzdata >= 2026.6) gives: the runbook's self-test.
SELF_TEST_INSTANT = datetime(2027, 1, 15, 12, 0)
SELF_TEST_EXPECTED = {
    "America/Vancouver": timedelta(hours=-7),
    "America/Winnipeg": timedelta(hours=-5),
}
MIN_TZDATA_VERSION = "2026.6"


@lru_cache(maxsize=256)
def zone(name: str) -> zoneinfo.ZoneInfo:
    """Load an IANA zone from the tzdata package; an unknown name is bad input."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, IsADirectoryError) as exc:
        raise BadInput(f"unknown IANA time zone {name!r}") from exc


def is_valid_zone(name: str) -> bool:
    try:
        zone(name)
    except BadInput:
        return False
    return True


def tzdata_version() -> str | None:
    """The installed tzdata package's version, or None when it is missing."""
    from importlib import metadata

    try:
        return metadata.version("tzdata")
    except metadata.PackageNotFoundError:
        return None


def self_test() -> list[str]:
    """Problems with the zone data in use; empty when it is at least IANA 2026f."""
    problems: list[str] = []
    for name, expected in SELF_TEST_EXPECTED.items():
        try:
            offset = SELF_TEST_INSTANT.replace(tzinfo=zone(name)).utcoffset()
        except BadInput:
            problems.append(f"{name} cannot be loaded")
            continue
        if offset != expected:
            hours = (offset or timedelta()).total_seconds() / 3600
            want = expected.total_seconds() / 3600
            problems.append(f"{name} is UTC{hours:+g} on 2027-01-15, expected UTC{want:+g}")
    return problems
