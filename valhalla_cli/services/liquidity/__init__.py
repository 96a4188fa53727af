"""Buyer liquidity: how cash buyers react to the deals sent to them, per market.

Each feedback event is stored in `buyer_feedback_event` and folded, in the same transaction,
into `buyer_liquidity_node`: one row per (province, market, property type) and business date,
upserted atomically (INSERT ... ON CONFLICT DO UPDATE on both engines). A score sums at most 90
node rows, however many events the table holds.

The package, one module per responsibility (`from valhalla_cli.services import liquidity`
re-exports them all): `rules` (the score, its band and the window: pure functions in exact
rational arithmetic), `reads` (a node's score, every node of the window, and the scorecard's
response rate over a period), `feedback` (recording one buyer reaction and folding it into its
node) and `bulk_import` (many reactions from rows the face read, in batches).
"""

from valhalla_cli.services.liquidity.bulk_import import (
    CHUNK,
    IMPORT_NON_TEXT,
    IMPORT_OPTIONAL,
    IMPORT_REQUIRED,
    MAX_REPORTED,
    ImportResult,
    SkippedRow,
    import_rows,
)
from valhalla_cli.services.liquidity.feedback import (
    FeedbackResult,
    NodeKey,
    _check_outcome,
    record_feedback,
)
from valhalla_cli.services.liquidity.reads import (
    LiquidityScore,
    NodeView,
    PeriodResponse,
    nodes,
    period_response,
    score,
)
from valhalla_cli.services.liquidity.rules import (
    COLD,
    HOT,
    MIN_SENT,
    TARGET_CLOSE_RATE,
    TARGET_RESPONSE_RATE,
    UNKNOWN,
    WARM,
    WINDOW_DAYS,
    band_of,
    round_half_up,
    score_of,
    window_of,
)

__all__ = [
    "CHUNK",
    "COLD",
    "HOT",
    "IMPORT_NON_TEXT",
    "IMPORT_OPTIONAL",
    "IMPORT_REQUIRED",
    "MAX_REPORTED",
    "MIN_SENT",
    "TARGET_CLOSE_RATE",
    "TARGET_RESPONSE_RATE",
    "UNKNOWN",
    "WARM",
    "WINDOW_DAYS",
    "FeedbackResult",
    "ImportResult",
    "LiquidityScore",
    "NodeKey",
    "NodeView",
    "PeriodResponse",
    "SkippedRow",
    "_check_outcome",
    "band_of",
    "import_rows",
    "nodes",
    "period_response",
    "record_feedback",
    "round_half_up",
    "score",
    "score_of",
    "window_of",
]
