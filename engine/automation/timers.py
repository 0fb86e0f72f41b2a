"""Firing due timers: each becomes a ``timer`` event on its record, all or nothing per timer.

Timers are rows of ``tessera_timer`` (the database is the source of truth). The job
runner calls :func:`fire_due` when the earliest timer falls due (:func:`next_due`) and on
every sweep, so a timer fires at its due time and none is lost to a restart.

Timers fire in batches, one transaction each: one statement claims the batch (``UPDATE ...
RETURNING``; ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers share the work
and a timer fires once), one query per entity loads the batch's records, and each component
may load what it needs for the whole batch (:meth:`Component.on_timers`). The records are
read ``FOR UPDATE`` and held (:func:`engine.storage.database.hold_row`), so the writes of
the batch read none of them again; their updates (merged per record, sent before any other
statement), audit entries and clock changes are sent together
(:func:`engine.storage.write_batch.batched_writes`). A crash before the commit
leaves the batch pending: it is claimed again.

Each timer's effects are all or nothing. The batch first runs without savepoints (they cost
two round trips per timer); when a timer fails, the transaction is rolled back and the
batch runs again with each timer in its own savepoint, so the failing one is marked
``failed`` with its error and the others fire. The rest of that pass keeps the savepoints.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.actor import Actor
from engine.automation.events import Event
from engine.automation.runtime import Run
from engine.errors import TesseraError
from engine.meta.model import EntityDef
from engine.storage import system_tables as st
from engine.storage.database import hold_row, read_transaction, write_transaction
from engine.storage.write_batch import batched_writes, flush_updates

log = logging.getLogger("tessera.automation")

TIMER_ACTOR = Actor(None, frozenset({"admin"}), "timer")
#: what makes one timer fail (its effects are rolled back, the timer is marked failed): a
#: refused write or action, or a value the database refused (a unique index, a range)
FAILURES = (TesseraError, sa.exc.IntegrityError, sa.exc.DataError)

_t = st.timer


@dataclass(frozen=True)
class DueTimer:
    """A claimed ``tessera_timer`` row."""

    id: str
    entity: str
    record_id: str
    name: str
    due_at: dt.datetime
    payload: dict[str, Any] | None


class TimerRun(Run):
    """The run of one batch of timers.

    ``prepared`` holds what components loaded for the batch in :meth:`Component.on_timers`,
    by component name; it is emptied when a timer fails, as its rolled-back effects may be
    in it.
    """

    def __init__(self, records: Any, conn: Any, snap: Any, actor: Actor, now: dt.datetime):
        super().__init__(records, conn, snap, actor, now)
        self.prepared: dict[str, Any] = {}


class _Failed(Exception):
    """A timer of a batch run without savepoints failed: run the batch again with them."""


def next_due(ws: Any) -> dt.datetime | None:
    """When the earliest pending timer falls due (None: no timer pending)."""
    with read_transaction(ws.db) as conn:
        return conn.execute(sa.select(sa.func.min(_t.c.due_at)).where(_t.c.state == "pending")).scalar()


def fire_due(ws: Any, now: dt.datetime | None = None, batch: int = 500, savepoints: bool = False) -> int:
    """Fire every pending timer due at ``now``; returns how many fired.

    ``savepoints``: give every timer its own savepoint from the start (otherwise only a
    batch in which a timer failed runs again that way)."""
    now = now or dt.datetime.now(dt.UTC)
    fired = 0
    while True:
        try:
            claimed, count = _fire_batch(ws, now, batch, savepoints)
        except _Failed:
            savepoints = True
            continue
        fired += count
        if claimed < batch:
            return fired


def _fire_batch(ws: Any, now: dt.datetime, batch: int, savepoints: bool) -> tuple[int, int]:
    """Claim up to ``batch`` due timers and fire them in one transaction: (claimed, fired)."""
    with write_transaction(ws.db) as conn:
        timers = claim(conn, now, batch)
        if not timers:
            return 0, 0
        snap = ws.snapshot()
        run = TimerRun(ws.records, conn, snap, TIMER_ACTOR, now)
        conn.info.setdefault("after_commit", []).append(run.after_commit)
        with batched_writes(conn):  # record updates, audit entries, clocks: sent together
            _prepare(run, timers)
            fired = sum(_fire_one(run, timer, savepoints) for timer in timers)
            try:  # a kept update the database refuses fails here, after its timer's turn
                flush_updates(conn)
            except FAILURES as exc:
                raise _Failed() from exc  # with a savepoint per timer, each sent its own
        return len(timers), fired


def _fire_one(run: TimerRun, timer: DueTimer, savepoints: bool) -> int:
    """Fire one timer of the batch; 1 if it fired. Without ``savepoints`` a failure raises
    :class:`_Failed`; with them, the timer's effects are rolled back and it is marked failed."""
    entity = run.snap.catalog.entities.get(timer.entity)
    if entity is None:  # its entity is gone: nothing to act on
        return 0
    if not savepoints:
        try:
            return _fire(run, entity, timer)
        except FAILURES as exc:
            log.info(
                "timer %s on %s %s failed; firing its batch again with savepoints",
                timer.name,
                timer.entity,
                timer.record_id,
            )
            raise _Failed() from exc
    try:
        with run.conn.begin_nested():
            fired = _fire(run, entity, timer)
            flush_updates(run.conn)  # a kept update the database refuses fails this timer
            return fired
    except FAILURES as exc:  # its effects are rolled back; the others stand
        run.prepared.clear()  # what components cached may hold what was rolled back
        _mark_failed(run.conn, timer, exc)
        return 0


