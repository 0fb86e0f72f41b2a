"""Import a table of cells into an entity, through the data-access layer.

Each row is converted (``engine.dataio.convert``), its references resolved in batches
(``engine.dataio.links``), then validated and written exactly as an API write is
(``Records._load`` / ``_insert`` / ``_apply_update``: field permissions, validations,
duplicate rules, audit, automation). Rows are processed in batches inside one
transaction, each row in a savepoint so that a refused row is reported and the others
continue (like ``engine.storage.bulk``):

* by default the whole file is one transaction: any row error, and nothing is written;
* ``partial``: one transaction per batch; a batch with an error is rolled back whole,
  the others land, and the report lists which batches did;
* ``dry_run``: everything is done, then rolled back, so the report is exactly what a real
  run would say (duplicates inside the file included).

``rules=False`` runs the import with a copy of the metadata snapshot whose automation
lacks the components with side effects (rules, assignment rules, webhooks); workflows,
rollups and SLA bookkeeping still run, since they keep records consistent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.dataio.convert import REFERENCES, ConversionError, ConvertOptions, converter
from engine.dataio.import_constants import import_constants
from engine.dataio.import_rows import ReadyRow, collection_between_batches, numbered_batches, paced, ready_batches
from engine.dataio.links import LinkResolver, existing_keys
from engine.dataio.mapping import MappingError, Plan, plan_columns
from engine.dataio.report import Batch, ImportOptions, ImportReport, RowError, check_options, write_error_report
from engine.dataio.row_report import RowReporting
from engine.dataio.sources import Table
from engine.errors import FieldError, PermissionDenied, TesseraError
from engine.meta.model import EntityDef
from engine.storage import writing as w
from engine.storage.create_batch import CreateBatch
from engine.storage.database import write_transaction
from engine.storage.duplicates import DuplicateGuard, DuplicateOptions

__all__ = ["ImportOptions", "ImportReport", "RowError", "import_table", "write_error_report"]

#: automation components whose reactions an import may switch off (``--no-rules``)
SIDE_EFFECTS = frozenset({"rules", "assignment", "webhooks"})


class _Retry(Exception):
    """A row was refused in a batch written without savepoints: write it again with them."""


class _Rollback(Exception):
    """Leave a transaction without committing (dry run, or a batch with errors)."""


@contextmanager
def _savepoint(conn: Connection) -> Iterator[Connection]:
    with conn.begin_nested():
        yield conn


def without_rules(snap: Any) -> Any:
    """The snapshot with its side-effect automation off; the metadata is otherwise the same."""
    automation = dataclasses.replace(
        snap.automation, components=[c for c in snap.automation.components if c.name not in SIDE_EFFECTS]
    )
    return dataclasses.replace(snap, automation=automation)


def import_table(
    ws: Any,
    actor: Actor,
    entity_name: str,
    table: Table,
    options: ImportOptions,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import every row of ``table`` into ``entity_name`` as ``actor``; see the module doc.

    Raises a ``TesseraError`` for what makes the whole run impossible (no permission, a
    mapping naming an unknown field, an unreadable file); row problems go in the report."""
    return prepare_import(ws, actor, entity_name, table, options).run(progress)


def prepare_import(ws: Any, actor: Actor, entity_name: str, table: Table, options: ImportOptions) -> _Importer:
    """The run of :func:`import_table`, checked against the table's header row and ready to
    start (no row read yet): a ``TesseraError`` for what makes the whole run impossible."""
    check_options(options)
    records = ws.records
    snap = ws.snapshot()
    if not options.rules:
        snap = without_rules(snap)
    entity = records._entity(snap, actor, entity_name)
    access = records._access(snap, actor)
    if not access.can(entity, "import"):
        raise PermissionDenied(f"You may not import {entity.name} records")
    if entity.system and not actor.is_admin:
        raise PermissionDenied(f"Only administrators may change {entity.name} records")
    # columns match only fields the importer may read, so a hidden field's name never shows
    visible = access.visible_catalog().entities.get(entity.name, entity)
    writable = {name for name, mode in access.field_modes(entity).items() if mode == "write"}
    plan = plan_columns(visible, table.headers, options.mapping, options.auto, options.require_columns, writable)
    if not plan.columns:
        raise MappingError(
            f"no column of {table.name} matches a field of {entity.name} "
            f"(columns: {', '.join(h for h in table.headers if h)}); give a mapping"
        )
    return _Importer(ws, snap, actor, entity, table, plan, options)


