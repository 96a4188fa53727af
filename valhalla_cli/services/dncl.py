"""The National Do Not Call List: the subscriber's copy, its age, number checks.

A download is a ZIP of one file per area code (or one for the whole list), each CSV lines
`AREA,NUMBER` or the XML form `<ac val='416'><ph val='5550199'/></ac>`. Each area code found in
the download replaces that area code's numbers (a download is a full copy). A national download
is 15 million numbers, far too many for one transaction that holds SQLite's write lock, so the
numbers are written as a new generation (`models.lead.dncl_key`: the import batch's id above
the ten digits) in short transactions that nobody reads, since `dncl_area.generation` still
names the old one; the import's last transaction points every area code of the download at the
new generation at once, and the old one is deleted afterwards in short chunks
(`discard_garbage`, which `staging.StagedImport` runs after each import). A reader sees each
area code's old list or its new list, never a mix. The file is streamed: numbers go to the
database in fixed-size batches.

A CALL is allowed only with an exemption (a consent that exempts calls, `consent.py`) or when
the number was checked against a list no more than 31 days old at the time of the call and is
not on it (CRTC Unsolicited Telecommunications Rules, National DNCL Rules, Part II s. 6 and the
subscriber terms).
"""

from __future__ import annotations

import functools
import itertools
import lzma
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from valhalla_cli.db import affected_rows, dialect_name, upsert_insert
from valhalla_cli.errors import BadInput
from valhalla_cli.lock_yield import pause_for_writers
from valhalla_cli.models import DnclArea, DnclNumber, ImportBatch
from valhalla_cli.models.importing import import_batch_of
from valhalla_cli.models.lead import AREA_SPAN, GENERATION_SPAN, dncl_key
from valhalla_cli.models.types import table_of
from valhalla_cli.phones import AREA_CODES, area_code, ten_digits
from valhalla_cli.services.audit import Pack
from valhalla_cli.services.contact_rules import HOLD_REASONS, Reason
from valhalla_cli.services.refusals import Refusal

if TYPE_CHECKING:
    from valhalla_cli.services.checks import CheckResult

PACK = Pack.DNCL
FRESH_DAYS = 31
IMPORT_FIX = "valhalla dncl import DOWNLOAD.zip --as-of DATE"  # a missing or stale copy's fix
BATCH = 100_000  # numbers per short write transaction (~0.3 s on SQLite)
_AC = re.compile(rb"<ac\s+val\s*=\s*['\"](\d{3})['\"]\s*>")
_PH = re.compile(rb"<ph\s+val\s*=\s*['\"](\d{7})['\"]\s*/>")


@dataclass(frozen=True)
class AreaImport:
    area_code: str
    numbers: int
    as_of: date


@dataclass(frozen=True)
class AreaStatus:
    area_code: str
    as_of: date
    age_days: int
    numbers: int
    fresh: bool
    imported_at: datetime
    imported_by: str


@dataclass(frozen=True)
class NumberStatus:
    number: str
    area_code: str
    status: str  # listed | not_listed | not_checked
    as_of: date | None
    message: str | None = None  # a "no" in words, with its next step (dncl check)

    @property
    def refusal(self) -> Refusal | None:
        """Only a number checked against a fresh copy and not on it may be called."""
        if self.status == "not_listed":
            return None
        return Refusal(self.status, f"{self.status}: {self.message}")


BLOCK = 1 << 20  # bytes read from a member at a time: memory does not grow with the member
MAX_LINE = 1_000  # `416,5550199` is 11 bytes; a longer line is not a list's line
MAX_TAG = 1_000  # `<ph val='5550199'/>` is 19 bytes; a longer tag is not a list's tag
# A list has no blank lines worth the name; a member that is mostly blank lines (a 4 GiB member
# of newlines zips to 4 MB) is refused early rather than read one empty line at a time.
MAX_BLANK_LINES = 1_000_000
REDOWNLOAD = "re-download the list"
# What the zipfile module and its decompressors raise on a damaged, encrypted or unsupported
# member: every one is a bad download, never a bug.
_ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, RuntimeError,
    NotImplementedError, ValueError, zipfile.LargeZipFile)
_ASCII_SAMPLE = "0123456789,<>/='\" \t\r\nacphvlxmd?"


def _damaged(path: str, member: str | None, exc: BaseException) -> BadInput:
    where = f"{path}:{member}" if member else path
    detail = " ".join(str(exc).split())[:120] or type(exc).__name__
    return BadInput(f"{where}: the ZIP is damaged or unreadable ({detail}): {REDOWNLOAD}")


