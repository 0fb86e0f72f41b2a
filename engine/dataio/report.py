"""What an import is asked to do and what it did: options, row errors, the report.

The report is what the CLI prints, what the API's import job returns, and what the
row-level error CSV is written from (``write_error_report``).
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.dataio.formulas import neutralise
from engine.errors import BadRequest
from engine.timezones import zone_named

DEDUPE_MODES = ("skip", "update", "flag")
#: row errors kept in memory; beyond this the rows are still counted as failed
MAX_ERRORS = 100_000
MAX_BATCH = 10_000
#: rows per batch unless asked: with ``partial`` the unit that is committed or rolled back;
#: otherwise only rows written together (fewer waits for the database at batches' ends)
PARTIAL_BATCH, BATCH = 1000, 2500


@dataclass
class ImportOptions:
    #: column header -> field (``account.code`` matches a link by ``code``; None ignores
    #: the column); None: every column matched automatically by header ~ field name/label
    mapping: dict[str, str | None] | None = None
    #: upsert: a row whose value of this field matches a live record updates that record
    key: str | None = None
    #: what to do with a row the entity's duplicate rules match: skip it, update the one
    #: matching record, or create it and flag it in the report; None: as the rule says
    dedupe: str | None = None
    #: process every row and report, then write nothing
    dry_run: bool = False
    #: commit batch by batch (a batch with an error is rolled back, the others land);
    #: default: the whole file in one transaction, all or nothing
    partial: bool = False
    #: rows per batch; None: 1000 with ``partial``, else 2500 (see ``batch_rows``)
    batch_size: int | None = None
    #: automation rules, assignment rules and webhooks react to the imported records
    rules: bool = True
    #: the source category set on every created record (entities with ``source_detail``)
    source_detail: str | None = None
    #: field -> value for created records whose row leaves the field empty (template ``constants``)
    defaults: dict[str, Any] = field(default_factory=dict)
    #: with a mapping: also match the columns it does not name automatically
    auto: bool = True
    #: a mapped column missing from the file is an error (templates: False, they serve several layouts)
    require_columns: bool = True
    #: field -> {cell text: stored value}, e.g. {"status": {"Open Deal": "qualified"}}
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    #: ambiguous slash dates: "dmy" (31/01/2026) or "mdy" (01/31/2026)
    date_order: str = "dmy"
    #: decimal separator: "auto", "." or ","
    decimal: str = "auto"
    #: time zone of datetimes without an offset
    timezone: str = "UTC"
    #: a large file's rows may be converted and checked in a second process while this one
    #: writes (engine.dataio.import_rows); False keeps everything in this process
    parallel: bool = True

    @property
    def batch_rows(self) -> int:
        """The rows of a batch: ``batch_size``, else the default for the mode."""
        return self.batch_size or (PARTIAL_BATCH if self.partial else BATCH)


def check_options(options: ImportOptions) -> None:
    """Refuse options no run could honour, before a row is read."""
    if options.dedupe is not None and options.dedupe not in DEDUPE_MODES:
        raise BadRequest(f"dedupe must be one of {', '.join(DEDUPE_MODES)} (got {options.dedupe!r})")
    if options.batch_size is not None and not 1 <= options.batch_size <= MAX_BATCH:
        raise BadRequest(f"the batch size must be between 1 and {MAX_BATCH}")
    if options.date_order not in ("dmy", "mdy"):
        raise BadRequest("the date order must be dmy or mdy")
    if options.decimal not in ("auto", ".", ","):
        raise BadRequest("the decimal separator must be auto, '.' or ','")
    if zone_named(options.timezone) is None:
        raise BadRequest(f"unknown time zone {options.timezone!r}")


@dataclass
class RowError:
    #: 1-based data row as in the file (row 1 is the first row under the header)
    row: int
    column: str | None
    field: str | None
    message: str
    #: the row's original cells, for the error report
    values: list[str | None] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "field": self.field, "message": self.message}


@dataclass
class Batch:
    first_row: int
    last_row: int
    rows: int
    written: bool = False
    failed: int = 0


@dataclass
class ImportReport:
    entity: str
    total: int = 0
    created: int = 0
    updated: int = 0
    #: rows whose record (found by key or by a duplicate rule) already held their values
    unchanged: int = 0
    skipped: int = 0
    flagged: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)
    dry_run: bool = False
    #: whether anything landed in the database (all of it, or some batches with ``partial``)
    written: bool = False
    #: rows without an error that were rolled back with their batch (``partial``) or the run
    not_written: int = 0
    source: str = ""
    #: column header -> field it filled
    mapping: dict[str, str] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)
    #: rows created or updated although duplicate rules matched them
    flags: list[RowError] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    partial: bool = False
    #: the file's header row (the error report repeats it)
    headers: list[str] = field(default_factory=list)

    def add_error(self, error: RowError) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)

    @property
    def errors_truncated(self) -> bool:
        return len(self.errors) >= MAX_ERRORS

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "source": self.source,
            "total": self.total,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "flagged": self.flagged,
            "failed": self.failed,
            "dry_run": self.dry_run,
            "partial": self.partial,
            "written": self.written,
            "not_written": self.not_written,
            "mapping": self.mapping,
            "ignored_columns": self.ignored_columns,
            "errors": [e.as_dict() for e in self.errors],
            "errors_truncated": self.errors_truncated,
            "flags": [e.as_dict() for e in self.flags],
            "batches": [asdict(b) for b in self.batches] if self.partial else [],
        }


def write_error_report(report: ImportReport, path: Path, headers: list[str] | None = None) -> None:
    """The row-level report as CSV: ``row, column, field, message`` and the row's cells.

    Flagged rows (written, but matched by a duplicate rule) are listed too, their message
    starting with "Possible duplicate". Every text from the file (the header row included) is
    neutralised (:mod:`engine.dataio.formulas`) so a spreadsheet opening the report does not
    run it as a formula."""
    entries = sorted([*report.errors, *report.flags], key=lambda e: e.row)
    headers = headers if headers is not None else report.headers
    width = max([len(headers), *(len(e.values or []) for e in entries)])
    names = list(headers) + [f"column {i + 1}" for i in range(len(headers), width)]
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "column", "field", "message", *(_safe(n) for n in names)])
        for e in entries:
            cells = [_safe(c) for c in (e.values or [])]
            writer.writerow([e.row, _safe(e.column), e.field or "", _safe(e.message), *cells])


def _safe(text: str | None) -> str:
    return "" if text is None else neutralise(text)
