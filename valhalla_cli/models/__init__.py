"""Every table, imported in one place so mappers and Alembic see the whole metadata."""

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
from valhalla_cli.models.offer import OfferEvidence, OfferOutcome, OfferPolicy
from valhalla_cli.models.regression import RegressionPolicy
from valhalla_cli.models.regression_state import RegressionState
from valhalla_cli.models.risk import RiskEvent, RiskLedger, RiskPolicy, RiskReservation
from valhalla_cli.models.sending import MessageEvent, OutboundMessage, PhoneStatus

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
]