def _ascii_compatible(encoding: str) -> bool:
    """Whether the list's characters (ASCII digits and punctuation) are the same bytes in
    `encoding` as in ASCII, so the member's bytes can be parsed without decoding them."""
    try:
        return _ASCII_SAMPLE.encode(encoding) == _ASCII_SAMPLE.encode("ascii")
    except (UnicodeError, LookupError):
        return False


def _blocks(path: str, member: str, handle: Any, encoding: str) -> Iterator[bytes]:
    """The member's bytes in blocks of at most 1 MiB, as ASCII-compatible bytes: in an encoding
    such as UTF-16 each block is decoded incrementally and re-encoded as UTF-8. A read that the
    ZIP cannot answer (bad CRC, corrupted data) is bad input, as is a byte not valid in
    `encoding`."""
    import codecs

    decoder = None if _ascii_compatible(encoding) else codecs.getincrementaldecoder(encoding)()
    first, offset = True, 0
    while True:
        try:
            block = handle.read(BLOCK)
        except _ZIP_ERRORS as exc:
            raise _damaged(path, member, exc) from None
        if first and block.startswith(b"\xef\xbb\xbf") and encoding == "utf-8":
            block = block[3:]  # a UTF-8 byte-order mark, as every other import allows
        first = False
        if decoder is not None:
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                raise BadInput(f"{path}:{member}: byte 0x{exc.object[exc.start]:02x} at offset "
                               f"{offset + exc.start} is not valid {encoding} (check "
                               "--encoding)") from None
            offset += len(block)
            if text:
                yield text.encode("utf-8", "surrogatepass")
        elif block:
            yield block
        if not block:
            return


def _csv_numbers(path: str, member: str, blocks: Iterable[bytes]) -> Iterator[tuple[int, int]]:
    """(area code, ten digits) per `AREA,NUMBER` line; 15 million lines, so no regex per line.

    Lines are cut from 1 MiB blocks: a line longer than `MAX_LINE` is refused as soon as it is
    seen, empty lines are dropped in bulk (`filter`), and a member of more than
    `MAX_BLANK_LINES` blank lines is refused."""
    area_text, area = b"", 0
    carry = b""
    line_no = 0  # lines before the current block
    blank = 0
    for block in itertools.chain(blocks, (b"",)):
        final = not block
        data = carry + block
        parts = data.split(b"\n")
        carry = b"" if final else parts.pop()
        if len(carry) > MAX_LINE:
            raise BadInput(f"{path}:{member}:{line_no + len(parts) + 1}: the line is longer "
                           f"than {MAX_LINE} bytes: not a line of the list ({REDOWNLOAD})")
        lines = list(filter(None, parts))
        blank += len(parts) - len(lines)
        for raw in lines:
            code, comma, number = raw.partition(b",")
            number = number.strip()
            code = code.strip()
            if (comma and len(code) == 3 and len(number) == 7 and code.isdigit()
                    and number.isdigit()):
                if code != area_text:
                    area_text, area = code, int(code)
                yield area, area * 10_000_000 + int(number)
            elif raw.strip():
                where = line_no + parts.index(raw) + 1
                if len(raw) > MAX_LINE:
                    raise BadInput(f"{path}:{member}:{where}: the line is longer than "
                                   f"{MAX_LINE} bytes: not a line of the list ({REDOWNLOAD})")
                text = raw[:60].decode("utf-8", "replace").strip()
                raise BadInput(f"{path}:{member}:{where}: expected AREA,NUMBER "
                               f"(e.g. 416,5550199), found {text!r}")
            else:
                blank += 1
        if blank > MAX_BLANK_LINES:
            raise BadInput(f"{path}:{member}: more than {MAX_BLANK_LINES} blank lines: not a "
                           f"list file ({REDOWNLOAD})")
        line_no += len(parts)
        if final:
            return


