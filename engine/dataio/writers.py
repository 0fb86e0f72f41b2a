"""File formats of exports: rows in, bytes out, a chunk at a time (constant memory).

Each writer takes an iterator of rows and yields ``bytes`` while it consumes them, so an
export of a million records never holds more than one page of them. The spreadsheet
formats (CSV, XLSX) neutralise text that would run as a formula (``engine.dataio.formulas``);
JSON Lines write every value exactly as the API shows it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import simplejson
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from engine.dataio.formulas import neutralise

#: format -> (media type, file extension)
FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "jsonl": ("application/x-ndjson", "jsonl"),
}
#: bytes gathered before a chunk is handed on: big enough for few writes, small enough to stream
CHUNK = 64 * 1024
#: Excel's limit for one cell; a longer text would make the file unreadable to it
XLSX_CELL_LIMIT = 32_767


def csv_text(value: Any) -> str:
    """A CSV cell: empty for no value, ``true``/``false``, exact decimals, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(neutralise(value))


def csv_chunks(rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """UTF-8 CSV with a byte order mark (so spreadsheet programs detect the encoding)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    for row in rows:
        writer.writerow([csv_text(v) for v in row])
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def xlsx_value(value: Any) -> Any:
    """An XLSX cell: numbers, booleans and dates as such, text neutralised and always text."""
    if value is None or isinstance(value, bool | int | float | Decimal | dt.date):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)  # Excel has no time zones: UTC
        return value
    # control characters XML cannot hold go first: what follows them may start a formula
    text = neutralise(ILLEGAL_CHARACTERS_RE.sub("", str(value)))
    return text[:XLSX_CELL_LIMIT]


def xlsx_chunks(title: str, rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """One worksheet in openpyxl's write-only mode, which spools rows to disk as they come.

    An XLSX file is a zip archive whose directory is written last, so the bytes come out
    once every row is in; memory stays flat all the same (the rows wait in a temporary file).
    """
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    for row in rows:
        sheet.append([xlsx_value(v) for v in row])
    with tempfile.TemporaryFile() as spool:
        book.save(spool)
        spool.seek(0)
        while chunk := spool.read(CHUNK):
            yield chunk


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_text(value: Any) -> str:
    """Compact JSON with exact decimals (the API's own numbers)."""
    return simplejson.dumps(value, use_decimal=True, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def jsonl_chunks(records: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """One JSON object per line, values unchanged (programs read these, not spreadsheets)."""
    buffer = io.StringIO()
    for record in records:
        buffer.write(json_text(record))
        buffer.write("\n")
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")
