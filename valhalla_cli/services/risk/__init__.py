"""Risk guard: daily loss caps per engine and GLOBAL.

Exposure of an engine on a business day = open reservations made that day + losses realized that
day; GLOBAL's exposure is the sum over the engines. The ledger keeps one row per (day, engine),
with a GLOBAL row maintained as the sum of the engine rows.

A reservation is accepted only by atomic conditional UPDATEs of the day's ledger rows (engine row
first, then GLOBAL: one lock order everywhere), so no interleaving of concurrent reservations can
push exposure past a cap on either engine. Ledger rows are always touched in the order
(engine rows before GLOBAL rows, then by day) so two transactions never wait on each other in a
cycle on PostgreSQL; on SQLite every write transaction holds the write lock from BEGIN IMMEDIATE.

`reserve` undoes its own partial work in a savepoint (an engine increment that GLOBAL refuses,
a lost race on the same `--ref`), never the caller's transaction.

The package, one module per responsibility, offers the names each module lists in its
`__all__`: `rules` (engine names, headroom and utilization: pure functions), `views` (the read
models), `ledger` (the helpers over the policy, ledger, reservation and event tables),
`reservations` (reserve, settle, release: the writes that move exposure), `policy` (the caps:
list and set, audited), `reports` (the day's snapshot, its journal, the open reservations and
the scorecard's overages) and `check` (the runbook check).
"""

from valhalla_cli.services.risk.check import *
from valhalla_cli.services.risk.policy import *
from valhalla_cli.services.risk.reports import *
from valhalla_cli.services.risk.reservations import *
from valhalla_cli.services.risk.rules import *
from valhalla_cli.services.risk.views import *
