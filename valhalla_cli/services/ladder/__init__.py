"""The follow-up ladder (SPEC section 9): six tasks per lead, dispatched exactly once.

Exactly-once hand-out: a claim is one atomic conditional write. On SQLite the whole dispatch runs
inside BEGIN IMMEDIATE and claims with one `UPDATE ... WHERE <still claimable> RETURNING`. On
PostgreSQL overlapping runs really run together: candidates are read without locks, the windows
are evaluated, and only then does a run lock (`FOR UPDATE SKIP LOCKED LIMIT want`) exactly the
eligible rows it is about to claim, re-checking that they are still claimable, and claim them by
the same conditional UPDATE. Locking more than it claims would make the other runs skip rows
nobody takes; a run that finds its rows taken keeps reading further until it has its limit or no
claimable task is left. Each claim writes a fresh token; completion with `--claim-token` checks
it, so a worker whose lease expired cannot complete the newer attempt.

Cost grows with the batch, not the table: candidates come from the (status, ready, due_at) index,
`ready` is set only when the previous step finishes, and a due task outside its window gets its
`due_at` moved to the next opening so it is not examined again before then. Tasks likely to be
sendable are read before the backlog of tasks that are not (no number, no consent on record,
held), each with its own budget, so a backlog never delays a deliverable task
(`dispatching.likely_deliverable`).

The package, one module per responsibility (`from valhalla_cli.services import ladder` re-exports
them all): `config` (the outcomes and the validated `[ladder]` settings), `creation` (creating
ladders, one path for one lead and for a bulk import), `readiness` (a step becomes dispatchable
when the previous one is finished), `dispatching` (claims, leases, re-timing, `due`),
`completion` (complete, stop, show), `corrections` (release a claim, amend an outcome),
`report` (the SLA report, the daily SLA and the open-work counts), `check` (the runbook check)
and `tasks` (the cancellation the market pack triggers).
"""

from valhalla_cli.services.ladder.check import (
    runbook_check,
)
from valhalla_cli.services.ladder.completion import (
    CompleteResult,
    LadderView,
    StopResult,
    TaskView,
    complete,
    show,
    stop,
)
from valhalla_cli.services.ladder.config import (
    CONTINUE_OUTCOMES,
    GROUPS,
    OPT_OUT,
    OUTCOMES,
    PACK,
    RECHECK_BLOCKED,
    STOP_OUTCOMES,
    LadderConfig,
    ladder_config,
)
from valhalla_cli.services.ladder.corrections import (
    AmendResult,
    ReleaseResult,
    amend,
    release,
)
from valhalla_cli.services.ladder.creation import (
    CreateRequest,
    LadderResult,
    TaskBrief,
    create,
    create_many,
)
from valhalla_cli.services.ladder.dispatching import (
    HOLD_FOR,
    HOLD_REASONS,
    Claim,
    DispatchResult,
    DueTask,
    default_worker,
    dispatch,
    dispatch_channel,
    due,
)
from valhalla_cli.services.ladder.report import (
    SLA_TARGET_PCT,
    SlaDay,
    SlaRow,
    TaskCounts,
    sla,
    sla_by_day,
    task_counts,
)
from valhalla_cli.services.ladder.tasks import cancel_active_tasks

__all__ = [
    "CONTINUE_OUTCOMES",
    "GROUPS",
    "HOLD_FOR",
    "HOLD_REASONS",
    "OPT_OUT",
    "OUTCOMES",
    "PACK",
    "RECHECK_BLOCKED",
    "SLA_TARGET_PCT",
    "STOP_OUTCOMES",
    "AmendResult",
    "Claim",
    "CompleteResult",
    "CreateRequest",
    "DispatchResult",
    "DueTask",
    "LadderConfig",
    "LadderResult",
    "LadderView",
    "ReleaseResult",
    "SlaDay",
    "SlaRow",
    "StopResult",
    "TaskBrief",
    "TaskCounts",
    "TaskView",
    "amend",
    "cancel_active_tasks",
    "complete",
    "create",
    "create_many",
    "default_worker",
    "dispatch",
    "dispatch_channel",
    "due",
    "ladder_config",
    "release",
    "runbook_check",
    "show",
    "sla",
    "sla_by_day",
    "stop",
    "task_counts",
]
