"""Evaluating expressions inside the data-access layer: environments and record loading.

Expressions see native values (Decimal, date, aware datetime). Linked records are loaded
on demand, once per evaluation, and their child rows and links only when an expression
actually reads them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.dsl import Env, sql_context
from engine.dsl.business_time import BusinessCalendar
from engine.dsl.to_sql import count_where_in_memory
from engine.meta.model import EntityDef

if False:  # pragma: no cover - typing only
    from engine.workspace import Snapshot


class LazyRecord(dict[str, Any]):
    """A record's column values; table and links fields are fetched on first access."""

    def __init__(self, values: dict[str, Any], loader: RecordLoader, entity: EntityDef):
        super().__init__(values)
        self._loader, self._entity = loader, entity

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self:
            fd = self._entity.fields.get(key)
            if fd is not None and fd.type in ("table", "links") and "id" in self:
                self[key] = self._loader.many(self._entity, self["id"], key)
        return super().get(key, default)


class RecordLoader:
    def __init__(self, conn: Connection, snap: Snapshot):
        self.conn, self.snap = conn, snap
        self._cache: dict[tuple[str, str], LazyRecord | None] = {}

    def __call__(self, entity: str, record_id: str) -> LazyRecord | None:
        key = (entity, record_id)
        if key not in self._cache:
            table = self.snap.tables.main(entity)
            row = self.conn.execute(
                sa.select(table).where(table.c.id == record_id, table.c.deleted_at.is_(None))
            ).first()
            self._cache[key] = (
                None if row is None else self.wrap(self.snap.catalog.entities[entity], dict(row._mapping))
            )
        return self._cache[key]

    def first(self, entity: str) -> LazyRecord | None:
        """The oldest live record of a singleton entity (``$settings.x`` in expressions)."""
        key = (entity, "")
        if key not in self._cache:
            table = self.snap.tables.main(entity)
            row = self.conn.execute(
                sa.select(table).where(table.c.deleted_at.is_(None)).order_by(table.c.id).limit(1)
            ).first()
            self._cache[key] = (
                None if row is None else self.wrap(self.snap.catalog.entities[entity], dict(row._mapping))
            )
        return self._cache[key]

    def count_where(self, entity: str, condition: Any, env: Env) -> int:
        """``count_where(ENTITY, condition)`` for the record of ``env``: a count in the
        database, in this transaction, with the record's own values as parameters."""
        ctx = sql_context(
            self.conn.dialect.name, env.now, env.user_id, env.roles, env.teams, env.team_ids, env.team_members
        )
        query = count_where_in_memory(self.snap.tables, replace(ctx, outer=env), entity, condition)
        return int(self.conn.execute(query).scalar_one())

    def users_by_handle(self, handles: list[str]) -> list[str]:
        """Ids of the active users whose e-mail address starts with ``HANDLE@`` (any case),
        sorted: what ``mentions(text)`` returns."""
        if not handles:
            return []
        users = self.snap.tables.main("user")
        email = sa.func.lower(users.c.email)
        query = sa.select(users.c.id).where(
            sa.or_(*(email.startswith(f"{handle.lower()}@", autoescape=True) for handle in handles)),
            users.c.deleted_at.is_(None),
            users.c.active.is_not(False),
        )
        return sorted(self.conn.execute(query).scalars())

    def wrap(self, entity: EntityDef, values: dict[str, Any]) -> LazyRecord:
        return LazyRecord(values, self, entity)

    def many(self, entity: EntityDef, record_id: str, name: str) -> list[Any]:
        fd = entity.fields[name]
        if fd.type == "table":
            table = self.snap.tables.entities[entity.name].children[name]
            rows = self.conn.execute(sa.select(table).where(table.c.parent_id == record_id).order_by(table.c.position))
            return [dict(r._mapping) for r in rows]
        join = self.snap.tables.entities[entity.name].joins[name]
        return list(
            self.conn.execute(
                sa.select(join.c.target_id).where(join.c.source_id == record_id).order_by(join.c.position)
            ).scalars()
        )


DEFAULT_CALENDAR = BusinessCalendar.from_spec(
    {"timezone": "UTC", "working_hours": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}}
)


def make_env(
    loader: RecordLoader,
    actor: Actor,
    now: dt.datetime,
    record: dict[str, Any],
    old: dict[str, Any] | None = None,
    outer: dict[str, Any] | None = None,
) -> Env:
    return Env(
        record,
        now=now,
        load=loader,
        old=old,
        user_id=actor.user_id,
        roles=actor.roles,
        teams=actor.teams,
        calendar=DEFAULT_CALENDAR,
        outer=outer,
        team_ids=actor.team_ids,
        team_members=actor.team_members,
        single=loader.first,
        count_where=loader.count_where,
        users_by_handle=loader.users_by_handle,
    )
