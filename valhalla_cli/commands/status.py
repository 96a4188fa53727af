"""`valhalla status`: the one-screen overview for the Monday review."""


from typing import Any

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    JsonOpt,
    ReportFormatOpt,
    at_instant,
    database,
    emit,
    fmt_of,
    refuse,
    settings,
    warn,
)

ENGINE_COLUMNS = ("engine", "cap", "exposure", "headroom", "utilization_pct", "enabled")
LEVER_COLUMNS = ("lever", "throttled", "since", "metric", "drop_pct", "reason")
DOMAIN_COLUMNS = ("domain", "mode", "enabled", "samples", "success_rate", "wilson_lower",
                  "eligible")
SLA_COLUMNS = ("since", "until", "completed", "within_30m_pct", "within_2h_pct",
               "median_response_minutes", "p90_response_minutes", "target_within_2h_pct",
               "meets_target")
TASK_COLUMNS = ("due", "ready", "overdue", "claimed", "held_dncl_not_checked",
                "held_no_identification")
CHECK_COLUMNS = ("name", "status", "detail", "fix")
# In tsv, a list of objects is keyed by the field that names its items.
_ITEM_KEYS = ("engine", "lever", "domain", "name")


def status_command(ctx: typer.Context, fmt: ReportFormatOpt = None, as_json: JsonOpt = False,
                   at: AtOpt = None) -> None:
    """One-screen overview: go-live, risk today, levers, heimdall, SLA, tasks, runbook.

    Exit 0 when the runbook is OK to enable go-live, 1 when it is not (the whole overview is
    printed first, with "reason": "runbook_not_ok"). A throttled lever, a breached cap and an
    engaged kill switch all fail the runbook, so cron mail catches them. --format tsv prints one
    "key<TAB>value" line per figure, with dotted keys such as risk.engines.GLOBAL.headroom,
    levers.offers.throttled, tasks.overdue or runbook.checks.risk.status.

    \b
    Example:
      valhalla status
      valhalla status --at 2027-01-18T09:00 --format markdown > monday.md
    """
    from valhalla_cli.services import status

    output = fmt_of(fmt, as_json, markdown=True)
    cfg = settings(ctx)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction() as session:
        view = status.overview(session, cfg, when)
    if not view.golive.enforce:
        warn(ctx, "go-live enforcement is off (development only)")
    if output == "table":
        _table(view)
    elif output == "markdown":
        _markdown(view)
    elif output == "tsv":
        _tsv(view)
    else:
        emit(view, output)
    if not view.ok:
        refuse("not OK to enable go-live: failing checks: " + ", ".join(view.runbook.failing)
               + " (see `valhalla runbook status`)")


# --- tsv ----------------------------------------------------------------------------------------

