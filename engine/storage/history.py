"""A record's history: its audit trail, newest first, as the reader may see it."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.errors import NotFound
from engine.meta.model import EntityDef
from engine.storage import system_tables as st
from engine.storage.codec import to_json
from engine.storage.listing import ListQuery
from engine.storage.reading import Page, ReadContext


def audit_trail(
    conn: Connection, snap: Any, entity: EntityDef, record_id: str, query: ListQuery, rc: ReadContext
) -> Page:
    """The audit entries of a record the reader may read (trashed records keep their
    history); changes of fields hidden from the reader are left out."""
    table = snap.tables.main(entity.name)
    conditions = [table.c.id == record_id]
    visible = rc.predicate(snap, entity, table)
    if visible is not None:
        conditions.append(visible)
    if conn.execute(sa.select(table.c.id).where(*conditions)).first() is None:
        raise NotFound(f"No {entity.name} with id {record_id!r}")
    hidden = rc.hidden(entity)
    a = st.audit
    where = [a.c.entity == entity.name, a.c.record_id == record_id]
    if hidden:
        where.append(_shows_a_change(conn, hidden))
    rows = conn.execute(
        sa.select(a).where(*where).order_by(a.c.at.desc(), a.c.id.desc()).limit(query.limit).offset(query.offset)
    ).all()
    return Page(
        [
            {
                "id": r.id,
                "at": to_json(r.at),
                "actor": r.actor,
                "action": r.action,
                "changes": {k: v for k, v in (r.changes or {}).items() if k not in hidden},
            }
            for r in rows
        ]
    )


def _shows_a_change(conn: Connection, hidden: set[str]) -> Any:
    """An update entry is left out when every field it changed is hidden from the reader: it
    would tell them when (and by whom) a hidden field changed. In SQL, so pages stay whole."""
    a = st.audit
    key: Any
    if conn.dialect.name == "postgresql":  # entries without changes hold JSON null, a scalar it refuses
        changes = sa.case((sa.func.jsonb_typeof(a.c.changes) == "object", a.c.changes), else_=sa.text("'{}'::jsonb"))
        key = sa.func.jsonb_object_keys(changes).column_valued("key")
    else:
        key = sa.func.json_each(a.c.changes).table_valued("key").c.key
    any_key = sa.exists(sa.select(sa.literal(1)).where(key.is_not(None)))
    shown_key = sa.exists(sa.select(sa.literal(1)).where(key.not_in(sorted(hidden))))
    return sa.or_(a.c.action != "update", a.c.changes.is_(None), ~any_key, shown_key)
