"""Bulk writes: up to 1,000 creates and updates in one transaction, or nothing.

Every element is validated first, so the per-row report lists all problems at once; then
each row is written inside a savepoint, so a database refusal (a unique value) is reported
against its row and the whole batch is still rolled back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.errors import BadRequest, FieldError, TesseraError, ValidationError
from engine.storage import writing as w
from engine.storage.duplicates import DuplicateOptions, with_warnings
from engine.storage.ids import is_id
from engine.storage.reading import written_record

if TYPE_CHECKING:
    from engine.storage.records import Records


MAX_BULK = 1000


def bulk_write(
    records: Records, actor: Actor, entity_name: str, items: Any, allow_duplicates: bool = False
) -> list[dict[str, Any]]:
    """Create (elements without ``id``) or update (with) up to ``MAX_BULK`` records.

    Duplicate rules see the rows written before each one, so a batch cannot smuggle in
    two copies of one record; each record carries its own ``_warnings``."""
    snap = records.ws.snapshot()
    entity = records._entity(snap, actor, entity_name)
    if not isinstance(items, list):
        raise BadRequest("The body must be a JSON array of records")
    if not items:
        return []
    if len(items) > MAX_BULK:
        raise BadRequest(f"At most {MAX_BULK} records per bulk request (got {len(items)})")
    loaded: list[tuple[str | None, dict[str, Any]]] = []
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        record_id = item.get("id") if isinstance(item, dict) else None
        if record_id is not None and not is_id(record_id):
            errors.append(FieldError("id", "Must be a record id.", index))
            continue
        try:
            values = records._load(snap, entity, item, actor)
        except ValidationError as exc:
            errors += [FieldError(e.field, e.message, index) for e in exc.errors]
            continue
        if record_id is None:  # report missing required fields now, with the type errors
            w.apply_defaults(entity, values, snap.catalog)
            errors += [FieldError(e.field, e.message, index) for e in w.check_required(entity, values)]
        loaded.append((record_id, values))
    if errors:
        raise ValidationError("Some records are not valid; nothing was written", errors)

    def run(conn: Connection) -> list[dict[str, Any]]:
        now = records.clock()
        ids: list[str] = []
        notes: list[DuplicateOptions] = []
        for index, (record_id, values) in enumerate(loaded):
            options = DuplicateOptions(allow=allow_duplicates)
            notes.append(options)
            try:
                with conn.begin_nested():
                    if record_id is None:
                        ids.append(records._insert(conn, snap, actor, entity, values, now, duplicates=options))
                    else:
                        records._apply_update(
                            conn, snap, actor, entity, record_id, values, None, now, duplicates=options
                        )
                        ids.append(record_id)
            except sa.exc.IntegrityError as exc:
                errors.extend(FieldError(e.field, e.message, index) for e in w.conflict_from(entity, exc).errors)
            except TesseraError as exc:
                errors.extend(
                    FieldError(e.field, e.message, index) for e in exc.errors or [FieldError("id", exc.detail)]
                )
        if errors:
            raise ValidationError("Some records are not valid; nothing was written", errors)
        rc = records._rc(actor)
        return [with_warnings(written_record(conn, snap, entity, i, rc), n) for i, n in zip(ids, notes, strict=True)]

    return records._write(entity, run)
