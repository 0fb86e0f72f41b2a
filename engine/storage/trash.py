"""The trash: a deleted record keeps its row (``deleted_at``) until it is restored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.automation.events import Event
from engine.meta.model import EntityDef
from engine.storage import writing as w

if TYPE_CHECKING:
    from engine.automation.runtime import Run


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