def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted key/value pairs; lists of objects are keyed by their name field (engine, lever...)."""
    if isinstance(value, dict):
        pairs: list[tuple[str, Any]] = []
        for key, item in value.items():
            pairs += flatten(item, f"{prefix}.{key}" if prefix else str(key))
        return pairs
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        pairs = []
        for index, item in enumerate(value):
            name = next((str(item[k]) for k in _ITEM_KEYS if k in item), str(index))
            rest = {k: v for k, v in item.items() if k not in _ITEM_KEYS}
            pairs += flatten(rest, f"{prefix}.{name}")
        return pairs
    return [(prefix, value)]


def _tsv(view: Any) -> None:
    from valhalla_cli.output import _cell, jsonable

    lines = ["key\tvalue"] + [f"{key}\t{_cell(value).replace(chr(9), ' ')}"
                              for key, value in flatten(jsonable(view))]
    typer.echo("\n".join(lines))


# --- markdown -----------------------------------------------------------------------------------

def _markdown(view: Any) -> None:
    from valhalla_cli.output import jsonable, markdown_table

    data = jsonable(view)
    verdict = "OK to enable go-live" if view.ok else "NOT OK to enable go-live"
    g = data["golive"]
    parts = [
        f"# Valhalla status: {verdict}\n\nGenerated {data['generated_at']}; business date "
        f"{data['business_date']} ({data['business_timezone']}).\n",
        "## Go-live\n\n" + markdown_table([{**g, "last_change": _change(view.golive)}],
                                          ("live", "enabled", "kill_switch", "enforce",
                                           "reason", "last_change")),
        f"## Risk today ({data['risk']['day']})\n\n"
        + markdown_table(data["risk"]["engines"], ENGINE_COLUMNS)
        + _breaches_line(data["risk"]["breaches"]),
        "## Regression levers\n\n" + markdown_table(data["levers"], LEVER_COLUMNS),
        "## Heimdall\n\n" + markdown_table(data["heimdall"], DOMAIN_COLUMNS),
        f"## Follow-up SLA, last {_sla_days()} days\n\n"
        + (markdown_table([data["sla"]], SLA_COLUMNS) if data["sla"] else _NO_LADDER),
        "## Follow-up tasks\n\n"
        + (markdown_table([data["tasks"]], TASK_COLUMNS) if data["tasks"] else _NO_LADDER),
        "## Runbook\n\n" + markdown_table(
            [{**c, "fix": f"`{c['fix']}`" if c["fix"] else ""} for c in data["runbook"]["checks"]],
            CHECK_COLUMNS),
    ]
    typer.echo("\n".join(parts), nl=False)


_NO_LADDER = "not available: the [ladder] configuration is invalid (see the runbook)\n"


def _sla_days() -> int:
    from valhalla_cli.services.status import SLA_DAYS

    return SLA_DAYS


def _breaches_line(breaches: list[dict]) -> str:
    if not breaches:
        return ""
    return "\n**Breached:** " + ", ".join(f"{b['engine']} over by {b['over']}"
                                          for b in breaches) + "\n"


def _change(golive: Any) -> str:
    change = golive.last_change
    if change is None:
        return ""
    from valhalla_cli.clock import rfc3339

    by = f" by {change.by}" if change.by else ""
    why = f": {change.reason}" if change.reason else ""
    return f"{change.what}{by} at {rfc3339(change.at)}{why}"


# --- table (a terminal) -------------------------------------------------------------------------

def _table(view: Any) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from valhalla_cli.output import _cell, jsonable

    data = jsonable(view)
    console = Console(highlight=False)

    def section(title: str, rows: list[dict], columns: tuple[str, ...],
                headers: tuple[str, ...] | None = None) -> None:
        table = Table(title=title, title_justify="left", title_style="bold",
                      expand=False)
        for name in headers or columns:
            table.add_column(name, overflow="fold")
        for row in rows:
            table.add_row(*(Text(_cell(row.get(c))) for c in columns))
        console.print(table)

    g = view.golive
    state = "LIVE" if g.live else f"NOT LIVE ({g.reason})"
    verdict = "OK to enable go-live" if view.ok else ("NOT OK to enable go-live: failing "
                                                       + ", ".join(view.runbook.failing))
    warns = f"; warnings: {', '.join(view.runbook.warnings)}" if view.runbook.warnings else ""
    console.print(Text(f"Valhalla status at {data['generated_at']} (business date "
                       f"{data['business_date']}, {data['business_timezone']})", style="bold"))
    console.print(Text(f"Go-live  {state}; enabled {_yn(g.enabled)}, kill switch "
                       f"{'ENGAGED' if g.kill_switch else 'released'}, enforce "
                       f"{_yn(g.enforce)}" + (f"; last: {_change(g)}" if g.last_change else "")))
    console.print(Text(f"Runbook  {verdict}{warns}"))
    throttled = ", ".join(view.throttled_levers) or "none"
    console.print(Text(f"Levers   throttled: {throttled}"))
    console.print()
    section(f"Risk today {data['risk']['day']}", data["risk"]["engines"], ENGINE_COLUMNS,
            ("engine", "cap", "exposure", "headroom", "used %", "enabled"))
    if data["risk"]["breaches"]:
        console.print(Text(_breaches_line(data["risk"]["breaches"]).strip().replace("**", "")))
    throttled_rows = [lv for lv in data["levers"] if lv["throttled"]]
    if throttled_rows:
        section("Throttled levers", throttled_rows, LEVER_COLUMNS)
    section("Heimdall", data["heimdall"], DOMAIN_COLUMNS,
            ("domain", "mode", "enabled", "samples", "success", "wilson", "eligible"))
    if data["sla"] is not None and data["tasks"] is not None:
        s, t = data["sla"], data["tasks"]
        section(f"Follow-ups: SLA {s['since']} to {s['until']}, tasks now",
                [{**s, **t}],
                ("completed", "within_30m_pct", "within_2h_pct", "median_response_minutes",
                 "p90_response_minutes", "due", "ready", "overdue", "claimed",
                 "held_dncl_not_checked", "held_no_identification"),
                ("done", "≤30m %", "≤2h %", "median min", "p90 min", "due", "ready",
                 "overdue", "claimed", "held: dncl", "held: no id"))
    else:
        console.print(Text("Follow-ups: " + _NO_LADDER.strip()))
    problems = [c for c in data["runbook"]["checks"] if c["status"] != "ok"]
    if problems:
        section("Runbook checks not ok", problems, CHECK_COLUMNS)


def _yn(flag: bool) -> str:
    return "yes" if flag else "no"
