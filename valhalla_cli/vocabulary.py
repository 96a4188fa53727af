"""The words a rule accepts and a help text lists, each written once.

A leaf that both sides import: the services check their input against these tuples, and the
command modules build their option help from them (a command module must not load a service,
let alone the data layer, to describe its options: `--help` and shell completion stay cheap).
"""

from __future__ import annotations

from collections.abc import Iterable

PROPERTY_TYPES = ("SFR", "CONDO", "TOWNHOUSE", "MULTI", "LAND")
DEFAULT_PROPERTY_TYPE = "SFR"
LANGUAGES = ("en", "fr")
CONSENT_KINDS = ("express", "inquiry", "business")
CONSENT_CHANNELS = ("SMS", "CALL", "all")

# What a worker reports on a follow-up task: the ladder goes on, stops, or stops and the lead
# is suppressed.
LADDER_CONTINUE_OUTCOMES = ("sent", "no_answer", "voicemail")
LADDER_STOP_OUTCOMES = ("contacted", "appointment", "not_interested", "wrong_number")
LADDER_OPT_OUT = "opt_out"
LADDER_GROUPS = ("owner", "province", "step")

# How a reply in the inbox is closed (`resume` gives the paused ladder back).
INBOX_OUTCOMES = ("resume", "appointment", "contacted", "not_interested", "wrong_number",
                  "opt_out")

OFFER_STAGES = ("sent", "accepted", "countered", "rejected", "contracted", "closed", "withdrawn")
OFFER_FUNNEL_GROUPS = ("province", "market", "property_type")

SEND_REPORT_GROUPS = ("sender", "province", "error")


def words(items: Iterable[str], last: str = "or") -> str:
    """`a, b or c`: an enumeration as a sentence says it."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"
