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
CONTACT_CHANNELS = ("SMS", "CALL")

# What a worker reports on a follow-up task: the ladder goes on, stops, or stops and the lead
# is suppressed.
LADDER_CONTINUE_OUTCOMES = ("sent", "no_answer", "voicemail")
LADDER_STOP_OUTCOMES = ("contacted", "appointment", "not_interested", "wrong_number")
LADDER_OPT_OUT = "opt_out"
LADDER_GROUPS = ("owner", "province", "step")

# The kinds of answer an inbox item holds, most severe first.
INBOX_KINDS = ("refusal", "wrong_number", "reply")

# How a reply in the inbox is closed (`resume` gives the paused ladder back).
INBOX_OUTCOMES = ("resume", "appointment", "contacted", "not_interested", "wrong_number",
                  "opt_out")

OFFER_STAGES = ("sent", "accepted", "countered", "rejected", "contracted", "closed", "withdrawn")
# The stages that carry a price (--amount): a sent, rejected or withdrawn offer has none of its own.
OFFER_PRICED_STAGES = ("countered", "accepted", "contracted", "closed")
OFFER_FUNNEL_GROUPS = ("province", "market", "property_type")

SEND_REPORT_GROUPS = ("sender", "province", "error")

# The call desk's dispositions, in the order of the page's keys 1-7.
DESK_DISPOSITIONS = ("no_answer", "voicemail", "contacted", "appointment", "not_interested",
                     "wrong_number", "do_not_call")

# The levers the regression tripwire throttles, and the statistics it compares.
LEVERS = ("followups", "offers")
STATISTICS = ("mean", "rate")

# The API's token scopes, each allowing more than the one before.
TOKEN_SCOPES = ("read", "operate", "admin")


def words(items: Iterable[str], last: str = "or") -> str:
    """`a, b or c`: an enumeration as a sentence says it."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"
