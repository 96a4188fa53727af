"""The one line a "no" is said in, on both faces: after `valhalla: ` on the CLI's standard error,
and as the `message` of the HTTP face's 409 (and its `Valhalla-Refusal` header)."""

from __future__ import annotations

from valhalla_cli.output import bounded, visible


def refusal_line(message: str) -> str:
    """The service's sentence on one line, of bounded length, with nothing invisible in it."""
    return bounded(visible(" ".join(str(message).split("\n")).strip()))
