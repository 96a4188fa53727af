"""Hostile and damaged DNCL downloads (issue 19, defects 3, 4 and 18): every ZIP problem is bad
input that advises re-downloading the list and changes nothing; every member is read with
bounded memory and linear time; `dncl import --encoding`; duplicate member names."""

from __future__ import annotations

import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from conftest import snapshot_tables

AS_OF = ("--as-of", "2027-01-10", "--at", "2027-01-10T09:00")
LINES = "".join(f"416,555{i:04d}\n" for i in range(2000))


def _refused(cli, db, path: Path, *needles: str) -> None:
    before = snapshot_tables(db)
    result = cli("dncl", "import", str(path), *AS_OF)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.strip().endswith("re-download the list"), result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert snapshot_tables(db) == before


def _write(path: Path, members: dict[str, str],
           compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def _patch_headers(path: Path, *, local: tuple[int, bytes], central: tuple[int, bytes]) -> None:
    """Overwrite a field of the first member's local header and of its central-directory entry
    (offsets relative to each header's signature)."""
    data = bytearray(path.read_bytes())
    start = data.index(b"PK\x03\x04")
    data[start + local[0]:start + local[0] + len(local[1])] = local[1]
    entry = data.index(b"PK\x01\x02")
    data[entry + central[0]:entry + central[0] + len(central[1])] = central[1]
    path.write_bytes(bytes(data))


def test_corrupted_deflate_data_is_bad_input(cli, db, tmp_path):
    path = _write(tmp_path / "d_bad.zip", {"416.csv": LINES})
    data = bytearray(path.read_bytes())
    for offset in (200, 300):  # inside the deflated data of 416.csv
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    _refused(cli, db, path, "416.csv", "damaged")


def test_stored_member_with_a_wrong_crc_is_bad_input(cli, db, tmp_path):
    path = _write(tmp_path / "d_crc.zip", {"416.csv": LINES}, zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = data.index(b"416,5550007")
    data[at + 10] = ord("8")  # still a valid line, but not the bytes the CRC was taken of
    path.write_bytes(bytes(data))
    _refused(cli, db, path, "416.csv", "CRC")


def test_encrypted_member_is_bad_input(cli, db, tmp_path):
    path = _write(tmp_path / "d_enc.zip", {"416.csv": LINES})
    _patch_headers(path, local=(6, struct.pack("<H", 1)), central=(8, struct.pack("<H", 1)))
    _refused(cli, db, path, "416.csv", "encrypted")


def test_unsupported_compression_method_is_bad_input(cli, db, tmp_path):
    path = _write(tmp_path / "d_97.zip", {"416.csv": LINES})
    _patch_headers(path, local=(8, struct.pack("<H", 97)), central=(10, struct.pack("<H", 97)))
    _refused(cli, db, path, "416.csv", "compression method 97")


def test_truncated_zip_is_bad_input(cli, db, tmp_path):
    path = _write(tmp_path / "d_cut.zip", {"416.csv": LINES})
    path.write_bytes(path.read_bytes()[:-30])  # the end of the central directory is gone
    _refused(cli, db, path, "ZIP")


def test_two_members_of_one_name_are_bad_input_naming_it(cli, db, tmp_path):
    import warnings

    path = tmp_path / "d_dup.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as zf:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate it writes
        zf.writestr("416.csv", "416,5550199\n")
        zf.writestr("416.csv", "416,5550123\n")
    _refused(cli, db, path, "two members named '416.csv'")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "cp1252"])
