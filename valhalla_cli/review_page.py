"""The Monday review as one self-contained HTML page.

`valhalla status --format html` and `GET /` on `valhalla serve` both render the status overview
(`services.status.overview`) through `render_review`: the page shows the JSON figures of
`valhalla status --json` and computes none of its own; what is worked out here is only geometry
(bar widths, chart coordinates) and display formatting. Styles are inline and charts are inline
SVG, so the page fetches nothing: it can be mailed, opened from a file or printed. Jinja2 renders
it with autoescape on, so every value (an operator's reason, a check's detail) is escaped.

Jinja2 is imported here, and this module only by the renderers that need it, so that `--help`
and the other formats never load it.
"""

from __future__ import annotations

import contextlib
import functools
from decimal import Decimal, InvalidOperation
from typing import Any

from jinja2 import pass_context

# The page's sections, in page order: (element id, heading). The browser test walks these.
SECTIONS = (
    ("golive", "Go-live and the kill switch"),
    ("risk", "Risk today"),
    ("levers", "Throttled levers"),
    ("heimdall", "Heimdall domains"),
    ("sla", "Follow-up SLA, last 7 business days"),
    ("kpi", "KPI events, last 30 days"),
    ("tasks", "Due, overdue and held tasks"),
    ("delivery", "Texts: delivery today and last 7 days"),
    ("inbox", "Inbox: open refusals and their deadlines"),
    ("dncl", "DNCL freshness"),
    ("scorecard", "First-month scorecard"),
    ("runbook", "Runbook checks"),
)

NOT_AVAILABLE = "not available in this version"
PAGE_ROWS = 5  # rows of each worklist on the page (the JSON has the status's 20 and the total)


def _bytecode_cache() -> Any:
    """The compiled templates, kept between processes as Python keeps .pyc files: compiling the
    review page takes about 75 ms of CPU, loading it compiled about 1 ms. Jinja2's own cache, in
    its private per-user directory under the temporary directory (created mode 0700, refused if
    another user owns it), keyed by each template's source, so an edited template is compiled
    again. A cache that cannot be made, read or written is skipped, never an error: the page is
    then compiled in the process, as before."""
    from jinja2 import FileSystemBytecodeCache

    class BestEffortCache(FileSystemBytecodeCache):
        def load_bytecode(self, bucket: Any) -> None:
            try:
                super().load_bytecode(bucket)
            except Exception:  # damaged: pickle and marshal raise many kinds of error
                bucket.reset()  # so this process compiles the template, and rewrites the file

        def dump_bytecode(self, bucket: Any) -> None:
            with contextlib.suppress(OSError):  # a full or read-only disk: compile next time
                super().dump_bytecode(bucket)

    try:
        return BestEffortCache()
    except (OSError, RuntimeError):  # no safe temporary directory
        return None


