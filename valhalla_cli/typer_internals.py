"""The only module that touches Typer's private API, and why (typer is pinned to the minor
release tested, `typer>=0.29,<0.30` in pyproject.toml).

- Typer 0.29 vendors Click as `typer._click` and exports neither `UsageError` nor
  `NoArgsIsHelpError`: the error boundary (`app.run_guarded`) must catch them to print one line
  and exit 2 (a usage error), or print the help and exit 0 for a bare group.
- Typer coerces every option through a Pydantic TypeAdapter (`typer._coercion`); for the root
  and group options, which run on every `--help` and every Tab of completion, a pass-through
  keeps Pydantic out of start-up (`--help` must stay fast). There is no public hook for it.
- `get_current_context` (not exported either): the app's check that no option or argument is
  given empty (`app._refuse_blank_values`) reads each parameter's source from the context.
- Typer's Pydantic coercion of `int` options is lax (`1_000`, `10.0` and `+1` pass): every
  integer option and argument is read by `inputs.parse_int` instead (ASCII digits only, like
  money), with the `min`/`max` the option declares.

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
           "skip_pydantic_for_group_options", "whole_numbers_in_ascii_digits"]


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


class _WholeNumber(RuntimeParam):
    """Coerce an integer option or argument through the one whole-number parser."""

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # the declared default
        from valhalla_cli.inputs import BIGINT_MAX, BIGINT_MIN, parse_int

        info = self.parameter_info
        opts = [o for o in getattr(param, "opts", []) if o.startswith("-")]
        label = opts[0] if opts else (param.metavar or param.name or "value").upper()
        minimum = BIGINT_MIN if info.min is None else int(info.min)
        maximum = BIGINT_MAX if info.max is None else int(info.max)
        return parse_int(str(value), field=label, minimum=minimum, maximum=maximum)


def whole_numbers_in_ascii_digits(group: Any) -> None:
    """Every command's `int` options and arguments read by `inputs.parse_int`: `1_000`,
    `10.0`, exponents and other scripts' digits are bad input (Pydantic's lax mode takes the
    first two), as for money."""
    for param in group.params:
        descriptor = getattr(param, "type_descriptor", None)
        if (descriptor is not None and descriptor.annotation is int
                and not isinstance(param._runtime_param, _WholeNumber)):
            param._runtime_param = _WholeNumber(parameter_info=descriptor.parameter_info,
                                                annotation=int)
    for sub in getattr(group, "commands", {}).values():
        whole_numbers_in_ascii_digits(sub)
