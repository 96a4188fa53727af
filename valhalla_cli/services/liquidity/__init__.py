"""Buyer liquidity: how cash buyers react to the deals sent to them, per market.

Each feedback event is stored in `buyer_feedback_event` and folded, in the same transaction,
into `buyer_liquidity_node`: one row per (province, market, property type) and business date,
upserted atomically (INSERT ... ON CONFLICT DO UPDATE on both engines). A score sums at most 90
node rows, however many events the table holds.

The package, one module per responsibility, offers the names each module lists in its
`__all__`: `rules` (the score, its band and the window: pure functions in exact
rational arithmetic), `reads` (a node's score, every node of the window, and the scorecard's
response rate over a period), `feedback` (recording one buyer reaction and folding it into its
node) and `bulk_import` (many reactions from rows the face read, in batches).
"""

from valhalla_cli.services.liquidity.bulk_import import *
from valhalla_cli.services.liquidity.feedback import *
from valhalla_cli.services.liquidity.reads import *
from valhalla_cli.services.liquidity.rules import *
