"""`valhalla status`: the one-screen overview for the Monday review."""


from typing import Any

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    JsonOpt,
    StatusFormatOpt,
    at_instant,
    columns_of,
    database,
    emit,
    fmt_of,
    refuse,
    settings,
    warn,
)

# The columns below select a section's fields for the page (the JSON has them all). A section
# shown whole reads its columns from its dataclass (columns_of) when it is rendered.
ENGINE_COLUMNS = ("engine", "cap", "exposure", "headroom", "utilization_pct", "enabled")
LEVER_COLUMNS = ("lever", "throttled", "since", "metric", "drop_pct", "reason")
DOMAIN_COLUMNS = ("domain", "mode", "enabled", "samples", "success_rate", "wilson_lower",
                  "eligible")
SLA_COLUMNS = ("since", "until", "completed", "within_30m_pct", "within_2h_pct",
               "median_response_minutes", "p90_response_minutes", "target_within_2h_pct",
               "meets_target")
KPI_COLUMNS = ("metric", "count", "mean")
DNCL_COLUMNS = ("area_code", "as_of", "age_days", "numbers", "fresh")
# A task's and a reply's rows gain their `age` in words (from age_minutes) on the page.
WORK_TASK_COLUMNS = ("task_id", "lead_id", "owner", "step", "channel", "due_at", "age",
                     "reason")
WORK_REPLY_COLUMNS = ("message_id", "lead_id", "phone", "received_at", "age", "body")
_TERMINAL_TASK = ("task_id", "lead_id", "owner", "step", "age", "reason")
TERMINAL_WORK_COLUMNS: dict[str, tuple[str, ...]] = {
    "overdue": _TERMINAL_TASK, "stuck": _TERMINAL_TASK, "held": _TERMINAL_TASK,
    "replies": ("lead_id", "phone", "age", "body"),
    "offers": ("evidence_id", "deal_ref", "market", "amount", "age_days")}
# (key, title, columns, command): the worklists of the overview, in the order a person works
# them; None: the offer item's fields, read from its dataclass when rendered.
WORKLISTS: tuple[tuple[str, str, tuple[str, ...] | None, str | None], ...] = (
    ("overdue", "Overdue tasks", WORK_TASK_COLUMNS, "valhalla ladder overdue"),
    ("stuck", "Stuck tasks (claimed past the lease)", WORK_TASK_COLUMNS, None),
    ("held", "Held tasks", WORK_TASK_COLUMNS, None),
    ("replies", "Replies waiting for a person", WORK_REPLY_COLUMNS, None),
    ("offers", "Offers sent, not answered", None, None),
)
# A scorecard metric's figures; comparison, threshold, state and note are in the JSON.
SCORECARD_COLUMNS = ("metric", "value", "target", "met", "detail")


def status_command(ctx: typer.Context, fmt: StatusFormatOpt = None, as_json: JsonOpt = False,
                   at: AtOpt = None) -> None:
    """One-screen overview: go-live, risk, levers, heimdall, SLA, KPIs, tasks, DNCL, scorecard,
    runbook, and the worklists (overdue, stuck and held tasks, replies and offers waiting).

    Exit 0 when the runbook is OK to enable go-live, 1 when it is not (the whole overview is
    printed first, with "reason": "runbook_not_ok"). A throttled lever, a breached cap and an
    engaged kill switch all fail the runbook, so cron mail catches them. --format tsv prints one
    "key<TAB>value" line per figure, with dotted keys such as risk.engines.GLOBAL.headroom,
    levers.offers.throttled, tasks.overdue, dncl.areas.416.fresh or runbook.checks.risk.status.
    --format html writes the review page: one self-contained HTML document (inline styles,
    inline SVG charts, nothing fetched) with the same figures, for a browser, a mail or a
    printer.

    \b
    Example:
      valhalla status
      valhalla status --at 2027-01-18T09:00 --format markdown > monday.md
      valhalla status --at 2027-01-18T09:00 --format html > review.html
    """
    from valhalla_cli.output import STATUS_FORMATS, render_blocks, render_key_values
    from valhalla_cli.services import status

    output = fmt_of(fmt, as_json, formats=STATUS_FORMATS)
    cfg = settings(ctx)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction() as session:
        view = status.overview(session, cfg, when)
    if not view.golive.enforce:
        warn(ctx, "go-live enforcement is off (development only)")
    if output == "table":
        render_blocks(_table(view), output)
    elif output == "markdown":
        render_blocks(_markdown(view), output)
    elif output == "tsv":
        render_key_values(view)
    elif output == "html":
        _html(view)
    else:
        emit(view, output)
    if view.refusal:
        refuse(view.refusal)