class _Importer(RowReporting):
    """One run: converters and resolvers built once, then batch after batch."""

    def __init__(
        self, ws: Any, snap: Any, actor: Actor, entity: EntityDef, table: Table, plan: Plan, options: ImportOptions
    ):
        self.ws, self.records, self.snap, self.actor = ws, ws.records, snap, actor
        self.entity, self.table, self.plan, self.options = entity, table, plan, options
        # ";"-separated files come from locales that write decimal commas (Excel in DE, FR, ...)
        decimal = "," if options.decimal == "auto" and table.delimiter == ";" else options.decimal
        self.convert_options = ConvertOptions(options.date_order, decimal, options.timezone)
        self.readers = {
            c.index: converter(c.field, self.convert_options, options.values.get(c.field.name)) for c in plan.columns
        }
        self.rc = self.records._rc(actor, snap)
        self.resolvers = {c.index: LinkResolver(snap, self.rc, c) for c in plan.columns if c.field.type in REFERENCES}
        self.linked = {r.column.field.name for r in self.resolvers.values()}
        self.header_of = {c.field.name: c.header for c in plan.columns}
        self._run: Any = None
        self.started = self.records.clock()  # records created since by the actor: this run's (or a twin's)
        self.unnamed = []
        self.defaults = import_constants(ws, snap, self.rc, entity, options, self.convert_options)
        self.key = self._key()
        self.report = ImportReport(
            entity.name,
            dry_run=options.dry_run,
            partial=options.partial,
            source=table.name,
            mapping={c.header: c.field.name + (f".{c.by}" if c.by else "") for c in plan.columns},
            ignored_columns=plan.ignored,
            headers=list(table.headers),
        )

    # --- set-up --------------------------------------------------------------------------
    def _key(self) -> str | None:
        key = self.options.key
        if key is None:
            return None
        fd = self.entity.fields.get(key)
        if fd is None or not fd.has_column or fd.type in ("json", "links", "table", "multi_enum"):
            raise MappingError(f"{self.entity.name} has no single-valued stored field {key!r} to use as the key")
        if key not in self.header_of:
            raise MappingError(f"no column fills the key field {key!r}")
        return key

    # --- the run ---------------------------------------------------------------------------
    def run(self, progress: Callable[[int], None] | None) -> ImportReport:
        with collection_between_batches() as between:
            return self._write_batches(
                paced(
                    ready_batches(
                        numbered_batches(self.table.rows, self.options.batch_rows), self._ready, self.options.parallel
                    ),
                    progress,
                    between,
                )
            )

    def _write_batches(self, batches: Iterator[list[ReadyRow]]) -> ImportReport:
        report = self.report
        if report.partial and report.dry_run:  # each batch in a savepoint, as a real run's commit
            try:
                with write_transaction(self.ws.db) as conn:
                    for rows in batches:
                        self._write_batch(rows, conn)
                    raise _Rollback
            except _Rollback:
                return report
        if report.partial:
            try:
                for rows in batches:
                    self._write_batch(rows)
            except TesseraError as exc:  # the file cannot be read on (or the database refuses): say what stays
                if report.written:
                    exc.detail += (
                        f" (the batches before it stay written: {report.created} created, {report.updated} updated)"
                    )
                raise
            return report
        try:
            with write_transaction(self.ws.db) as conn:
                for rows in batches:
                    self._batch(conn, rows)
                if report.dry_run or report.failed:
                    raise _Rollback
            report.written = True
        except _Rollback:
            report.not_written = report.total - report.failed - report.skipped - report.unchanged
        return report

    def _write_batch(self, rows: list[ReadyRow], dry_run: Connection | None = None) -> None:
        """One batch of a ``--partial`` run, committed alone or rolled back; in a dry run, a
        savepoint of the run's transaction (``dry_run``) kept or rolled back the same way."""
        report = self.report
        batch = Batch(rows[0].number, rows[-1].number, len(rows))
        report.batches.append(batch)
        landed = (report.created, report.updated, report.unchanged, report.flagged, len(report.flags))
        try:
            with write_transaction(self.ws.db) if dry_run is None else _savepoint(dry_run) as conn:
                batch.failed = self._batch(conn, rows)
                if batch.failed:
                    raise _Rollback
            batch.written = True  # in a dry run: would be
            report.written = dry_run is None
        except _Rollback:  # the counters say what landed; the batch's good rows are not_written
            report.not_written += batch.rows - batch.failed
            report.created, report.updated, report.unchanged, report.flagged, flags = landed
            del report.flags[flags:]

    # --- one batch -------------------------------------------------------------------------
    def _batch(self, conn: Connection, rows: list[ReadyRow]) -> int:
        """Write one batch inside ``conn``'s transaction; returns the number of failed rows."""
        report = self.report
        failed_before = report.failed
        converted: list[ReadyRow] = []
        raws: dict[int, set[str]] = {i: set() for i in self.resolvers}
        for row in rows:
            report.total += 1
            values = row.values
            if values is None:
                self._fail_all(row.errors)
                continue
            for index, resolver in self.resolvers.items():
                raw = values.get(resolver.column.field.name)
                if raw is not None:
                    raws[index].update(raw if isinstance(raw, list) else [raw])
            converted.append(row)
        found = {i: self.resolvers[i].resolve(conn, raws[i]) for i in self.resolvers if raws[i]}
        linked = [row for row in converted if self._link(row.number, row.cells, row.values or {}, found)]
        table = self.snap.tables.main(self.entity.name)
        readable = self.rc.predicate(self.snap, self.entity, table)
        keys = existing_keys(conn, table, self.key, [r.values for r in linked], readable)
        now = self.records.clock()
        # Optimistically without a savepoint per row (two round trips less per row); a row
        # refused after it began writing rolls the batch back, and the batch is written
        # again with one savepoint per row, so the refused row alone is left out.
        counters = self._counters()
        try:
            with conn.begin_nested():
                self._write_rows(conn, linked, keys, now, savepoints=False)
        except _Retry:
            self._restore(counters)
            self._write_rows(conn, linked, keys, now, savepoints=True)
        self._name_earlier_rows(conn)
        return report.failed - failed_before

    def _write_rows(
        self,
        conn: Connection,
        rows: list[ReadyRow],
        keys: dict[Any, str],
        now: Any,
        savepoints: bool,
    ) -> None:
        created_keys: dict[Any, str] = {}
        # one automation run for the batch's creates, not one per row: a run lives until the
        # commit, and an import's transaction may hold a million rows
        if self.snap.automation.listens(self.entity.name):
            self._run = self.records._run(conn, self.snap, self.actor, now)
        # Without savepoints, new records that no duplicate rule can match are written
        # together (CreateBatch); the others, and updates, one at a time after a flush, so
        # they see every earlier row.
        batch = (
            None if savepoints else CreateBatch(self.records, conn, self.snap, self.actor, self.entity, now, self._run)
        )
        clean = batch.probe([{**self.defaults, **(r.values or {})} for r in rows]) if batch else [False] * len(rows)
        for row, fast in zip(rows, clean, strict=True):
            number, cells, values = row.number, row.cells, row.values or {}
            key_value = values.get(self.key) if self.key else None
            target = None
            if key_value is not None:
                target = created_keys.get(key_value) or keys.get(key_value)
                if target == "":
                    self._fail(
                        number, cells, self.key, f"Several {self.entity.name} records have {self.key} {key_value!r}."
                    )
                    continue
            if batch is not None and fast and target is None:
                record_id = self._add(batch, row)
                if record_id is not None and key_value is not None:
                    created_keys[key_value] = record_id
                continue
            if batch is not None:
                self._flush(batch)
            outcome = self._write(conn, number, cells, values, target, now, savepoints)
            if outcome is not None and key_value is not None and outcome[0] == "created" and outcome[1]:
                created_keys[key_value] = outcome[1]
        if batch is not None:
            self._flush(batch)

    def _flush(self, batch: CreateBatch) -> None:
        """Write the batch's new records; a refusal now (a unique index, a failing rule)
        cannot be pinned on a row: the batch is written again one savepoint per row."""
        try:
            self._run = batch.flush()
        except (sa.exc.IntegrityError, sa.exc.DataError, TesseraError) as exc:
            raise _Retry from exc

    def _add(self, batch: CreateBatch, row: ReadyRow) -> str | None:
        """Check a new record and keep it for the batch's write; None when refused (reported)."""
        values = row.values or {}
        try:  # checks write nothing: a refused row needs no rollback
            if row.loaded is None:
                loaded = self.records._load(self.snap, self.entity, self._with_defaults(values), self.actor)
            else:  # the rest was validated when the row was made ready
                links = {k: values[k] for k in self.linked if k in values}
                loaded = (
                    {**row.loaded, **self.records._load(self.snap, self.entity, links, self.actor)}
                    if links
                    else row.loaded
                )
            record_id = batch.add(loaded)
        except TesseraError as exc:
            self._fail_errors(row.number, row.cells, exc.errors or [FieldError("(record)", exc.detail)])
            return None
        self.report.created += 1
        return record_id

    def _with_defaults(self, values: dict[str, Any]) -> dict[str, Any]:
        """A new record's input: the row's values, and the constants for the fields it leaves empty."""
        return {**{k: v for k, v in self.defaults.items() if k not in values}, **values}

    def _ready(self, number: int, cells: list[str | None]) -> ReadyRow:
        """The row converted and, but for its link columns, validated as a new record (see
        ``engine.dataio.import_rows``; this may run in a second process: it reads and writes
        nothing, and reports nothing itself)."""
        values, errors = self._convert(number, cells)
        if values is None:
            return ReadyRow(number, cells, None, errors)
        data = self._with_defaults({k: v for k, v in values.items() if k not in self.linked})
        try:
            loaded = self.records._load(self.snap, self.entity, data, self.actor)
        except TesseraError:
            loaded = None  # validated again once linked, which reports every problem in order
        return ReadyRow(number, cells, values, [], loaded)

    def _convert(self, number: int, cells: list[str | None]) -> tuple[dict[str, Any] | None, list[RowError]]:
        """The row's values, or None and why not."""
        width = len(self.table.headers)
        extra = [c for c in cells[width:] if c is not None and c.strip()]
        if extra or (len(cells) < width and self.table.format == "csv"):
            message = f"The row has {len(cells)} cells; the header row has {width}."
            return None, [RowError(number, None, None, message, cells)]
        values: dict[str, Any] = {}
        errors: list[RowError] = []
        for column in self.plan.columns:
            raw = cells[column.index] if column.index < len(cells) else None
            if raw is None or not raw.strip():
                continue  # empty: the default on create, unchanged on update
            try:
                values[column.field.name] = self.readers[column.index](raw)
            except ConversionError as exc:
                errors.append(RowError(number, column.header, column.field.name, str(exc), cells))
        return (None, errors) if errors else (values, [])

    def _link(self, number: int, cells: list[str | None], values: dict[str, Any], found: dict[int, Any]) -> bool:
        """Replace reference cells by record ids; False (and reported) when one names no single record."""
        errors = []
        for index, resolver in self.resolvers.items():
            name = resolver.column.field.name
            raw = values.get(name)
            if raw is None:
                continue
            ids = []
            for part in raw if isinstance(raw, list) else [raw]:
                hits = found[index].get(part, set())
                if len(hits) != 1:
                    errors.append(
                        RowError(number, resolver.column.header, name, resolver.message(part, len(hits)), cells)
                    )
                else:
                    ids += list(hits)
            values[name] = list(dict.fromkeys(ids)) if isinstance(raw, list) else (ids[0] if ids else None)
        if errors:
            self._fail_all(errors)
            return False
        return True

    def _write(
        self,
        conn: Connection,
        number: int,
        cells: list[str | None],
        values: dict[str, Any],
        target: str | None,
        now: Any,
        savepoint: bool = True,
    ) -> tuple[str, str | None, bool] | None:
        """Create or update one record: what happened, the id, whether it was flagged as a
        possible duplicate; None when the row was refused (and reported). Without a
        ``savepoint``, a refusal after the first write raises ``_Retry`` instead."""
        records, snap, actor, entity, report = self.records, self.snap, self.actor, self.entity, self.report
        mode = self.options.dedupe
        duplicates = DuplicateOptions(allow=mode == "flag")
        try:  # input validation reads nothing and writes nothing: no savepoint needed
            if target is None:
                loaded = records._load(snap, entity, self._with_defaults(values), actor)
            else:
                loaded = records._load(snap, entity, values, actor)
        except TesseraError as exc:
            self._fail_errors(number, cells, exc.errors or [FieldError("(record)", exc.detail)])
            return None
        try:
            with conn.begin_nested() if savepoint else nullcontext():
                if target is None:
                    if mode in ("skip", "update"):
                        matched = self._duplicates_of(conn, loaded, now)
                        if matched and mode == "skip":
                            report.skipped += 1
                            return ("skipped", None, False)
                        same = sorted({m.id for m in matched if m.entity == entity.name and m.readable})
                        if mode == "update" and len(same) > 1:
                            raise TesseraError(
                                "ambiguous",
                                [FieldError("(record)", f"{len(same)} records match; cannot choose which to update.")],
                            )
                        if mode == "update" and same:
                            target = same[0]
                            loaded = records._load(snap, entity, values, actor)
                    if target is None:
                        record_id = records._insert(
                            conn, snap, actor, entity, loaded, now, self._run, duplicates=duplicates
                        )
                        report.created += 1
                        return ("created", record_id, self._flag(number, cells, duplicates))
                written = records._apply_update(
                    conn, snap, actor, entity, target, loaded, None, now, duplicates=duplicates
                )
                if not written:  # the record already holds the row's values
                    report.unchanged += 1
                    return ("unchanged", target, False)
                report.updated += 1
                return ("updated", target, self._flag(number, cells, duplicates))
        except (sa.exc.IntegrityError, sa.exc.DataError, TesseraError) as exc:
            if not savepoint:
                raise _Retry from exc
            self._report_refusal(conn, number, cells, exc)
        return None

    def _duplicates_of(self, conn: Connection, values: dict[str, Any], now: Any) -> list[Any]:
        """Records the entity's duplicate rules match ``values`` with (as a create would see them)."""
        record = dict(values)
        w.apply_defaults(self.entity, record, self.snap.catalog)
        guard = DuplicateGuard(conn, self.snap, self.actor, self.entity, now, lambda: self.rc)
        matches = []
        for rule in guard.compiled.rules:
            if "create" in rule.events and guard.applies(rule, record):
                matches += guard.find(rule, record)
        return matches