def test_dncl_import_takes_encoding(cli, tmp_path, encoding):
    path = tmp_path / "enc.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("416.csv", "416,5550199\r\n416,5550123\r\n".encode(encoding))
        zf.writestr("604.xml", "<dncl><ac val='604'><ph val='5550100'/></ac></dncl>"
                    .encode(encoding))
    result = cli("dncl", "import", str(path), "--encoding", encoding, *AS_OF, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json == [{"area_code": "416", "numbers": 2, "as_of": "2027-01-10"},
                           {"area_code": "604", "numbers": 1, "as_of": "2027-01-10"}]
    assert cli("dncl", "check", "+16045550100", "--at", "2027-01-11T09:00"
               ).exit_code == 1  # listed


def test_dncl_encoding_errors_are_bad_input(cli, db, tmp_path):
    path = tmp_path / "enc.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("416.csv", b"\x00\xd8416,5550199\n")  # an unpaired surrogate in UTF-16
    before = snapshot_tables(db)
    bad = cli("dncl", "import", str(path), "--encoding", "utf-16-le", *AS_OF)
    assert bad.exit_code == 2 and "not valid utf-16-le" in bad.stderr, bad.stderr
    unknown = cli("dncl", "import", str(path), "--encoding", "klingon", *AS_OF)
    assert unknown.exit_code == 2 and "--encoding" in unknown.stderr, unknown.stderr
    assert snapshot_tables(db) == before


# --- bounded memory, linear time ----------------------------------------------------------------

def _hostile(path: Path, member: str, head: bytes, fill: bytes, size: int) -> Path:
    """A ZIP of one member: `head`, then `fill` repeated to `size` bytes, streamed in 1 MiB
    chunks (the member is never in memory; it zips to a few MB)."""
    chunk = fill * ((1 << 20) // len(fill))
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf, \
            zf.open(member, "w", force_zip64=True) as handle:
        handle.write(head)
        for _ in range(size // len(chunk)):
            handle.write(chunk)
    return path


_PROBE = ("import sys\n"
          "from valhalla_cli.app import main\n"
          "sys.argv = ['valhalla'] + sys.argv[1:]\n"
          "try:\n    main()\n"
          "except SystemExit as exc:\n"
          "    status = open('/proc/self/status').read()\n"
          "    peak = int(status.split('VmHWM:')[1].split()[0]) // 1024\n"
          "    print(f'peak_mib={peak}')\n"
          "    raise\n")


def _refused_bounded(url: str, db, path: Path, *needles: str) -> None:
    """The import's own process refuses the file within seconds at under 250 MiB peak (VmHWM
    of that process, not ru_maxrss, which Linux carries across execve from the runner)."""
    before = snapshot_tables(db)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _PROBE, "--db", url, "dncl", "import",
                           str(path), *AS_OF], capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    peak_mib = int(proc.stdout.strip().rsplit("peak_mib=", 1)[1])
    assert peak_mib < 250, peak_mib
    assert elapsed < 30, elapsed  # seconds, even on a loaded machine (it used to be minutes)
    assert snapshot_tables(db) == before


SIZES = [256 << 20, pytest.param(1 << 30, marks=pytest.mark.slow)]


@pytest.mark.parametrize("size", SIZES)
def test_member_without_a_newline_is_refused_with_bounded_memory(db_url, db, tmp_path, size):
    path = _hostile(tmp_path / "zeros.zip", "416.csv", b"", b"0", size)
    _refused_bounded(db_url, db, path, "416.csv:1:", "longer than")


@pytest.mark.parametrize("size", SIZES)
def test_xml_tag_without_its_end_is_refused_in_linear_time(db_url, db, tmp_path, size):
    path = _hostile(tmp_path / "tag.zip", "416.xml", b"<ac", b"x", size)
    _refused_bounded(db_url, db, path, "416.xml", "tag longer than")


@pytest.mark.parametrize("size", [64 << 20, pytest.param(4 << 30, marks=pytest.mark.slow)])
def test_member_of_blank_lines_is_refused_early(db_url, db, tmp_path, size):
    path = _hostile(tmp_path / "nl.zip", "416.csv", b"416,5550199\n", b"\n", size)
    _refused_bounded(db_url, db, path, "416.csv", "blank lines")


def test_a_large_honest_member_still_imports(cli, tmp_path):
    """Blocks cut lines anywhere: a list of 300 000 numbers (a line straddles every block
    boundary), CRLF and a last line without newline, reads whole."""
    path = tmp_path / "big.zip"
    count = 300_000
    text = "\r\n".join(f"416,{5_000_000 + i}" for i in range(count))
    xml = "<dncl>\n" + "".join(f"<ac val='604'><ph val='{5_000_000 + i}'/></ac>\n"
                                for i in range(count // 3)) + "</dncl>"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("416.csv", text)
        zf.writestr("604.xml", xml)
    result = cli("dncl", "import", str(path), *AS_OF, "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json == [{"area_code": "416", "numbers": count, "as_of": "2027-01-10"},
                           {"area_code": "604", "numbers": count // 3, "as_of": "2027-01-10"}]


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_corrupted_bzip2_and_lzma_members_are_bad_input(cli, db, tmp_path, method):
    path = _write(tmp_path / "d_other.zip", {"416.csv": LINES}, method)
    data = bytearray(path.read_bytes())
    start = data.index(b"416.csv") + len("416.csv") + 40  # well inside the compressed data
    for offset in range(start, start + 64):
        data[offset] ^= 0x5A
    path.write_bytes(bytes(data))
    _refused(cli, db, path, "416.csv")
