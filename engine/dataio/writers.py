"""File formats of exports: rows in, bytes out, a chunk at a time (constant memory).

Each writer takes an iterator of rows and yields ``bytes`` while it consumes them, so an
export of a million records never holds more than one page of them. CSV neutralises text
that would run as a formula (``engine.dataio.formulas``); XLSX writes text as typed text
cells, which a spreadsheet never evaluates, so the text stays exactly as typed; JSON Lines
write every value exactly as the API shows it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import simplejson
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
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
#: the largest integers and the significant digits a spreadsheet's double holds exactly
EXACT_INTEGER = 2**53
EXACT_DIGITS = 15


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
    """An XLSX cell value: numbers, booleans and dates as such, everything else as text.

    A spreadsheet holds a number as a double: an integer beyond 2**53 in magnitude or a
    decimal with more than 15 significant digits would be rounded, so those become text
    (exact). Control characters XML cannot hold are dropped from text."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > EXACT_INTEGER:
        return str(value)
    if isinstance(value, Decimal) and value.is_finite() and len(value.normalize().as_tuple().digits) > EXACT_DIGITS:
        return str(value)
    if isinstance(value, int | float | Decimal | dt.date):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)  # Excel has no time zones: UTC
        return value
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def xlsx_text(text: str) -> tuple[str, bool]:
    """``text`` within Excel's limit for a cell, and whether it had to be cut (it then ends
    with an ellipsis, so a reader sees that something is missing)."""
    if len(text) <= XLSX_CELL_LIMIT:
        return text, False
    return text[: XLSX_CELL_LIMIT - 1] + "\u2026", True


def _text_cell(sheet: Any, text: str) -> WriteOnlyCell:
    """A cell typed as text. A spreadsheet never evaluates a text cell, so ``=1+1``, ``+49 30``
    or ``@SUM(A1)`` stay exactly what was typed; no quote is needed (openpyxl alone would turn
    a text starting with ``=`` into a formula)."""
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    return cell


def xlsx_chunks(
    title: str, rows: Iterable[Sequence[Any]], on_cut: Callable[[int], None] | None = None
) -> Iterator[bytes]:
    """One worksheet in openpyxl's write-only mode, which spools rows to disk as they come.

    An XLSX file is a zip archive whose directory is written last, so the bytes come out
    once every row is in; memory stays flat all the same (the rows wait in a temporary file).
    ``on_cut`` is told how many text cells were cut to Excel's limit, once every row is in.
    """
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    cut = 0
    for row in rows:
        cells = []
        for raw in row:
            value = xlsx_value(raw)
            if isinstance(value, str):
                value, was_cut = xlsx_text(value)
                cut += was_cut
                value = _text_cell(sheet, value)
            cells.append(value)
        sheet.append(cells)
    if cut and on_cut is not None:
        on_cut(cut)
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