def _xml_numbers(path: str, member: str, blocks: Iterable[bytes]) -> Iterator[tuple[int, int]]:
    """The XML form, read tag by tag in 1 MiB blocks (a tree parse would hold the file). Only
    an unfinished tag is carried to the next block, and a tag longer than `MAX_TAG` is refused,
    so each byte is scanned a bounded number of times."""
    current: int | None = None
    carry = b""
    for block in itertools.chain(blocks, (b"",)):
        data, carry, position = carry + block, b"", 0
        while True:
            start = data.find(b"<", position)
            if start < 0:
                break
            end = data.find(b">", start, start + MAX_TAG + 1)
            if end < 0:
                carry = data[start:]
                if len(carry) > MAX_TAG:
                    raise BadInput(f"{path}:{member}: a tag longer than {MAX_TAG} bytes "
                                   f"({carry[:40]!r}…): not a list file ({REDOWNLOAD})")
                break
            tag = data[start:end + 1]
            position = end + 1
            if tag.startswith(b"<ac"):
                match = _AC.fullmatch(tag)
                if not match:
                    raise BadInput(f"{path}:{member}: malformed area code tag {tag[:60]!r}")
                current = int(match.group(1))
            elif tag.startswith(b"<ph"):
                match = _PH.fullmatch(tag)
                if not match or current is None:
                    raise BadInput(f"{path}:{member}: malformed number tag {tag[:60]!r} "
                                   "(expected <ph val='NNNNNNN'/> inside <ac val='NNN'>)")
                yield current, current * 10_000_000 + int(match.group(1))
            elif tag.startswith(b"</ac"):
                current = None
        if not block:
            if carry.strip():
                raise BadInput(f"{path}:{member}: the file ends inside a tag")
            return


