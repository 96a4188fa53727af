"""The tables, one module per pack. Importing this package loads none of them: `from
valhalla_cli.models import Lead` loads the module that defines `Lead`, so a command maps only the
tables it uses (SQLAlchemy configures the mappers a process has loaded, and no table here
relates to another pack's). `load_all` loads every table, for Alembic and the schema checks.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import MetaData

    from valhalla_cli.models.api import ApiToken, SmsWebhookReceipt
    from valhalla_cli.models.audit import AuditEvent
    from valhalla_cli.models.desk import Call, CallEvent
    from valhalla_cli.models.golive import GoLiveChecklistItem, GoLiveState
    from valhalla_cli.models.heimdall import (
        HeimdallPolicy,
        HeimdallRecommendation,
        HeimdallScorecard,
    )
    from valhalla_cli.models.importing import ImportBatch
    from valhalla_cli.models.inbox import InboxItem, WrongNumber
    from valhalla_cli.models.kpi import KpiEvent
    from valhalla_cli.models.ladder import FollowupTask
    from valhalla_cli.models.lead import (
        DnclArea,
        DnclNumber,
        InboundMessage,
        Lead,
        LeadConsent,
        LeadImportConsent,
        LeadImportLead,
        MessageTemplate,
    )
    from valhalla_cli.models.liquidity import BuyerFeedbackEvent, BuyerLiquidityNode
    from valhalla_cli.models.market import ContactSuppression, MarketPolicy
    from valhalla_cli.models.offer import OfferEvidence, OfferFunnel, OfferOutcome, OfferPolicy
    from valhalla_cli.models.regression import RegressionPolicy
    from valhalla_cli.models.regression_state import RegressionState
    from valhalla_cli.models.risk import RiskEvent, RiskLedger, RiskPolicy, RiskReservation
    from valhalla_cli.models.sending import MessageEvent, OutboundMessage, PhoneStatus

# Where each table's model is defined (the module under valhalla_cli.models).
HOMES: dict[str, str] = {
    "ApiToken": "api",
    "AuditEvent": "audit",
    "BuyerFeedbackEvent": "liquidity",
    "BuyerLiquidityNode": "liquidity",
    "Call": "desk",
    "CallEvent": "desk",
    "ContactSuppression": "market",
    "DnclArea": "lead",
    "DnclNumber": "lead",
    "FollowupTask": "ladder",
    "GoLiveChecklistItem": "golive",
    "GoLiveState": "golive",
    "HeimdallPolicy": "heimdall",
    "HeimdallRecommendation": "heimdall",
    "HeimdallScorecard": "heimdall",
    "ImportBatch": "importing",
    "InboundMessage": "lead",
    "InboxItem": "inbox",
    "KpiEvent": "kpi",
    "Lead": "lead",
    "LeadConsent": "lead",
    "LeadImportConsent": "lead",
    "LeadImportLead": "lead",
    "MarketPolicy": "market",
    "MessageEvent": "sending",
    "MessageTemplate": "lead",
    "OfferEvidence": "offer",
    "OfferFunnel": "offer",
    "OfferOutcome": "offer",
    "OfferPolicy": "offer",
    "OutboundMessage": "sending",
    "PhoneStatus": "sending",
    "RegressionPolicy": "regression",
    "RegressionState": "regression_state",
    "RiskEvent": "risk",
    "RiskLedger": "risk",
    "RiskPolicy": "risk",
    "RiskReservation": "risk",
    "SmsWebhookReceipt": "api",
    "WrongNumber": "inbox",
}

__all__ = [
    "ApiToken",
    "AuditEvent",
    "BuyerFeedbackEvent",
    "BuyerLiquidityNode",
    "Call",
    "CallEvent",
    "ContactSuppression",
    "DnclArea",
    "DnclNumber",
    "FollowupTask",
    "GoLiveChecklistItem",
    "GoLiveState",
    "HeimdallPolicy",
    "HeimdallRecommendation",
    "HeimdallScorecard",
    "ImportBatch",
    "InboundMessage",
    "InboxItem",
    "KpiEvent",
    "Lead",
    "LeadConsent",
    "LeadImportConsent",
    "LeadImportLead",
    "MarketPolicy",
    "MessageEvent",
    "MessageTemplate",
    "OfferEvidence",
    "OfferFunnel",
    "OfferOutcome",
    "OfferPolicy",
    "OutboundMessage",
    "PhoneStatus",
    "RegressionPolicy",
    "RegressionState",
    "RiskEvent",
    "RiskLedger",
    "RiskPolicy",
    "RiskReservation",
    "SmsWebhookReceipt",
    "WrongNumber",
    "load_all",
]


def __getattr__(name: str) -> Any:
    """A model, loaded with its module on first use."""
    module = HOMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    model = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = model
    return model


def load_all() -> MetaData:
    """Load every table and return the metadata that holds them all."""
    from sqlmodel import SQLModel

    for module in sorted(set(HOMES.values())):
        import_module(f"{__name__}.{module}")
    return SQLModel.metadata
