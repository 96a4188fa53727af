"""The only module that touches Typer's private API, and why (typer is pinned to the minor
release tested, `typer>=0.29,<0.30` in pyproject.toml).

- Typer 0.29 vendors Click as `typer._click` and exports neither `UsageError` nor
  `NoArgsIsHelpError`: the error boundary (`app.run_guarded`) must catch them to print one line
  and exit 2 (SPEC 5), or print the help and exit 0 for a bare group.
- Typer coerces every option through a Pydantic TypeAdapter (`typer._coercion`); for the root
  and group options, which run on every `--help` and every Tab of completion, a pass-through
  keeps Pydantic out of start-up (SPEC 15: `--help` latency). There is no public hook for it.
- `get_current_context` (not exported either): the app's check that no option or argument is
  given empty (`app._refuse_blank_values`) reads each parameter's source from the context.

When Typer is upgraded, `tests/test_app.py` (one-line usage errors, help latency, nothing heavy
imported) tells whether these still hold.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer._click.globals import get_current_context
from typer._coercion import RuntimeParam

__all__ = ["NoArgsIsHelpError", "UsageError", "get_current_context",
           "skip_pydantic_for_group_options"]


class _PassThrough(RuntimeParam):
    """Coerce a text or flag option by returning it as given."""

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        return value if value is None else self.annotation(value)


def skip_pydantic_for_group_options(group: Any, help_names: list[str]) -> None:
    """Typer coerces every option through a Pydantic TypeAdapter, built lazily on first use.

    The options of the root and of each group (their --help included) are processed on every
    invocation, on `--help` of a sub-command and on every Tab of shell completion; importing
    Pydantic for them would cost more than the rest of the start-up. They are plain text and
    flags, so they get a pass-through coercion. Leaf commands keep Typer's own coercion.
    """
    for param in group.params:
        _pass_through(param)
    help_option = group.get_help_option(SimpleNamespace(help_option_names=help_names))
    if help_option is not None:
        _pass_through(help_option)
    for sub in getattr(group, "commands", {}).values():
        if getattr(sub, "commands", None) is not None:
            skip_pydantic_for_group_options(sub, help_names)


def _pass_through(param: Any) -> Any:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None and descriptor.annotation in (str, bool):
        param._runtime_param = _PassThrough(parameter_info=descriptor.parameter_info,
                                            annotation=descriptor.annotation)
    return param
