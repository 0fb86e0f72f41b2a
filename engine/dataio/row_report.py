"""What an import records about its rows: refusals, possible duplicates, and the counters a
rolled-back batch gives back.

A message about a duplicate names the records a rule matched by title and id. A record an
earlier row of the same file created is named "(an earlier row of this file)" instead: the
run, or that row's batch, may be rolled back (always, in a dry run), and then no record
with that id exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.dataio.report import ImportReport, RowError
from engine.errors import FieldError, TesseraError
from engine.meta.model import EntityDef
from engine.storage import writing as w
from engine.storage.duplicates import POSSIBLE_DUPLICATE, DuplicateOptions

EARLIER_ROW = "(an earlier row of this file)"


def own_records(conn: Connection, snap: Any, actor: Any, since: Any, matches: Iterable[dict[str, Any]]) -> set[str]:
    """The ids among ``matches`` (``{"entity", "id"}``) of records ``actor`` created since
    ``since``, in this transaction: the import's own."""
    by_entity: dict[str, list[str]] = {}
    for match in matches:
        by_entity.setdefault(match["entity"], []).append(match["id"])
    own: set[str] = set()
    for entity, ids in by_entity.items():
        table = snap.tables.main(entity)
        by = table.c.created_by == actor.user_id if actor.user_id else table.c.created_by.is_(None)
        own.update(
            conn.execute(sa.select(table.c.id).where(table.c.id.in_(ids), by, table.c.created_at >= since)).scalars()
        )
    return own


def _named(message: str, own: set[str]) -> str:
    for record_id in own:
        message = message.replace(f"({record_id})", EARLIER_ROW)
    return message


class RowReporting:
    """The importer's bookkeeping of its rows (mixed into ``engine.dataio.importing``)."""

    report: ImportReport
    entity: EntityDef
    snap: Any
    actor: Any
    #: when the run began: records its actor created since are the run's own
    started: Any
    header_of: dict[str, str]
    #: the batch's flags not yet checked for records of earlier rows, with their matches
    unnamed: list[tuple[RowError, list[dict[str, Any]]]]

    def _counters(self) -> tuple[int, ...]:
        r = self.report
        return (r.created, r.updated, r.unchanged, r.skipped, r.flagged, r.failed, len(r.errors), len(r.flags))

    def _restore(self, counters: tuple[int, ...]) -> None:
        r = self.report
        r.created, r.updated, r.unchanged, r.skipped, r.flagged, r.failed, errors, flags = counters
        del r.errors[errors:], r.flags[flags:]
        self.unnamed = []

    def _report_refusal(self, conn: Connection, number: int, cells: list[str | None], exc: Exception) -> None:
        if isinstance(exc, sa.exc.IntegrityError):
            self._fail_errors(number, cells, w.conflict_from(self.entity, exc).errors)
        elif isinstance(exc, sa.exc.DataError):
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "out of range"
            self._fail(number, cells, None, f"A value is out of range: {reason}")
        elif isinstance(exc, TesseraError):
            errors = exc.errors or [FieldError("(record)", exc.detail)]
            found = getattr(exc, "extensions", {}).get("duplicates", ())
            matches = [m for f in found for m in f["matches"]]
            own = own_records(conn, self.snap, self.actor, self.started, matches) if self.report.created else set()
            self._fail_errors(number, cells, [FieldError(e.field, _named(e.message, own), e.index) for e in errors])

    def _flag(self, number: int, cells: list[str | None], duplicates: DuplicateOptions) -> bool:
        """Report the rule warnings of a row written anyway; True if there were any. Records
        of earlier rows are named at the end of the batch (``_name_earlier_rows``)."""
        if not duplicates.warnings:
            return False
        self.report.flagged += 1
        for warning in duplicates.warnings:
            text = warning["message"]  # marked as a flag, once (a rule without a message says it already)
            text = text if text.startswith(POSSIBLE_DUPLICATE) else f"{POSSIBLE_DUPLICATE}: {text}"
            flag = RowError(number, None, None, text, cells)
            self.report.flags.append(flag)
            if warning.get("matches"):
                self.unnamed.append((flag, warning["matches"]))
        return True

    def _name_earlier_rows(self, conn: Connection) -> None:
        """Name the records earlier rows created in the batch's flags: one query a batch."""
        pending, self.unnamed = self.unnamed, []
        if pending and self.report.created:  # nothing created yet: every match is older
            own = own_records(conn, self.snap, self.actor, self.started, (m for _, ms in pending for m in ms))
            for flag, _ in pending:
                flag.message = _named(flag.message, own)

    def _fail_errors(self, number: int, cells: list[str | None], errors: list[FieldError]) -> None:
        self._fail_all(
            [
                RowError(
                    number,
                    self.header_of.get(e.field.split("[")[0].split(".")[0]),
                    None if e.field.startswith("(") else e.field,
                    e.message,
                    cells,
                )
                for e in errors
            ]
        )

    def _fail(
        self, number: int, cells: list[str | None], field: str | None, message: str, column: str | None = None
    ) -> None:
        self._fail_all([RowError(number, column or self.header_of.get(field or ""), field, message, cells)])

    def _fail_all(self, errors: list[RowError]) -> None:
        self.report.failed += 1
        for error in errors:
            self.report.add_error(error)
