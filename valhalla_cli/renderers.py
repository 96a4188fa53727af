"""Text renderings of reports that both faces serve (the CLI prints them, the API answers them)."""

from __future__ import annotations

from typing import Any


def runbook_markdown(report: Any) -> str:
    """The runbook report as Markdown (`runbook markdown`, `GET …/runbook/markdown`)."""
    import dataclasses

    from valhalla_cli.output import markdown_table
    from valhalla_cli.services.runbook import CheckLine
    from valhalla_cli.wire import jsonable

    verdict = "OK to enable go-live" if report.ok_to_enable_go_live else "NOT OK to enable"
    rows = jsonable(report.checks)
    for row in rows:
        row["fix"] = f"`{row['fix']}`" if row["fix"] else ""
    return (f"# Valhalla runbook: {verdict}\n\nGenerated {jsonable(report.generated_at)}.\n\n"
            + markdown_table(rows, [f.name for f in dataclasses.fields(CheckLine)]))
