"""Files as tables of text cells: CSV (any delimiter, BOM, common encodings) and XLSX.

Rows are streamed: a multi-gigabyte file is read one row at a time and never held in
memory. Everything a reader cannot make sense of is a ``SourceError`` with one sentence
that names the file and, where it helps, the row, so an import stops before it writes
anything (see engine.dataio.importing).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from engine.dataio.convert import NumberText
from engine.dataio.formulas import FORMULA_START
from engine.errors import BadRequest

#: bytes read to guess the encoding and the delimiter
SAMPLE_BYTES = 64 * 1024
#: the delimiters a sniffed CSV may use
DELIMITERS = ",;\t|"
#: a cell larger than this is refused (csv's own limit is 128 KiB)
MAX_CELL = 1024 * 1024
XLSX_SUFFIXES = (".xlsx", ".xlsm")
#: how a file in another encoding is read, from the command line or over HTTP
ENCODING_HINT = "give the right encoding (--encoding, or encoding= over HTTP)"
BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

Cell = str | None


class SourceError(BadRequest):
    """A file that cannot be read as a table (encoding, format, formulas, emptiness)."""


@dataclass
class Table:
    """A file read as text cells: the header row, then the data rows, streamed."""

    #: the file name, for reports and messages
    name: str
    headers: list[str]
    #: data rows; a blank line is an empty list (the importer skips it, keeping row numbers)
    rows: Iterator[list[Cell]]
    #: what was detected or given, for the report: "csv" or "xlsx"
    format: str = "csv"
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None


def read_table(
    source: Path | bytes | BinaryIO,
    *,
    filename: str,
    delimiter: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
) -> Table:
    """Open ``source`` as a table; the format follows the file name (``.xlsx``) or content."""
    stream = _binary(source)
    head = stream.read(8)
    stream.seek(0)
    if filename.lower().endswith(".xls") or head.startswith(b"\xd0\xcf\x11\xe0"):
        raise SourceError(f"{filename}: old Excel files (.xls) are not supported; save it as .xlsx or CSV")
    if filename.lower().endswith(XLSX_SUFFIXES) or head.startswith(b"PK\x03\x04"):
        return _read_xlsx(stream, filename, sheet)
    if sheet is not None:
        raise SourceError(f"{filename}: a sheet name applies to XLSX files only")
    return _read_csv(stream, filename, delimiter, encoding)


def _binary(source: Path | bytes | BinaryIO) -> BinaryIO:
    if isinstance(source, Path):
        return source.open("rb")
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(bytes(source))
    if not source.seekable():  # an upload stream: spool it (to disk when large)
        import tempfile

        spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 (closed by the reader)
        while chunk := source.read(1024 * 1024):
            spool.write(chunk)
        spool.seek(0)
        return spool  # type: ignore[return-value]
    return source


# --- CSV ---------------------------------------------------------------------------------
def _encoding_of(sample: bytes, filename: str) -> str:
    """The encoding: a byte order mark wins; then UTF-8 if the sample is UTF-8; else
    Windows-1252, what spreadsheet programs write as "CSV" on Western Windows systems."""
    for bom, name in BOMS:
        if sample.startswith(bom):
            return name
    if b"\x00" in sample:
        raise SourceError(
            f"{filename}: the file contains NUL bytes (UTF-16 without a byte order mark?); {ENCODING_HINT}"
        )
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "cp1252"


def _read_csv(stream: BinaryIO, filename: str, delimiter: str | None, encoding: str | None) -> Table:
    sample = stream.read(SAMPLE_BYTES)
    stream.seek(0)
    if not sample.strip():
        stream.close()
        raise SourceError(f"{filename}: the file is empty")
    if encoding is None:
        encoding = _encoding_of(sample, filename)
    else:
        try:
            codecs.lookup(encoding)
        except LookupError:
            stream.close()
            raise SourceError(f"unknown encoding {encoding!r}") from None
        if encoding.replace("_", "-").lower() in ("utf-8", "utf8") and sample.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"
    try:
        sample_text = codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except UnicodeDecodeError as exc:
        stream.close()
        raise SourceError(f"{filename}: not readable as {encoding} ({_reason(exc)}); {ENCODING_HINT}") from None
    if delimiter is None:
        delimiter = _sniff(sample_text)
    elif delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if len(delimiter) != 1:
        stream.close()
        raise SourceError(f"the delimiter must be one character (got {delimiter!r})")
    csv.field_size_limit(MAX_CELL)
    lines = _lines(stream, encoding, filename)
    reader = csv.reader(lines, delimiter=delimiter, strict=False)
    try:
        headers = header_row(next(reader, []), filename)
    except csv.Error as exc:
        stream.close()
        raise SourceError(f"{filename}: the header row cannot be read ({exc})") from None
    except SourceError:
        stream.close()
        raise
    return Table(filename, headers, _csv_rows(reader, stream, filename), "csv", encoding, delimiter)


def _lines(stream: BinaryIO, encoding: str, filename: str) -> Iterator[str]:
    """Decoded lines; a byte the encoding cannot read is reported with its line number.

    Single-byte and UTF-8 files are decoded line by line (a newline byte is never part
    of a multi-byte character there), so the number is exact; UTF-16 goes through a
    text wrapper."""
    if codecs.lookup(encoding).name.startswith("utf-16"):
        text = io.TextIOWrapper(stream, encoding=encoding, newline="")
        try:
            yield from text
        except UnicodeDecodeError as exc:
            raise SourceError(f"{filename}: not valid {encoding} ({_reason(exc)}); {ENCODING_HINT}") from None
        return
    decoder = codecs.getdecoder(encoding)
    for number, raw in enumerate(stream, start=1):
        if number == 1 and encoding == "utf-8-sig" and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield decoder(raw)[0]
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"{filename}: line {number} is not valid {encoding} ({_reason(exc)}); {ENCODING_HINT}"
            ) from None


def _sniff(sample: str) -> str:
    lines = sample.splitlines()[:20]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # a cut-off last line would mislead the count
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        # one column, or the sniffer gave up: the most frequent candidate in the header
        first = lines[0] if lines else ""
        best = max(DELIMITERS, key=first.count)
        return best if first.count(best) else ","


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"{exc.reason} at byte 0x{exc.object[exc.start]:02x}"
    return str(exc)


def _csv_rows(reader: Any, stream: BinaryIO, filename: str) -> Iterator[list[Cell]]:
    row = 0
    try:
        while True:
            row += 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise SourceError(f"{filename}: row {row} cannot be read ({exc})") from None
            yield [(restore(c) if c[0] == "'" else c) if c != "" else None for c in cells]
    finally:
        stream.close()


def header_row(cells: list[Any], filename: str) -> list[str]:
    """A table's column names from its first row's cells (any source: a file, a sheet read
    through an API): stripped, trailing blanks dropped, none named twice."""
    headers = [("" if c is None else str(c)).strip().lstrip("\ufeff").strip() for c in cells]
    while headers and headers[-1] == "":
        headers.pop()
    if not headers:
        raise SourceError(f"{filename}: the file is empty (no header row)")
    seen: set[str] = set()
    for name in headers:
        if name and name.casefold() in seen:
            raise SourceError(f"{filename}: the column {name!r} appears twice in the header row")
        seen.add(name.casefold())
    return headers


# --- XLSX --------------------------------------------------------------------------------
def _read_xlsx(stream: BinaryIO, filename: str, sheet: str | None) -> Table:
    """Cells as the spreadsheet last saved them: a formula gives its cached value, and a
    formula without one (a file written by a program, never opened in Excel) is refused:
    formulas are never evaluated here."""
    from openpyxl import load_workbook

    try:
        values_book = load_workbook(stream, read_only=True, data_only=True)
        stream.seek(0)
        formula_book = load_workbook(stream, read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        stream.close()
        raise SourceError(f"{filename}: not a readable XLSX file ({exc})") from None
    names = values_book.sheetnames
    if sheet is None:
        chosen = names[0]
    elif sheet in names:
        chosen = sheet
    else:
        stream.close()
        raise SourceError(f"{filename}: no sheet {sheet!r} (sheets: {', '.join(names)})")
    values = values_book[chosen].iter_rows(values_only=True)
    formulas = formula_book[chosen].iter_rows(values_only=True)

    def cells(number: int, cached: tuple[Any, ...], raw: tuple[Any, ...]) -> list[Cell]:
        out: list[Cell] = []
        for col, (value, source) in enumerate(zip(cached, raw, strict=False), start=1):
            if value is None and isinstance(source, str) and source.startswith("="):
                raise SourceError(
                    f"{filename}: cell {_column_letter(col)}{number} holds a formula without a saved value; "
                    "open and save the file in a spreadsheet program, or paste the values"
                )
            out.append(_cell_text(value))
        while out and out[-1] is None:
            out.pop()
        return out

    try:  # the header is the first row with a cell (blank rows above it are skipped)
        first: list[Cell] = []
        at = 0
        for at, (cached, raw) in enumerate(zip(values, formulas, strict=False), start=1):
            if first := cells(at, cached, raw):
                break
        if not first:
            raise SourceError(f"{filename}: the sheet {chosen!r} is empty")
        headers = header_row(first, filename)
    except SourceError:
        stream.close()
        raise

    def rows() -> Iterator[list[Cell]]:
        try:
            for number, (cached, raw) in enumerate(zip(values, formulas, strict=False), start=at + 1):
                yield cells(number, cached, raw)
        finally:
            values_book.close()
            formula_book.close()
            stream.close()

    return Table(filename, headers, rows(), "xlsx", sheet=chosen)


def restore(text: str) -> str:
    """A cell as it was before an export neutralised it (``'=1+1`` is ``=1+1``,
    ``'+49 30 1234`` is ``+49 30 1234``): the import reads back what the export wrote, as a
    spreadsheet program does, whose ``'`` is never part of the value."""
    return text[1:] if text[:1] == "'" and text[1:2] and text[1] in FORMULA_START else text


def _column_letter(index: int) -> str:
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell_text(value: Any) -> Cell:
    """A spreadsheet value as the text a CSV would hold (dates as ISO 8601)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):  # an elapsed-time cell ([h]:mm): seconds, as durations count
        return NumberText(int(value.total_seconds()))
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return NumberText(int(value))
        return NumberText(format(Decimal(repr(value)), "f"))
    if isinstance(value, int | Decimal):
        return NumberText(value)
    text = restore(str(value))
    return text if text != "" else None
