"""The follow-up ladder: six tasks per lead, dispatched exactly once.

Exactly-once hand-out: a claim is one atomic conditional write. On SQLite the whole dispatch runs
inside BEGIN IMMEDIATE and claims with one `UPDATE ... WHERE <still claimable> RETURNING`. On
PostgreSQL overlapping runs really run together: candidates are read without locks, the windows
are evaluated, and only then does a run lock (`FOR UPDATE SKIP LOCKED LIMIT want`) exactly the
eligible rows it is about to claim, re-checking that they are still claimable, and claim them by
the same conditional UPDATE. Locking more than it claims would make the other runs skip rows
nobody takes; a run that finds its rows taken keeps reading further until it has its limit or no
claimable task is left. (Locking as it reads, `LIMIT want` at a time, was measured: a lone claim
of 500 at 5 M tasks took 210-220 ms instead of 160, in more and smaller reads, and four
overlapping runs were no faster.) Each claim writes a fresh token; completion with
`--claim-token` checks it, so a worker whose lease expired cannot complete the newer attempt.

Cost grows with the batch, not the table: candidates come from the (status, ready, due_at) index,
`ready` is set only when the previous step finishes, and a due task outside its window gets its
`due_at` moved to the next opening so it is not examined again before then. Tasks likely to be
sendable are read before the backlog of tasks that are not (no number, no consent on record,
held), each with its own budget, so a backlog never delays a deliverable task
(`dispatching.likely_deliverable`).

The package, one module per responsibility: `config` (the outcomes and the validated `[ladder]`
settings), `creation` (creating ladders, one path for one lead and for a bulk import),
`readiness` (a step becomes dispatchable when the previous one is finished), `dispatching`
(claims, leases, re-timing, `due`), `completion` (complete, stop, show), `corrections` (release
a claim, amend an outcome), `report` (the SLA report, the daily SLA and the open-work counts),
`check` (the runbook check) and `tasks` (the cancellation the market pack triggers). The
package offers their public names (`ladder.dispatch`, `ladder.sla`), each loaded with its
module on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from valhalla_cli.services.ladder.check import *
    from valhalla_cli.services.ladder.completion import *
    from valhalla_cli.services.ladder.config import *
    from valhalla_cli.services.ladder.corrections import *
    from valhalla_cli.services.ladder.creation import *
    from valhalla_cli.services.ladder.dispatching import *
    from valhalla_cli.services.ladder.report import *
    from valhalla_cli.services.ladder.tasks import *

# A name is imported from its module on first use, so a command loads the modules it calls and
# not the whole pack (`ladder dispatch` needs neither the SLA report nor the runbook check). The
# type checker reads the imports above; a test checks that this table offers the same names.
_HOMES: dict[str, str] = {name: module for module, names in {
    "check": ("runbook_check",),
    "completion": ("CompleteResult", "LadderView", "StopResult", "TaskView", "complete", "show",
                   "stop"),
    "config": ("CONTINUE_OUTCOMES", "GROUPS", "KPI_FOLLOWUP_COMPLETED", "KPI_LADDER_CREATED",
               "LadderConfig", "OPT_OUT", "OUTCOMES", "PACK", "RECHECK_BLOCKED", "STOP_OUTCOMES",
               "ladder_config"),
    "corrections": ("AmendResult", "ReleaseResult", "amend", "release"),
    "creation": ("CreateRequest", "LadderResult", "TaskBrief", "create", "create_many"),
    "dispatching": ("Claim", "DispatchResult", "DueTask", "HOLD_FOR", "HOLD_REASONS",
                    "default_worker", "dispatch", "dispatch_channel", "due"),
    "report": ("SLA_TARGET_PCT", "SlaDay", "SlaRow", "TaskCounts", "sla", "sla_by_day",
               "task_counts"),
    "tasks": ("cancel_active_tasks",),
}.items() for name in names}


def __getattr__(name: str) -> Any:
    try:
        home = _HOMES[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
