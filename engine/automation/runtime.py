"""One write transaction's automation: events in, synchronous actions and outbox rows out.

A :class:`Run` lives as long as the transaction of the write that started it. Components
(workflows, SLA, rules, webhooks) receive every :class:`Event`; what they write goes
through the same data-access helpers and the same connection, so a failing action rolls
back the triggering write too (all or nothing). External effects are outbox rows.

The loop guard: a rule may act on the same record at most ``MAX_REPEAT`` times in one
run, and writes may nest at most ``MAX_DEPTH`` deep. A cut-off is logged and recorded in
the record's history (action ``automation_cutoff``), never silent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.automation.events import Event
from engine.change_feed import note as note_change
from engine.dsl import Env, sql_context
from engine.errors import ValidationError
from engine.meta.model import EntityDef
from engine.storage import system_tables as st
from engine.storage.codec import to_json
from engine.storage.database import held_row
from engine.storage.derivation import coerce
from engine.storage.evaluation import RecordLoader, make_env
from engine.storage.ids import new_id
from engine.storage.reading import fetch_row
from engine.storage.trash import mark_deleted
from engine.storage.validation import load_input
from engine.storage.writing import record_audit

log = logging.getLogger("tessera.automation")

MAX_DEPTH = 8
MAX_REPEAT = 3


class Run:
    def __init__(self, records: Any, conn: Connection, snap: Any, actor: Actor, now: dt.datetime):
        self.records, self.conn, self.snap, self.actor, self.now = records, conn, snap, actor, now
        self.automation = snap.automation
        self.depth = 0
        #: writes made through this run so far (a record read before the last one may be stale)
        self.writes = 0
        self.counts: Counter[tuple[str, str, str]] = Counter()
        #: called after the transaction commits (wake the dispatcher); never for a rollback
        self.after_commit: list[Callable[[], None]] = []
        #: what a component worked out for a later step of this run, by the component's own key
        #: (it checks that what it was worked out from still holds before using it)
        self.memo: dict[Any, Any] = {}

    @property
    def ws(self) -> Any:
        return self.records.ws

    # --- events ---------------------------------------------------------------------
    def emit(self, event: Event) -> None:
        if event.kind == "transition" and event.new is not None:  # the change feed tells it apart
            note_change(self.ws, self.conn, event.entity.name, event.record_id, event.new["version"], "transition")
        if not self.automation.listens(event.entity.name):
            return
        self.writes += 1
        event.writes = self.writes
        if self.depth >= MAX_DEPTH:
            self.cutoff(event, "(nesting)", f"writes nested more than {MAX_DEPTH} deep")
            return
        self.depth += 1
        try:
            for component in self.automation.components:
                component.on_event(self, event)
        finally:
            self.depth -= 1

    def guard(self, rule: str, event: Event) -> bool:
        """May ``rule`` act on the event's record once more in this run?"""
        key = (rule, event.entity.name, event.record_id)
        self.counts[key] += 1
        if self.counts[key] > MAX_REPEAT:
            if self.counts[key] == MAX_REPEAT + 1:
                self.cutoff(event, rule, f"ran {MAX_REPEAT} times on this record in one change")
            return False
        return True

    def cutoff(self, event: Event, rule: str, reason: str) -> None:
        log.warning("automation cut off: %s on %s %s: %s", rule, event.entity.name, event.record_id, reason)
        self.audit(
            event.entity.name, event.record_id, "automation_cutoff", {"rule": [None, rule], "reason": [None, reason]}
        )

    # --- reading --------------------------------------------------------------------
    def fetch(self, entity: EntityDef | str, record_id: str) -> dict[str, Any] | None:
        """The record's current column values (what this transaction wrote included)."""
        name = entity if isinstance(entity, str) else entity.name
        held = held_row(self.conn, name, record_id)
        if held is not None:
            return held
        table = self.snap.tables.main(name)
        row = self.conn.execute(sa.select(table).where(table.c.id == record_id, table.c.deleted_at.is_(None))).first()
        return None if row is None else dict(row._mapping)

    def computed(self, entity: EntityDef, env: Env) -> dict[str, Any]:
        """The virtual computed values of the record of ``env``, as a read would give them now
        (a message about the record shows them too: ``{{ record.days_to_end }}``)."""
        virtual = self.snap.expressions(entity.name).virtual
        return {name: coerce(entity.fields[name], expr.evaluate(env)) for name, expr in virtual.items()}

    def env(self, entity: EntityDef, record: dict[str, Any], old: dict[str, Any] | None = None) -> Env:
        """An evaluation environment over ``record`` (links load on demand, fresh per call)."""
        loader = RecordLoader(self.conn, self.snap)
        return make_env(
            loader,
            self.actor,
            self.now,
            loader.wrap(entity, record),
            old=None if old is None else loader.wrap(entity, old),
        )

    def select_ids(
        self,
        entity: EntityDef,
        condition: Any,
        outer: dict[str, Any] | None = None,
        limit: int = 10_000,
        variables: dict[str, Any] | None = None,
    ) -> list[str]:
        """Ids of live records of ``entity`` where the compiled DSL ``condition`` holds;
        ``$record`` in it is ``outer`` (the trigger record), ``$NAME`` one of ``variables``."""
        table = self.snap.tables.main(entity.name)
        loader = RecordLoader(self.conn, self.snap)
        outer_env = make_env(loader, self.actor, self.now, {}, outer=outer)
        outer_env.vars = variables or {}
        ctx = replace(
            sql_context(self.conn.dialect.name, self.now, self.actor.user_id, self.actor.roles), outer=outer_env
        )
        where = [table.c.deleted_at.is_(None)]
        if condition is not None:
            where.append(condition.to_sql(self.snap.tables, ctx))
        query = sa.select(table.c.id).where(*where).order_by(table.c.id).limit(limit)
        return list(self.conn.execute(query).scalars())

    # --- writing through the data-access layer ---------------------------------------
    def system_actor(self, source: str) -> Actor:
        """Automation acts for the user whose change triggered it, with full rights."""
        return Actor(
            self.actor.user_id,
            frozenset({"admin"}),
            source[:255],
            teams=self.actor.teams,
            team_ids=self.actor.team_ids,
            team_members=self.actor.team_members,
            impersonator=self.actor.impersonator,
        )

    def _values(self, entity: EntityDef, values: dict[str, Any], source: str) -> dict[str, Any]:
        data = {k: _plain(v) for k, v in values.items()}
        try:
            loaded = load_input(self.snap.input_schema(entity.name, system=True), entity, data, system=True)
        except ValidationError as exc:  # the caller never sent these values: say who wrote them
            kind, _, name = source.partition(":")
            author = f"The {kind} {name!r}" if name else f"The automation {source!r}"
            raise ValidationError(f"{author} wrote a value the {entity.name} does not take", exc.errors) from exc
        self.records.cipher.seal_values(entity, loaded, self.snap.catalog)
        return loaded

    def create(self, entity: EntityDef | str, values: dict[str, Any], source: str) -> str:
        entity = self._entity(entity)
        loaded = self._values(entity, values, source)
        return self.records._insert(self.conn, self.snap, self.system_actor(source), entity, loaded, self.now, run=self)

    def update(
        self, entity: EntityDef | str, record_id: str, values: dict[str, Any], source: str, owner: str = ""
    ) -> None:
        """Change a record; ``owner`` names the workflow allowed to write its state field."""
        entity = self._entity(entity)
        loaded = self._values(entity, values, source)
        self.records._apply_update(
            self.conn,
            self.snap,
            self.system_actor(source),
            entity,
            record_id,
            loaded,
            None,
            self.now,
            run=self,
            owner=owner,
        )

    def delete(self, entity: EntityDef | str, record_id: str, source: str) -> None:
        """Move a record to the trash (the caller checked the right to; merge uses it)."""
        entity = self._entity(entity)
        row = fetch_row(self.conn, self.snap, entity, record_id, for_update=True)
        mark_deleted(self.conn, self.snap, self.system_actor(source), entity, row, True, self.now, lambda: self)

    def _entity(self, entity: EntityDef | str) -> EntityDef:
        return self.snap.catalog.entities[entity] if isinstance(entity, str) else entity

    def audit(self, entity: str, record_id: str, action: str, changes: dict[str, list[Any]] | None) -> None:
        record_audit(self.conn, self.system_actor(self.actor.source), entity, record_id, action, changes, self.now)

    # --- outbox and timers -------------------------------------------------------------
    def outbox(
        self,
        channel: str,
        payload: dict[str, Any],
        key: str | None = None,
        entity: str | None = None,
        record_id: str | None = None,
        available_at: dt.datetime | None = None,
    ) -> str | None:
        """Queue an external effect in this transaction; a repeated ``key`` queues nothing."""
        o = st.outbox
        if key is not None and self.conn.execute(sa.select(o.c.id).where(o.c.key == key)).first() is not None:
            return None
        outbox_id = new_id()
        self.conn.execute(
            o.insert(),
            {
                "id": outbox_id,
                "channel": channel,
                "payload": payload,
                "state": "pending",
                "attempts": 0,
                "created_at": self.now,
                "available_at": available_at or self.now,
                "key": key,
                "entity": entity,
                "record_id": record_id,
            },
        )
        wake = getattr(self.ws, "wake_jobs", None)
        if wake is not None:
            self.after_commit.append(wake)
        return outbox_id

    def start_timer(
        self, entity: str, record_id: str, name: str, due_at: dt.datetime, payload: dict[str, Any] | None = None
    ) -> None:
        """Start (or move) the timer ``name`` of a record; it fires a ``timer`` event at ``due_at``."""
        t = st.timer
        same = sa.and_(t.c.entity == entity, t.c.record_id == record_id, t.c.name == name)
        moved = self.conn.execute(
            t.update().where(same).values(due_at=due_at, state="pending", payload=payload, fired_at=None)
        )
        if moved.rowcount == 0:
            self.conn.execute(
                t.insert(),
                {
                    "id": new_id(),
                    "entity": entity,
                    "record_id": record_id,
                    "name": name,
                    "due_at": due_at,
                    "state": "pending",
                    "payload": payload,
                    "created_at": self.now,
                },
            )
        wake = getattr(self.ws, "wake_jobs", None)
        if wake is not None:
            self.after_commit.append(wake)

    def stop_timers(self, entity: str, record_id: str, name: str | None = None, prefix: str | None = None) -> int:
        """Cancel pending timers of a record: one by ``name``, or all whose name starts with ``prefix``."""
        t = st.timer
        where = [t.c.entity == entity, t.c.record_id == record_id, t.c.state == "pending"]
        if name is not None:
            where.append(t.c.name == name)
        if prefix is not None:
            where.append(t.c.name.startswith(prefix, autoescape=True))
        return self.conn.execute(t.update().where(*where).values(state="cancelled")).rowcount


def _plain(value: Any) -> Any:
    """A DSL value as client input (the input schema validates and converts it back)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.timedelta):
        return int(value.total_seconds())
    if isinstance(value, Decimal):
        return str(value)  # exact: money stays money
    return to_json(value)
