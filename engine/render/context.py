"""The record a document template sees: read as the caller, with its links and child rows.

The record is read through the data-access layer (``Records.get``) as the caller, so a
field they may not read is not there and a record they may not read is a 404. Then every
reference is replaced by the linked record, loaded with the same permission predicate: a
link the caller may not follow stays a bare id, exactly like ``expand=`` in the API.
Followed are the record's ``link``, ``user`` and ``team`` fields, its ``owner``,
``created_by`` and ``updated_by``, and the references of its child rows
(``record.lines[0].product.name``); one query per referenced entity.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.meta.model import EntityDef
from engine.storage.reading import ReadContext, rows_to_records

#: system fields holding a user id
USER_FIELDS = ("owner", "created_by", "updated_by")

# (records to change, field) pairs grouped by the entity the field points to
Wanted = dict[str, list[tuple[dict[str, Any], str]]]


def read_record(records: Any, actor: Actor, entity_name: str, record_id: str) -> dict[str, Any]:
    """The record as ``actor`` may read it, references replaced by the records they may read."""
    record: dict[str, Any] = records.get(actor, entity_name, record_id)
    snap = records.ws.snapshot()
    entity = snap.api_entity(entity_name)
    wanted: Wanted = defaultdict(list)
    _collect(snap, entity, record, wanted, system=True)
    for name, fd in entity.fields.items():
        if fd.type == "table" and isinstance(record.get(name), list):
            child = snap.catalog.entities[fd.opt("of")]
            for row in record[name]:
                _collect(snap, child, row, wanted)
    if wanted:
        rc = records._rc(actor, snap)
        with records._reading() as conn:
            for target, places in wanted.items():
                _replace(conn, snap, rc, snap.catalog.entities[target], places)
    return record


def _collect(snap: Any, entity: EntityDef, values: dict[str, Any], wanted: Wanted, system: bool = False) -> None:
    """Note every reference ``values`` holds (the fields present are the readable ones)."""
    for name, fd in entity.fields.items():
        if fd.type in ("link", "user", "team") and isinstance(values.get(name), str) and fd.target:
            wanted[fd.target].append((values, name))
    if system:
        for name in USER_FIELDS:
            if isinstance(values.get(name), str):
                wanted["user"].append((values, name))


def _replace(
    conn: Connection, snap: Any, rc: ReadContext, target: EntityDef, places: list[tuple[dict[str, Any], str]]
) -> None:
    ids = sorted({values[name] for values, name in places})
    table = snap.tables.main(target.name)
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):  # keep IN lists short
        conditions = [table.c.id.in_(ids[start : start + 500]), table.c.deleted_at.is_(None)]
        visible = rc.predicate(snap, target, table)
        if visible is not None:  # a record the reader may not see stays a bare id
            conditions.append(visible)
        rows = conn.execute(sa.select(table).where(*conditions)).all()
        scalar = [n for n, fd in target.fields.items() if fd.has_column]
        for row, linked in zip(rows, rows_to_records(conn, snap, target, rows, scalar, rc=rc), strict=True):
            found[row.id] = linked
    for values, name in places:
        if values[name] in found:
            values[name] = found[values[name]]
