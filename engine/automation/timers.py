"""Firing due timers: each becomes a ``timer`` event on its record, in its own savepoint.

Timers are rows of ``tessera_timer`` (the database is the source of truth). The job
runner calls :func:`fire_due` when the earliest timer falls due (:func:`next_due`) and on
every sweep, so a timer fires at its due time and none is lost to a restart. Several
workers may fire at once: rows are claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL
(SQLite serialises writers) and a timer fires once.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa

from engine.actor import Actor
from engine.automation.events import Event
from engine.errors import TesseraError
from engine.storage import system_tables as st
from engine.storage.database import read_transaction, write_transaction

log = logging.getLogger("tessera.automation")

TIMER_ACTOR = Actor(None, frozenset({"admin"}), "timer")


def next_due(ws: Any) -> dt.datetime | None:
    """When the earliest pending timer falls due (None: no timer pending)."""
    t = st.timer
    with read_transaction(ws.db) as conn:
        return conn.execute(sa.select(sa.func.min(t.c.due_at)).where(t.c.state == "pending")).scalar()


def fire_due(ws: Any, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Fire every pending timer due at ``now``; returns how many fired."""
    now = now or dt.datetime.now(dt.UTC)
    t = st.timer
    fired = 0
    while True:
        with write_transaction(ws.db) as conn:
            rows = conn.execute(
                sa.select(t)
                .where(t.c.state == "pending", t.c.due_at <= now)
                .order_by(t.c.due_at, t.c.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            snap = ws.snapshot()
            run = ws.records._run(conn, snap, TIMER_ACTOR, now)
            for timer in rows:
                fired += _fire(conn, snap, run, timer, now)
        if len(rows) < batch:
            return fired


def _fire(conn: Any, snap: Any, run: Any, timer: Any, now: dt.datetime) -> int:
    t = st.timer
    claimed = conn.execute(
        t.update().where(t.c.id == timer.id, t.c.state == "pending").values(state="fired", fired_at=now)
    )
    if claimed.rowcount != 1:
        return 0
    entity = snap.catalog.entities.get(timer.entity)
    if entity is None:
        return 0
    try:
        with conn.begin_nested():
            record = run.fetch(entity, timer.record_id)
            if record is None:  # deleted since: the timer has nothing to act on
                return 0
            event = Event("timer", entity, timer.record_id, record, None, run.actor, name=timer.name)
            event.payload = dict(timer.payload or {})
            run.emit(event)
    except TesseraError as exc:  # its actions failed: they are rolled back, the timer is marked
        log.warning("timer %s on %s %s failed: %s", timer.name, timer.entity, timer.record_id, exc)
        conn.execute(
            t.update()
            .where(t.c.id == timer.id)
            .values(state="failed", payload={**(timer.payload or {}), "error": str(exc)})
        )
        return 0
    return 1
