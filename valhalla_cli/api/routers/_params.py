"""Parameters several endpoints share, named as the CLI options they mirror."""

from typing import Annotated

from fastapi import Path
from pydantic import Field

from valhalla_cli.api.routing import Int, Params, Text

At = Annotated[Text | None, Field(description="Evaluate at this instant (ISO 8601; without an "
                                  "offset it is business local time). Default: now.")]
Reason = Annotated[Text, Field(description="Why (recorded in the audit log).")]
OptionalReason = Annotated[Text | None, Field(description="Why (recorded in the audit log).")]
Province = Annotated[Text, Field(description="Province or territory code, e.g. ON.")]
ProvinceFilter = Annotated[Text | None, Field(description="Only this province.")]
Market = Annotated[Text | None, Field(description="Market name, e.g. TORONTO.")]
Enabled = Annotated[bool | None, Field(description="Enable (true) or disable (false).")]
DryRun = Annotated[bool, Field(description="Show what would change; change nothing.")]
Limit = Annotated[Int, Field(ge=1, description="At most this many.")]
Note = Annotated[Text | None, Field(description="Free text.")]

LeadPath = Annotated[Text, Path(description="The lead id.")]
TaskPath = Annotated[Int, Path(description="The task id.")]


class AtOnly(Params):
    at: At = None


class Nothing(Params):
    """An endpoint without parameters (any name given is bad input)."""