@functools.cache
def _environment() -> Any:
    """One environment per process: `valhalla serve` compiles the templates once."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("valhalla_cli", "templates"),
        bytecode_cache=_bytecode_cache(),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, pct=pct, rate=rate, instant=instant, yesno=yesno,
                       figure=figure, n=count, age=age)
    env.globals.update(sections=dict(SECTIONS), not_available=NOT_AVAILABLE, page_rows=PAGE_ROWS,
                       bar_width=bar_width, level=level, sla_chart=sla_chart,
                       kpi_bars=kpi_bars, unit_x=unit_x)
    return env


def render_review(data: dict[str, Any], *, signed_in_as: str | None = None) -> str:
    """The page for one status overview, given as its JSON form (`wire.jsonable(view)`).

    `signed_in_as` (the token's name, on the server) adds a sign-out button."""
    template = _environment().get_template("review.html.j2")
    return template.render(s=data, signed_in_as=signed_in_as)


def render_sign_in(*, error: str | None = None, next_page: str = "/") -> str:
    """The signed-out page of `GET /` (or `GET /desk`): the sign-in form and nothing else."""
    return _environment().get_template("sign_in.html.j2").render(error=error,
                                                                  next_page=next_page)


def render_desk(*, nonce: str, form: str, owner: str | None, owner_param: str | None,
                at: str | None, signed_in_as: str, business_timezone: str, voice: bool) -> str:
    """The call desk's page (`GET /desk`): the frame its script fills from `/api/desk*`."""
    return _environment().get_template("desk.html.j2").render(
        nonce=nonce, form=form, owner=owner, owner_param=owner_param, at=at,
        signed_in_as=signed_in_as,
        business_timezone=business_timezone, voice=voice)


def render_refusal(message: str, *, signed_in_as: str) -> str:
    """A signed-in page's refusal (a token without the scope or owner a page needs)."""
    return _environment().get_template("refusal.html.j2").render(
        message=message, signed_in_as=signed_in_as)


# --- formatting -----------------------------------------------------------------------------------

def money(value: Any) -> str:
    """'1234567.50' -> '1,234,567.50' (JSON money strings stay exact: no float on the way)."""
    if value is None:
        return "–"
    try:
        return f"{Decimal(str(value)):,.2f}"
    except InvalidOperation:
        return str(value)


def pct(value: Any, places: int = 1) -> str:
    return "–" if value is None else f"{float(value):.{places}f} %"


def rate(value: Any) -> str:
    return "–" if value is None else f"{float(value):.3f}"


@pass_context
def instant(context: Any, value: Any) -> str:
    """An RFC 3339 instant of the JSON in the page's business time zone, to the second, with
    the zone: '2027-06-15T15:00:00Z' -> '2027-06-15 11:00:00 Toronto' (as the CLI's tables)."""
    from valhalla_cli.output import local_text

    data = context.get("s")
    zone = data.get("business_timezone") if isinstance(data, dict) else None
    return local_text(value, zone)


def age(minutes: Any) -> str:
    """'45 min', '3 h 05 min', '2 d 4 h' (as `valhalla status` on a terminal)."""
    from valhalla_cli.output import age_text

    return age_text(None if minutes is None else int(minutes))


def count(value: Any) -> str:
    """A count with thousands separators: 47487 -> '47,487'."""
    return "–" if value is None else f"{int(value):,}"


def figure(value: Any) -> str:
    """A plain number as the JSON has it: integers whole, fractions to at most 4 places."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return f"{value:.4f}".rstrip("0")


def yesno(value: Any) -> str:
    return "–" if value is None else ("yes" if value else "no")


# --- geometry -----------------------------------------------------------------------------------

def bar_width(utilization_pct: Any, full: float = 100.0) -> float:
    """Share of a bar (0..full) for a utilisation percentage; a breach fills the bar."""
    if utilization_pct is None:
        return 0.0
    return round(max(0.0, min(100.0, float(utilization_pct))) * full / 100.0, 2)


def level(utilization_pct: Any, breached: bool = False) -> str:
    """A CSS class for a headroom bar: how close the engine is to its cap."""
    if breached:
        return "fail"
    if utilization_pct is None:
        return "none"
    value = float(utilization_pct)
    return "fail" if value >= 90 else "warn" if value >= 70 else "ok"


def unit_x(value: Any, width: float) -> float:
    """x of a 0..1 figure on a scale `width` wide."""
    return round(max(0.0, min(1.0, float(value or 0.0))) * width, 2)


def sla_chart(days: list[dict[str, Any]], target_pct: float) -> dict[str, Any]:
    """Coordinates of the daily SLA chart: a bar per business date, 0..100 % up the y axis."""
    left, top, width, height = 36.0, 14.0, 300.0, 140.0
    slot = width / max(1, len(days))
    bar = min(34.0, slot * 0.6)

    def y(value: float) -> float:
        return round(top + height * (1 - value / 100.0), 2)

    bars = []
    for i, day in enumerate(days):
        x = round(left + slot * i + (slot - bar) / 2, 2)
        value = day["within_2h_pct"]
        bars.append({
            "x": x, "w": round(bar, 2), "cx": round(x + bar / 2, 2),
            "y": y(value) if value is not None else None,
            "h": round(height * value / 100.0, 2) if value is not None else None,
            "day": day, "label": day["day"][5:],
            "cls": "none" if value is None else ("ok" if day["meets_target"] else "fail"),
        })
    return {"bars": bars, "left": left, "right": left + width, "top": top,
            "bottom": top + height, "target_y": y(target_pct),
            "grid": [(v, y(v)) for v in (0, 50, 100)]}


def kpi_bars(days: list[dict[str, Any]], width: float = 300.0, height: float = 48.0
             ) -> list[dict[str, Any]]:
    """One bar per day of a metric's 30 days, scaled to its busiest day."""
    top = max((d["count"] for d in days), default=0)
    slot = width / max(1, len(days))
    bars = []
    for i, day in enumerate(days):
        h = round(height * day["count"] / top, 2) if top else 0.0
        bars.append({"x": round(slot * i + slot * 0.1, 2), "w": round(slot * 0.8, 2),
                     "y": round(height - h, 2), "h": h, "day": day})
    return bars
