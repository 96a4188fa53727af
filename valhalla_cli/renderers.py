"""Text renderings of reports that both faces serve (the CLI prints them, the API answers them)."""

from __future__ import annotations

from typing import Any

RUNBOOK_CHECK_COLUMNS = ("name", "status", "detail", "fix")  # a check line's fields, in order


def runbook_markdown(report: Any) -> str:
    """The runbook report as Markdown (`runbook markdown`, `GET …/runbook/markdown`)."""
    from valhalla_cli.output import markdown_table
    from valhalla_cli.wire import jsonable

    verdict = "OK to enable go-live" if report.ok_to_enable_go_live else "NOT OK to enable"
    rows = jsonable(report.checks)
    for row in rows:
        row["fix"] = f"`{row['fix']}`" if row["fix"] else ""
    return (f"# Valhalla runbook: {verdict}\n\nGenerated {jsonable(report.generated_at)}.\n\n"
            + markdown_table(rows, RUNBOOK_CHECK_COLUMNS))