def _members(path: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a directory, not a ZIP file") from None
    except PermissionError as exc:
        raise BadInput(f"{path}: cannot read ({exc.strerror})") from None
    except _ZIP_ERRORS as exc:
        detail = " ".join(str(exc).split())[:120]
        raise BadInput(f"{path}: not a ZIP file or a damaged one ({detail}): {REDOWNLOAD}"
                       ) from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if not infos:
            raise BadInput(f"{path}: the ZIP holds no file")
        seen: set[str] = set()
        for info in infos:
            if info.filename in seen:
                # Two members of one name: reading either alone would silently drop the other.
                raise BadInput(f"{path}: the ZIP holds two members named {info.filename!r}: "
                               f"{REDOWNLOAD}")
            seen.add(info.filename)
            if info.flag_bits & 0x1:
                raise BadInput(f"{path}:{info.filename}: the member is encrypted (the list is "
                               f"delivered unencrypted): {REDOWNLOAD}")
            if info.compress_type not in _METHODS:
                raise BadInput(f"{path}:{info.filename}: compression method "
                               f"{info.compress_type} is not "
                               f"supported (stored, deflate, bzip2, lzma): {REDOWNLOAD}")
        for info in sorted(infos, key=lambda i: i.filename):
            yield info.filename, functools.partial(archive.open, info)


_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def _numbers_of(path: Path, encoding: str) -> Iterator[tuple[int, int]]:
    for name, opener in _members(path):
        lower = name.lower()
        if not (lower.endswith(".csv") or lower.endswith(".xml") or lower.endswith(".txt")):
            raise BadInput(f"{path}:{name}: unknown member type: use .csv or .xml files")
        try:
            handle = opener()
        except _ZIP_ERRORS as exc:
            raise _damaged(str(path), name, exc) from None
        with handle:
            reader = _xml_numbers if lower.endswith(".xml") else _csv_numbers
            yield from reader(str(path), name, _blocks(str(path), name, handle, encoding))


@dataclass(frozen=True)
class Download:
    """A download as the face reads it: its name and its (area code, ten digits) pairs, in
    file order, streamed. `after_batch` as in `importing.RowSource`."""

    name: str
    numbers: Iterable[tuple[int, int]]
    after_batch: Callable[[], None] | None = None


def read_download(path: Path, after_batch: Callable[[], None] | None = None, *,
                  encoding: str | None = None) -> Download:
    """The numbers of a download, read lazily as they are consumed (see the module docstring
    for the forms); `encoding` is the members' text encoding (default UTF-8)."""
    from valhalla_cli.importing import check_encoding

    return Download(path.name, _numbers_of(path, check_encoding(encoding)), after_batch)


def download_size(path: Path) -> int:
    """About how many numbers the download holds (12 bytes per CSV line): a progress total."""
    try:
        with zipfile.ZipFile(path) as archive:
            return sum(i.file_size for i in archive.infolist()) // 12
    except _ZIP_ERRORS:
        return 0


def check_as_of(as_of: date | None, *, at: datetime, business_timezone: str) -> date:
    """The download's date: default the business date of `at`, never after it."""
    from valhalla_cli.clock import business_date

    today = business_date(at, business_timezone)
    as_of = as_of or today
    if as_of > today:
        raise BadInput(f"--as-of {as_of.isoformat()} is after the business date of --at "
                       f"({today.isoformat()})")
    return as_of


def import_numbers(session: Session, download: Download, *, as_of: date | None, at: datetime,
                   actor: str, business_timezone: str,
                   progress: Callable[[int, int], None] | None = None) -> list[AreaImport]:
    """Replace the numbers of every area code in the download (see the module docstring).

    The numbers go in as a new generation keyed by the session's import batch, in batches the
    face commits (`download.after_batch`); the area codes point at it in the caller's current
    transaction (the face's last), all together. `progress(numbers, numbers)` after each batch.
    """
    from valhalla_cli.services import audit

    as_of = check_as_of(as_of, at=at, business_timezone=business_timezone)
    generation = import_batch_of(session)
    if generation is None:
        raise RuntimeError("dncl import writes a generation under an import batch: run it "
                           "through staging.StagedImport")
    base = generation * GENERATION_SPAN
    seen: set[int] = set()
    batch: list[int] = []
    # Driver-level (15 million rows): an executemany on SQLite, one array per batch on
    # PostgreSQL (an executemany there is a statement per row); a number listed twice is stored
    # once.
    sqlite = dialect_name(session) == "sqlite"
    read = 0

    def flush() -> None:
        if batch:
            if sqlite:
                session.connection().exec_driver_sql(
                    "INSERT OR IGNORE INTO dncl_number (number) VALUES (?)",
                    [(key,) for key in batch])
            else:
                session.connection().exec_driver_sql(
                    "INSERT INTO dncl_number (number) SELECT unnest(%s::bigint[]) "
                    "ON CONFLICT DO NOTHING", (batch,))
            batch.clear()
        if progress is not None:
            progress(read, read)
        if download.after_batch is not None:
            download.after_batch()

    for area, number in download.numbers:
        read += 1
        if area not in seen:
            if str(area) not in AREA_CODES:
                raise BadInput(f"{download.name}: area code {area} is not a geographic Canadian "
                               "area code")
            seen.add(area)
        batch.append(base + number)
        if len(batch) >= BATCH:
            flush()
    flush()
    if not seen:
        raise BadInput(f"{download.name}: the download lists no number")
    results = []
    for area in sorted(seen):
        low = base + area * AREA_SPAN
        stored = int(session.scalar(select(func.count()).select_from(DnclNumber).where(
            col(DnclNumber.number) >= low, col(DnclNumber.number) < low + AREA_SPAN)) or 0)
        results.append(AreaImport(str(area), stored, as_of))
        if download.after_batch is not None:  # a count walks ~600 000 keys: its own step
            download.after_batch()
    # The flip: every area code of the download reads its new generation from here on.
    # One statement per area code, insert or replace: two imports of a new area code flipping
    # at once both succeed and the later flip's generation is the one read, as in sequence.
    areas = table_of(DnclArea)
    for result in results:
        values = {"generation": generation, "as_of": as_of, "numbers": result.numbers,
                  "imported_at": at, "imported_by": actor}
        session.execute(upsert_insert(session)(areas)
                        .values(area_code=int(result.area_code), **values)
                        .on_conflict_do_update(index_elements=["area_code"], set_=values))
    released = release_held(session, at=at, reason=Reason.DNCL_NOT_CHECKED)
    audit.record(session, pack=PACK, action="import", actor=actor, at=at, subject=download.name,
                 after={"as_of": as_of.isoformat(), "area_codes": [r.area_code for r in results],
                        "numbers": sum(r.numbers for r in results),
                        "held_tasks_released": released})
    return results


def release_held(session: Session, *, at: datetime, reason: str) -> int:
    """Held tasks (due within the hour, waiting for `reason` to clear) become due now, so the
    next dispatch looks at them again instead of an hour later."""
    from datetime import timedelta

    from sqlalchemy import update

    from valhalla_cli.models import FollowupTask

    t = FollowupTask
    return affected_rows(session.execute(
        update(t).where(col(t.status) == "pending", col(t.ready).is_(True), col(t.due_at) > at,
                        col(t.due_at) <= at + timedelta(hours=1), col(t.status_reason) == reason)
        .values(due_at=at).execution_options(synchronize_session=False)))


def _age(row: DnclArea, at: datetime, business_timezone: str) -> int:
    from valhalla_cli.clock import business_date

    return (business_date(at, business_timezone) - row.as_of).days


def area_statuses(session: Session, *, at: datetime, business_timezone: str
                  ) -> list[AreaStatus]:
    rows = session.scalars(select(DnclArea).order_by(col(DnclArea.area_code)))
    result = []
    for row in rows:
        age = _age(row, at, business_timezone)
        result.append(AreaStatus(str(row.area_code), row.as_of, age, int(row.numbers),
                                 0 <= age <= FRESH_DAYS, row.imported_at, row.imported_by))
    return result


class DnclLookup:
    """Number statuses for many numbers at one instant: the small area table once, then one
    primary-key probe per chunk of numbers."""

    def __init__(self, session: Session, at: datetime, business_timezone: str) -> None:
        from valhalla_cli.clock import business_date

        self.session = session
        today = business_date(at, business_timezone)
        self._rows = session.execute(select(col(DnclArea.area_code), col(DnclArea.as_of),
                                            col(DnclArea.generation))).all()
        # Three columns of a table of at most ~60 rows (the geographic area codes).
        self.areas = {str(code): (as_of, 0 <= (today - as_of).days <= FRESH_DAYS)
                      for code, as_of, _ in self._rows}
        self.generations = {str(code): generation for code, _, generation in self._rows}

    def statuses(self, phones: set[str]) -> dict[str, NumberStatus]:
        result: dict[str, NumberStatus] = {}
        probe: list[str] = []
        for phone in phones:
            area = area_code(phone)
            as_of, fresh = self.areas.get(area, (None, False))
            if not fresh:
                result[phone] = NumberStatus(phone, area, "not_checked", as_of)
            else:
                probe.append(phone)
        for i in range(0, len(probe), 500):
            chunk = probe[i:i + 500]
            keys = {phone: dncl_key(self.generations[area_code(phone)], ten_digits(phone))
                    for phone in chunk}
            listed = set(self.session.scalars(select(col(DnclNumber.number)).where(
                col(DnclNumber.number).in_(sorted(keys.values())))))
            for phone in chunk:
                area = area_code(phone)
                result[phone] = NumberStatus(
                    phone, area, "listed" if keys[phone] in listed else "not_listed",
                    self.areas[area][0])
        return result


def check_number(session: Session, *, phone: str, at: datetime, business_timezone: str
                 ) -> NumberStatus:
    """The number's status, with its "no" in words (`message`) when not `not_listed`."""
    from dataclasses import replace

    from valhalla_cli.phones import parse_phone

    number = parse_phone(phone, option="NUMBER")
    found = DnclLookup(session, at, business_timezone).statuses({number})[number]
    if found.status == "listed":
        return replace(found, message=f"{number} is on the National Do Not Call List (copy of "
                       f"{found.as_of}): call it only with consent or an exemption "
                       "(valhalla lead consent LEAD --kind express|inquiry|business)")
    if found.status == "not_checked":
        state = (f"the copy for area code {found.area_code} is from {found.as_of}, older than "
                 f"{FRESH_DAYS} days" if found.as_of is not None else
                 f"no copy of the list for area code {found.area_code} was imported")
        return replace(found, message=f"{number} is not checked: {state}; import a fresh one "
                       f"with {IMPORT_FIX}")
    return found


def status_note(areas: list[AreaStatus]) -> str | None:
    """What `dncl status` says under its table when the list is missing or stale."""
    if not areas:
        return ("no National DNCL copy imported: calls go only to leads with an exemption "
                f"(consent); import the download with {IMPORT_FIX}")
    stale = [a.area_code for a in areas if not a.fresh]
    if stale:
        return (f"the copy is older than {FRESH_DAYS} days for area code(s) "
                f"{', '.join(stale[:10])}: their calls are held; import a fresh one with "
                f"{IMPORT_FIX}")
    return None


def held_counts(session: Session, *, at: datetime) -> dict[str, int]:
    """Tasks dispatch is holding, by reason. Held tasks are due within the hour of the run that
    held them, so the (status, ready, due_at) index bounds this to the near backlog."""
    from datetime import timedelta

    from valhalla_cli.models import FollowupTask

    t = FollowupTask
    rows = session.execute(
        select(col(t.status_reason), func.count())
        .where(col(t.status) == "pending", col(t.ready).is_(True),
               col(t.due_at) <= at + timedelta(hours=1),
               col(t.status_reason).in_(HOLD_REASONS))
        .group_by(col(t.status_reason)))
    # The IN above excludes a NULL reason; the test narrows the column's Optional type.
    return {reason: int(n) for reason, n in rows if reason is not None}


def runbook_check(session: Session, settings: Any, at: datetime) -> CheckResult:
    """Warn when no list was ever imported (calls go only to exempt leads); fail when an
    imported area code's list is older than 31 days."""
    from valhalla_cli.services.checks import FAIL, OK, WARN, CheckResult

    areas = area_statuses(session, at=at, business_timezone=settings.business_timezone)
    held = held_counts(session, at=at).get(Reason.DNCL_NOT_CHECKED, 0)
    from valhalla_cli.wording import plural

    held_text = f"; {plural(held, 'call task')} held ({Reason.DNCL_NOT_CHECKED})" if held else ""
    fix = IMPORT_FIX
    if not areas:
        return CheckResult(WARN, "no National DNCL copy imported: calls go only to "
                           f"leads with an exemption{held_text}", fix)
    stale = [a for a in areas if not a.fresh]
    if stale:
        names = ", ".join(f"{a.area_code} ({a.age_days} days)" for a in stale[:5])
        return CheckResult(FAIL, f"National DNCL copy older than {FRESH_DAYS} days for "
                           f"{names}{held_text}", fix)
    oldest = max(a.age_days for a in areas)
    return CheckResult(OK, f"{plural(len(areas), 'area code')}, "
                       f"{plural(sum(a.numbers for a in areas), 'number')}, oldest "
                       f"{plural(oldest, 'day')}{held_text}")


# --- deleting generations no area code reads (models.lead.GENERATION_SPAN) ---------------------

DNCL_DELETE_CHUNK = 50_000


def _generation_is_garbage(session: Any, generation: int, area: int | None) -> bool:
    """Checked in the deleting transaction itself: the generation is no area code's current
    one (or, with `area`, not that area code's) and, unless this is the discard of the batch
    that writes it (`area` None), no running import is writing it."""
    areas, batches = table_of(DnclArea), table_of(ImportBatch)
    read = select(func.count()).select_from(areas).where(areas.c.generation == generation)
    if area is not None:
        read = read.where(areas.c.area_code == area)
    if session.scalar(read):
        return False
    status = session.scalar(select(batches.c.status).where(batches.c.id == generation))
    return status != "running" or area is None


def _delete_key_range(db: Any, low: int, high: int, generation: int, area: int | None) -> None:
    """Delete dncl_number keys in [low, high), DNCL_DELETE_CHUNK per short transaction."""
    numbers = table_of(DnclNumber)
    while True:
        with db.transaction(write=True) as session:
            if not _generation_is_garbage(session, generation, area):
                return
            cut = session.scalar(select(numbers.c.number)
                                 .where(numbers.c.number >= low, numbers.c.number < high)
                                 .order_by(numbers.c.number).offset(DNCL_DELETE_CHUNK).limit(1))
            session.execute(delete(numbers).where(numbers.c.number >= low,
                                                  numbers.c.number < (cut or high)))
        if cut is None:
            return
        low = cut
        pause_for_writers(db)


def discard_generation(db: Any, batch_id: int) -> None:
    """The numbers an unfinished DNCL import wrote (its whole generation: one key range)."""
    low = batch_id * GENERATION_SPAN
    _delete_key_range(db, low, low + GENERATION_SPAN, batch_id, None)


def discard_garbage(db: Any) -> int:
    """Delete every generation of an area code's numbers that the area code no longer reads
    and no running import is writing: the list a finished import replaced, a killed import's
    numbers. Finds them by skipping from key range to key range (one probe each). Returns the
    number of ranges deleted."""
    numbers, areas, batches = table_of(DnclNumber), table_of(DnclArea), table_of(ImportBatch)
    with db.transaction() as session:
        current = {(generation, area) for generation, area in session.execute(
            select(areas.c.generation, areas.c.area_code))}
        running = set(session.scalars(select(batches.c.id).where(batches.c.status == "running")))
    key, deleted = 0, 0
    while True:
        with db.transaction() as session:
            found = session.scalar(select(func.min(numbers.c.number))
                                   .where(numbers.c.number >= key))
        if found is None:
            return deleted
        generation, digits = divmod(found, GENERATION_SPAN)
        area = digits // AREA_SPAN
        low = generation * GENERATION_SPAN + area * AREA_SPAN
        key = low + AREA_SPAN
        if (generation, area) in current or generation in running:
            continue
        _delete_key_range(db, low, key, generation, area)
        deleted += 1