def _html(view: Any) -> None:
    """The review page; Jinja2 is imported only here."""
    from valhalla_cli.review_page import render_review
    from valhalla_cli.wire import jsonable

    typer.echo(render_review(jsonable(view)), nl=False)


# --- layouts (rendered by valhalla_cli.output) --------------------------------------------------

def _markdown(view: Any) -> list[Any]:
    from valhalla_cli.output import Grid, Text, displayable
    from valhalla_cli.services import ladder, runbook

    data = displayable(view)
    verdict = "OK to enable go-live" if view.ok else "NOT OK to enable go-live"
    g = data["golive"]
    blocks: list[Any] = [
        Text(f"# Valhalla status: {verdict}\n\nGenerated {data['generated_at']}; business date "
             f"{data['business_date']} ({data['business_timezone']}).\n"),
        Grid("Go-live", [{**g, "last_change": _change(view.golive)}],
             ("live", "enabled", "kill_switch", "enforce", "reason", "last_change")),
        Grid(f"Risk today ({data['risk']['day']})", data["risk"]["engines"], ENGINE_COLUMNS),
    ]
    if data["risk"]["breaches"]:
        blocks.append(Text(_breaches_line(data["risk"]["breaches"]).lstrip("\n")))
    blocks += [
        Grid("Regression levers", data["levers"], LEVER_COLUMNS),
        Grid("Heimdall", data["heimdall"], DOMAIN_COLUMNS),
        Grid(f"Follow-up SLA, last {_sla_days()} days", [data["sla"]], SLA_COLUMNS)
        if data["sla"] else Text(f"## Follow-up SLA, last {_sla_days()} days\n\n" + _NO_LADDER),
        Grid("Follow-up SLA per business day", data["sla_daily"], columns_of(ladder.SlaDay))
        if data["sla_daily"] else Text("## Follow-up SLA per business day\n\n" + _NO_LADDER),
        Grid(f"KPI events, {data['kpi']['since']} to {data['kpi']['until']}",
             data["kpi"]["metrics"], KPI_COLUMNS) if data["kpi"]["metrics"]
        else Text(f"## KPI events, {data['kpi']['since']} to {data['kpi']['until']}\n\n"
                  "no KPI events in the window\n"),
        Grid("Follow-up tasks", [data["tasks"]], columns_of(ladder.TaskCounts))
        if data["tasks"] else Text("## Follow-up tasks\n\n" + _NO_LADDER),
        *_worklist_blocks(data, markdown=True),
    ]
    blocks += _delivery_blocks(data)
    blocks += _inbox_blocks(data)
    d = data["dncl"]
    title = f"National DNCL (fresh for {d['fresh_days']} days)"
    if d["imported"]:
        blocks.append(Grid(title, d["areas"], DNCL_COLUMNS))
        if stale := _stale(d):
            blocks.append(Text(f"**Stale:** {stale}: `{d['fix']}`\n"))
    else:
        blocks.append(Text(f"## {title}\n\n{_NO_DNCL}: `{d['fix']}`\n"))
    blocks.append(_scorecard_grid(view, data))
    if view.scorecard.missed:
        blocks.append(Text(f"**Missed:** {', '.join(view.scorecard.missed)}\n"))
    blocks.append(Grid("Runbook", [{**c, "fix": f"`{c['fix']}`" if c["fix"] else ""}
                                   for c in data["runbook"]["checks"]],
                       columns_of(runbook.CheckLine)))
    return blocks


