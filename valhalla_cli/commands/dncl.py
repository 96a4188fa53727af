"""`valhalla dncl`: the subscriber's copy of the National Do Not Call List."""


from typing import Annotated, Optional

import typer

from valhalla_cli.commands._common import (
    AtOpt,
    EncodingOpt,
    FormatOpt,
    JsonOpt,
    at_instant,
    database,
    emit,
    fmt_of,
    import_file,
    refuse,
    say,
    settings,
)

app = typer.Typer(help="National Do Not Call List: import the download, check numbers.",
                  no_args_is_help=True)


@app.command("import")
def import_command(
    ctx: typer.Context,
    path: Annotated[str, typer.Argument(help="The ZIP the DNCL operator delivers.")],
    as_of: Annotated[Optional[str], typer.Option(
        "--as-of", metavar="DATE", help="The date of the download (default: the business date "
        "of --at).")] = None,
    encoding: EncodingOpt = None,
    at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False,
) -> None:
    """Load a download: each area code in it replaces that area code's numbers.

    \b
    Example:
      valhalla dncl import dncl-2027-01-10.zip --as-of 2027-01-10
    """
    from valhalla_cli.clock import parse_date
    from valhalla_cli.importing import check_encoding
    from valhalla_cli.services import dncl

    cfg = settings(ctx)
    text_encoding = check_encoding(encoding)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    day = parse_date(as_of, option="--as-of") if as_of is not None else None
    dncl.check_as_of(day, at=when, business_timezone=cfg.business_timezone)
    areas = import_file(
        ctx, path, label="dncl import", size=dncl.download_size,
        read=lambda file, after_batch: dncl.read_download(file, after_batch,
                                                          encoding=text_encoding),
        run=lambda session, download, progress: dncl.import_numbers(
            session, download, as_of=day, at=when, actor=cfg.actor,
            business_timezone=cfg.business_timezone, progress=progress))
    say(ctx, f"{path}: {len(areas)} area code(s), {sum(a.numbers for a in areas)} numbers")
    emit(areas, output, columns=("area_code", "numbers", "as_of"))


@app.command("status")
def status(ctx: typer.Context, at: AtOpt = None, fmt: FormatOpt = None,
           as_json: JsonOpt = False) -> None:
    """Per area code: the list's date, age, size and whether it is fresh (≤ 31 days).

    \b
    Example:
      valhalla dncl status --json
    """
    from valhalla_cli.services import dncl

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction() as session:
        rows = dncl.area_statuses(session, at=when, business_timezone=cfg.business_timezone)
    emit(rows, output, columns=("area_code", "as_of", "age_days", "numbers", "fresh",
                                "imported_at", "imported_by"))
    note = dncl.status_note(rows)
    if note:
        say(ctx, note)


@app.command("check")
def check(ctx: typer.Context,
          number: Annotated[str, typer.Argument(help="A phone number, e.g. +14165550199.")],
          at: AtOpt = None, fmt: FormatOpt = None, as_json: JsonOpt = False) -> None:
    """Is the number on the list? Exit 0 not_listed, 1 listed or not_checked.

    \b
    Example:
      valhalla dncl check "(416) 555-0199"
    """
    from valhalla_cli.services import dncl

    cfg = settings(ctx)
    output = fmt_of(fmt, as_json)
    when = at_instant(ctx, at)
    with database(ctx) as db, db.transaction() as session:
        result = dncl.check_number(session, phone=number, at=when,
                                   business_timezone=cfg.business_timezone)
    emit(result, output)
    if result.refusal:
        refuse(result.refusal)
