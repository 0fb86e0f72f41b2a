"""GDPR tools: everything about a person as JSON, and erasure on request.

An entity whose records are people declares ``privacy: {collection: contacts}``; its
fields holding personal data say ``personal: true``. Export gathers the record, every
record linking to it and its audit trail. Erasure blanks the personal fields (required
text becomes "(erased)"), redacts their old values in the audit trail (who did what and
when stays) and records the request itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from engine.actor import Actor
from engine.errors import NotFound, PermissionDenied
from engine.meta.model import EntityDef
from engine.storage import system_tables as st
from engine.storage.database import read_transaction, release_rows, write_transaction
from engine.storage.writing import record_audit

ERASED = "(erased)"


def subject_entity(ws: Any, collection: str) -> EntityDef:
    for entity in ws.snapshot().catalog.entities.values():
        if entity.privacy_collection == collection:
            return entity
    raise NotFound(f"There are no data subjects called {collection!r}")


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDenied("Only administrators may export or erase personal data")


def export_subject(ws: Any, actor: Actor, collection: str, record_id: str) -> dict[str, Any]:
    _require_admin(actor)
    entity = subject_entity(ws, collection)
    records = ws.records
    subject = records.get(actor, entity.name, record_id)
    related: dict[str, list[dict[str, Any]]] = {}
    catalog = ws.snapshot().catalog
    for other in catalog.api_entities():
        for fd in other.fields.values():
            if fd.target == entity.name and fd.type in ("link", "links"):
                page = records.related(actor, entity.name, record_id, f"{other.name}.{fd.name}", {"limit": "500"})
                if page.data:
                    related.setdefault(other.name, []).extend(page.data)
    history = records.history(actor, entity.name, record_id, {"limit": "500"}).data
    return {
        "entity": entity.name,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
        "record": subject,
        "related": related,
        "history": history,
    }


def blank_personal(
    conn: sa.Connection, entity: EntityDef, table: Any, ids: list[str], actor: Actor, now: dt.datetime
) -> list[str]:
    """Blank the ``personal: true`` fields of ``ids`` and redact their old values in the audit
    trail (who changed what and when stays). Returns the names of the fields blanked."""
    personal = [fd for fd in entity.fields.values() if fd.opt("personal") and fd.has_column]
    if not personal or not ids:
        return []
    values = {fd.name: (ERASED if fd.required and fd.type in ("string", "text") else None) for fd in personal}
    release_rows(conn, entity.name, ids)
    conn.execute(
        table.update()
        .where(table.c.id.in_(ids))
        .values(updated_at=now, updated_by=actor.user_id, version=table.c.version + 1, **values)
    )
    names = set(values)
    audit = st.audit
    rows = conn.execute(
        sa.select(audit.c.id, audit.c.changes).where(audit.c.entity == entity.name, audit.c.record_id.in_(ids))
    ).all()
    for row in rows:
        if row.changes and names & set(row.changes):
            redacted = {k: ([ERASED, ERASED] if k in names else v) for k, v in row.changes.items()}
            conn.execute(audit.update().where(audit.c.id == row.id).values(changes=redacted))
    return sorted(names)


def erase_subject(ws: Any, actor: Actor, collection: str, record_id: str) -> dict[str, Any]:
    _require_admin(actor)
    entity = subject_entity(ws, collection)
    table = ws.snapshot().tables.main(entity.name)
    with read_transaction(ws.db) as conn:
        if conn.execute(sa.select(table.c.id).where(table.c.id == record_id)).first() is None:
            raise NotFound(f"No {entity.name} with id {record_id!r}")
    now = dt.datetime.now(dt.UTC)
    with write_transaction(ws.db) as conn:
        names = blank_personal(conn, entity, table, [record_id], actor, now)
        record_audit(conn, actor, entity.name, record_id, "erase", {n: [ERASED, None] for n in names}, now)
    return {"entity": entity.name, "id": record_id, "erased_fields": names, "erased_at": now.isoformat()}
