"""Exporting an entity's records as CSV, XLSX or JSON Lines, as one user may see them.

``open_export`` checks everything a user can get wrong (entity, format, fields, the DSL
filter, the ``export`` permission) by reading the first page, so a mistake is a clear
error before a single byte is sent. ``Export.chunks()`` then streams the file: records
come from the data-access layer (``Records.list`` with ``action="export"``) a page at a
time, by keyset cursor, and go straight into a writer (``engine.dataio.writers``), so
memory stays flat whether there are a hundred records or a million.

What a user may not read never appears: the records are those both their ``read`` and
their ``export`` grants allow, the columns are the fields their role may read (a hidden
field named in ``fields`` or in the filter is an unknown field, as in the API).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.actor import Actor
from engine.dataio.writers import FORMATS, csv_chunks, json_text, jsonl_chunks, xlsx_chunks
from engine.errors import BadRequest
from engine.meta.model import SYSTEM_FIELDS, EntityDef
from engine.storage.listing import MAX_LIMIT, field_type
from engine.storage.reading import Page

#: the order of an export unless asked otherwise: ids never change, so a record edited
#: while the export runs is neither skipped nor written twice
DEFAULT_SORT = "id"
#: values shown as JSON text in a spreadsheet cell (structured, or of any shape)
_JSON_TYPES = {"json", "table"}


@dataclass
class Export:
    """One export, validated and ready to stream (see :func:`open_export`)."""

    records_api: Any
    actor: Actor
    entity: EntityDef
    format: str
    columns: list[str]
    params: dict[str, str]
    first: Page
    #: how many records the stream has written so far
    count: int = field(default=0, init=False)
    #: XLSX: how many text cells were cut to Excel's limit (known once the stream is done)
    cut_cells: int = field(default=0, init=False)

    @property
    def media_type(self) -> str:
        return FORMATS[self.format][0]

    @property
    def filename(self) -> str:
        stamp = dt.datetime.now(dt.UTC).date().isoformat()
        return f"{self.entity.name}-{stamp}.{FORMATS[self.format][1]}"

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record of the export, one page in memory at a time."""
        page = self.first
        while True:
            for record in page.data:
                self.count += 1
                yield record
            if not page.next_cursor:
                return
            page = self.records_api.list(
                self.actor, self.entity.name, {**self.params, "cursor": page.next_cursor}, action="export"
            )

    def rows(self) -> Iterator[list[Any]]:
        """The header (field names), then one row of spreadsheet cells per record."""
        yield list(self.columns)
        kinds = [(name, field_type(self.entity, name) or "string") for name in self.columns]
        dates = self.format == "xlsx"  # real dates in a workbook; ISO text in CSV
        for record in self.records():
            yield [cell(kind, record.get(name), dates) for name, kind in kinds]

    def chunks(self) -> Iterator[bytes]:
        """The file, a chunk of bytes at a time."""
        if self.format == "csv":
            return csv_chunks(self.rows())
        if self.format == "xlsx":
            return xlsx_chunks(self.entity.name, self.rows(), on_cut=self._cells_cut)
        return jsonl_chunks({name: record.get(name) for name in self.columns} for record in self.records())

    def _cells_cut(self, count: int) -> None:
        self.cut_cells = count


def cell(kind: str, value: Any, dates: bool = False) -> Any:
    """A record value as one spreadsheet cell (a scalar; the writer makes text safe)."""
    if value is None:
        return None
    if kind == "file" and isinstance(value, dict):
        return value.get("name")
    if kind in _JSON_TYPES or isinstance(value, dict):
        return json_text(value)
    if isinstance(value, list):
        if all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            return "; ".join(str(v) for v in value)  # ids of a links field, multi_enum values: as import splits
        return json_text(value)
    if dates and isinstance(value, str) and kind in ("date", "datetime"):
        try:
            return dt.date.fromisoformat(value) if kind == "date" else dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _names(text: str | Sequence[str] | None) -> list[str]:
    if text is None:
        return []
    parts = text.split(",") if isinstance(text, str) else list(text)
    return [p.strip() for p in parts if p.strip()]


def open_export(
    records_api: Any,
    actor: Actor,
    entity_name: str,
    *,
    format: str = "csv",
    filter: str | None = None,
    fields: str | Sequence[str] | None = None,
    sort: str | None = None,
) -> Export:
    """Validate an export and read its first page; raises ``TesseraError`` for bad input.

    ``records_api`` is the workspace's ``Records``; ``fields`` a comma list or sequence of
    field names (default: the system fields and every field the actor may read)."""
    if format not in FORMATS:
        raise BadRequest(f"Unknown export format {format!r}: use one of {', '.join(FORMATS)}")
    names = _names(fields)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise BadRequest(f"Field(s) named twice in fields: {', '.join(repeated)}")
    params = {"limit": str(MAX_LIMIT), "sort": sort or DEFAULT_SORT}
    if filter and filter.strip():
        params["filter"] = filter
    if names:
        params["fields"] = ",".join(names)
    # the first page checks entity, permission, fields, sort and filter before anything is sent
    first = records_api.list(actor, entity_name, params, action="export")
    visible = records_api.catalog_for(actor).entities[entity_name]
    columns = names or [*SYSTEM_FIELDS, *visible.fields]
    return Export(records_api, actor, visible, format, columns, params, first)
