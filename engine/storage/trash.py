"""The trash: a deleted record keeps its row (``deleted_at``) until it is restored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.automation.events import Event
from engine.change_feed import note as note_change
from engine.errors import BadRequest, NotFound, PermissionDenied, PreconditionFailed
from engine.meta.model import EntityDef
from engine.storage import writing as w
from engine.storage.bulk import MAX_BULK
from engine.storage.database import release_rows
from engine.storage.reading import fetch_row

if TYPE_CHECKING:
    from engine.automation.runtime import Run
    from engine.storage.records import Records


def mark_deleted(
    conn: Connection,
    snap: Any,
    actor: Actor,
    entity: EntityDef,
    row: Any,
    trash: bool,
    now: dt.datetime,
    run: Callable[[], Run],
) -> None:
    """Move a checked record (``row``, locked) to the trash or back: audit and event included
    (``run`` gives the automation run the event goes to, made only when someone listens)."""
    record_id = row.id
    table = snap.tables.main(entity.name)
    release_rows(conn, entity.name, [record_id])
    conn.execute(
        table.update()
        .where(table.c.id == record_id)
        .values(
            version=row.version + 1,
            updated_at=now,
            updated_by=actor.user_id,
            deleted_at=now if trash else None,
            deleted_by=actor.user_id if trash else None,
        )
    )
    if entity.audit:
        w.record_audit(conn, actor, entity.name, record_id, "delete" if trash else "restore", None, now)
    if snap.automation.listens(entity.name):
        values = dict(row._mapping)
        event = Event(
            "delete" if trash else "restore",
            entity,
            record_id,
            None if trash else values,
            values if trash else None,
            actor,
        )
        run().emit(event)


def trash_one(
    records: Records,
    conn: Connection,
    snap: Any,
    actor: Actor,
    entity: EntityDef,
    record_id: str,
    if_match: int | None,
    trash: bool,
) -> None:
    """Check that ``actor`` may move one record to the trash (or back), then do it."""
    row = fetch_row(conn, snap, entity, record_id, deleted=not trash, for_update=True)
    if not records._allows(conn, snap, actor, entity, "read", dict(row._mapping)):
        raise NotFound(f"No {entity.name} with id {record_id!r}")
    if not records._allows(conn, snap, actor, entity, "delete", dict(row._mapping)):
        raise PermissionDenied(f"You may not {'delete' if trash else 'restore'} this {entity.name}")
    if if_match is not None and row.version != if_match:
        raise PreconditionFailed(f"The {entity.name} was changed since version {if_match}")
    now = records.clock()
    mark_deleted(conn, snap, actor, entity, row, trash, now, lambda: records._run(conn, snap, actor, now))
    note_change(records.ws, conn, entity.name, record_id, row.version + 1, "delete" if trash else "restore")


def trash_many(records: Records, actor: Actor, entity_name: str, record_ids: list[str]) -> int:
    """Move several records to the trash in one transaction: all of them, or none when one
    may not be deleted (the refusal names it)."""
    if len(record_ids) > MAX_BULK:
        raise BadRequest(f"At most {MAX_BULK} records at once (got {len(record_ids)})")
    snap = records.ws.snapshot()
    entity = records._entity(snap, actor, entity_name, "delete")
    if entity.system and not actor.is_admin:
        raise PermissionDenied(f"Only administrators may change {entity.name} records")

    def run(conn: Connection) -> int:
        for record_id in dict.fromkeys(record_ids):
            trash_one(records, conn, snap, actor, entity, record_id, None, trash=True)
        return len(set(record_ids))

    return records._write(entity, run)