def _scorecard_grid(view: Any, data: dict, *, missed: bool = False) -> Any:
    from valhalla_cli.output import Grid

    card = data["scorecard"]
    title = f"Scorecard {card['since']} to {card['until']}"
    if missed:
        title += f" (missed: {', '.join(view.scorecard.missed) or 'none'})"
    return Grid(title, card["metrics"], SCORECARD_COLUMNS)


_NO_DNCL = "no list imported yet (calls go only to exempt leads)"


def _stale(dncl: dict) -> str:
    """The stale area codes with their age, e.g. '604 (45 days)' ('' when none is)."""
    return ", ".join(f"{a['area_code']} ({a['age_days']} days)" for a in dncl["areas"]
                     if not a["fresh"])


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
    from valhalla_cli.output import local_time

    by = f" by {change.by}" if change.by else ""
    why = f": {change.reason}" if change.reason else ""
    return f"{change.what}{by} at {local_time(change.at)}{why}"


def _table(view: Any) -> list[Any]:
    """The overview on a terminal."""
    from valhalla_cli.output import Grid, Text, displayable
    from valhalla_cli.services import runbook
    from valhalla_cli.wording import plural

    data = displayable(view)

    def section(title: str, rows: list[dict], columns: tuple[str, ...],
                headers: tuple[str, ...] | None = None) -> Grid:
        return Grid(title, rows, columns, headers=headers, title_style="bold")

    g = view.golive
    state = "LIVE" if g.live else f"NOT LIVE ({g.reason})"
    verdict = "OK to enable go-live" if view.ok else ("NOT OK to enable go-live: failing "
                                                       + ", ".join(view.runbook.failing))
    warns = f"; warnings: {', '.join(view.runbook.warnings)}" if view.runbook.warnings else ""
    blocks: list[Any] = [
        Text(f"Valhalla status at {data['generated_at']} (business date "
             f"{data['business_date']}, {data['business_timezone']})", style="bold"),
        Text(f"Go-live  {state}; enabled {_yn(g.enabled)}, kill switch "
             f"{'ENGAGED' if g.kill_switch else 'released'}, enforce "
             f"{_yn(g.enforce)}" + (f"; last: {_change(g)}" if g.last_change else "")),
        Text(f"Runbook  {verdict}{warns}"),
        Text(f"Levers   throttled: {', '.join(view.throttled_levers) or 'none'}"),
        Text(""),
        section(f"Risk today {data['risk']['day']}", data["risk"]["engines"], ENGINE_COLUMNS,
                ("engine", "cap", "exposure", "headroom", "used %", "enabled")),
    ]
    if data["risk"]["breaches"]:
        blocks.append(Text(_breaches_line(data["risk"]["breaches"]).strip().replace("**", "")))
    throttled_rows = [lv for lv in data["levers"] if lv["throttled"]]
    if throttled_rows:
        blocks.append(section("Throttled levers", throttled_rows, LEVER_COLUMNS))
    blocks.append(section("Heimdall", data["heimdall"], DOMAIN_COLUMNS,
                          ("domain", "mode", "enabled", "samples", "success", "wilson",
                           "eligible")))
    if data["sla"] is not None and data["tasks"] is not None:
        s, t = data["sla"], data["tasks"]
        blocks.append(section(
            f"Follow-ups: SLA {s['since']} to {s['until']}, tasks now", [{**s, **t}],
            ("completed", "within_30m_pct", "within_2h_pct", "median_response_minutes",
             "p90_response_minutes", "due", "ready", "overdue", "claimed",
             "held_dncl_not_checked", "held_no_identification"),
            ("done", "≤30m %", "≤2h %", "median min", "p90 min", "due", "ready", "overdue",
             "claimed", "held: dncl", "held: no id")))
    else:
        blocks.append(Text("Follow-ups: " + _NO_LADDER.strip()))
    blocks += _delivery_blocks(data)
    blocks += _worklist_blocks(data, markdown=False)
    blocks += _inbox_blocks(data)
    d = data["dncl"]
    if not d["imported"]:
        blocks.append(Text(f"DNCL     {_NO_DNCL}; fix: {d['fix']}"))
    else:
        stale = _stale(d)
        blocks.append(section(
            f"DNCL: {plural(len(d['areas']), 'area code')}, "
            + (f"STALE (> {d['fresh_days']} days): {stale}; fix: {d['fix']}" if stale
               else f"all fresh (≤ {d['fresh_days']} days)"),
            d["areas"], DNCL_COLUMNS))
    blocks.append(_scorecard_grid(view, data, missed=True))
    problems = [c for c in data["runbook"]["checks"] if c["status"] != "ok"]
    if problems:
        blocks.append(section("Runbook checks not ok", problems, columns_of(runbook.CheckLine)))
    return blocks