def claim(conn: Any, now: dt.datetime, batch: int) -> list[DueTimer]:
    """Mark up to ``batch`` due timers fired in one statement; returns them in due order.
    Rows another worker holds are skipped (PostgreSQL); SQLite serialises writers."""
    due = (
        sa.select(_t.c.id)
        .where(_t.c.state == "pending", _t.c.due_at <= now)
        .order_by(_t.c.due_at, _t.c.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    rows = conn.execute(
        _t.update()
        .where(_t.c.id.in_(due.scalar_subquery()), _t.c.state == "pending")
        .values(state="fired", fired_at=now)
        .returning(_t.c.id, _t.c.entity, _t.c.record_id, _t.c.name, _t.c.due_at, _t.c.payload)
    ).all()
    timers = [DueTimer(*row) for row in rows]
    timers.sort(key=lambda t: (t.due_at, t.id))
    return timers


def _prepare(run: TimerRun, timers: Sequence[DueTimer]) -> None:
    """Lock and hold the batch's live records (one query per entity; the writes of the batch
    then read none of them again) and let components prepare."""
    by_entity: dict[str, list[DueTimer]] = {}
    for timer in timers:
        by_entity.setdefault(timer.entity, []).append(timer)
    for name, group in by_entity.items():
        entity = run.snap.catalog.entities.get(name)
        if entity is None:
            continue
        table = run.snap.tables.main(name)
        ids = sorted({t.record_id for t in group})
        query = sa.select(table).where(table.c.id.in_(ids), table.c.deleted_at.is_(None)).order_by(table.c.id)
        if run.conn.dialect.name == "postgresql":  # SQLite's write transaction locks everything
            query = query.with_for_update()
        for row in run.conn.execute(query):
            hold_row(run.conn, name, row.id, dict(row._mapping))
        if run.automation.listens(name):
            for component in run.automation.components:
                component.on_timers(run, entity, group)


def _fire(run: TimerRun, entity: EntityDef, timer: DueTimer) -> int:
    record = run.fetch(entity, timer.record_id)  # held since _prepare, as the batch's writes left it
    if record is None:  # deleted since: the timer has nothing to act on
        return 0
    # a timer started again reuses its row: the firing is the row at its due time
    occurrence = f"{timer.id}@{timer.due_at.isoformat()}"
    event = Event("timer", entity, timer.record_id, record, None, run.actor, name=timer.name, occurrence=occurrence)
    event.payload = dict(timer.payload or {})
    run.emit(event)
    return 1


def _mark_failed(conn: Any, timer: DueTimer, exc: Exception) -> None:
    reason = str(exc.orig).strip().splitlines()[0] if isinstance(exc, sa.exc.DBAPIError) else str(exc)
    log.warning("timer %s on %s %s failed: %s", timer.name, timer.entity, timer.record_id, reason)
    conn.execute(
        _t.update()
        .where(_t.c.id == timer.id)
        .values(state="failed", payload={**(timer.payload or {}), "error": reason})
    )