# Delivery's figures without the alert, which is a line under the table.
DELIVERY_COLUMNS = ("accepted_today", "delivered_today", "delivery_rate_today", "accepted_7d",
                    "delivered_7d", "delivery_rate_7d", "awaiting", "stuck_sending")


def _delivery_blocks(data: dict) -> list[Any]:
    """Texts sent through the provider (section `send`), with the stuck-message alert."""
    from valhalla_cli.output import Grid, Text

    d = data.get("delivery")
    if not d:
        return []
    blocks: list[Any] = [Grid("Texts: delivery today and last 7 days", [d], DELIVERY_COLUMNS)]
    if d.get("alert"):
        blocks.append(Text(f"**Alert:** {d['alert']}\n"))
    return blocks


def _worklist_blocks(data: dict, *, markdown: bool) -> list[Any]:
    """A titled table per non-empty worklist, its total in the title and, when bounded, the
    "and N more" line (with the command that lists them all, when there is one)."""
    from valhalla_cli.output import Grid, Text, age_text
    from valhalla_cli.services import worklists

    lists = data.get("worklists")
    if not lists:
        return []
    blocks: list[Any] = []
    quiet = []
    for key, title, listed, command in WORKLISTS:
        columns = listed or columns_of(worklists.OfferItem)
        work = lists[key]
        if not work["total"]:
            quiet.append(title.split(" (")[0].lower())
            continue
        rows = [{**r, "age": age_text(r.get("age_minutes"))} for r in work["rows"]]
        if not markdown:  # a terminal: the compact set (the age says when it was due)
            columns = TERMINAL_WORK_COLUMNS.get(key, columns)
            rows = [{**r, "step": f"{r['step']} {r['channel']}"} if "step" in r else r
                    for r in rows]
        blocks.append(Grid(f"{title}: {work['total']}", rows, columns,
                           title_style=None if markdown else "bold"))
        if work["more"]:
            more = f"… and {work['more']} more"
            blocks.append(Text(more + (f" (`{command}`)" if command and markdown else
                                       f" ({command})" if command else "")))
    if quiet:
        blocks.append(Text("Nothing waiting: " + ", ".join(quiet)
                           + ("\n" if markdown else "")))
    return blocks


# An open refusal's fields but `opened_at`: the deadline is what a person acts on.
REFUSAL_COLUMNS = ("lead_id", "refusal_at", "deadline", "clock")


def _inbox_blocks(data: dict) -> list[Any]:
    """The inbox (section `inbox`): open items, and open refusals with their legal deadlines."""
    from valhalla_cli.output import Grid, Text

    d = data.get("inbox")
    if not d:
        return []
    if not d["open_refusals"]:
        return [Text(f"## Inbox\n\n{d['open_items']} open item(s), no open refusal\n")]
    return [Grid(f"Inbox: {d['open_items']} open item(s); open refusals and their deadlines",
                 d["open_refusals"], REFUSAL_COLUMNS)]


def _yn(flag: bool) -> str:
    return "yes" if flag else "no"
