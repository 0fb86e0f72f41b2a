"""Writes a batch sends together: one ``executemany`` per statement at the batch's end.

Inside :func:`batched_writes`, a write that may wait (an audit entry, an SLA clock's new
values: rows whose order relative to other statements does not matter) is kept on the
connection by :func:`defer` instead of sent, and the block's end sends each statement once
with all its rows (psycopg pipelines them), still inside the caller's transaction. A batch
of timers writes a thousand audit entries this way instead of a thousand single inserts.

What is kept follows the transaction: rows kept inside a savepoint that is rolled back are
dropped with it (the savepoint events below), and nothing is sent when the block fails.
Code that reads a table whose writes may wait calls :func:`flush_writes` first.

A record's ``UPDATE`` may wait too (:func:`defer_update`): the row is locked by the
transaction (held, see ``engine.storage.database.hold_row``), so its version check cannot
fail, and the kept ``UPDATE`` s of one row merge into one. Unlike the rows above, kept updates
are sent before any other statement runs on the connection (a read, a write, a savepoint),
so nothing the transaction runs ever sees the row as it was; a batch of escalations that
writes each ticket two or three times sends one ``executemany`` for the batch. Code that
isolates a failure in a savepoint inside a block calls :func:`flush_updates` before the
savepoint ends, so a refused update fails inside it (the release does not send them).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ReleaseSavepointClause, RollbackToSavepointClause

from engine.errors import PreconditionFailed
from engine.storage.bulk_copy import copy_rows
from engine.storage.database import live_info

UPDATES = "tessera_updates_pending"  # conn.info: {(entity, id): _Update}, while a block is open
PENDING = "tessera_writes_pending"  # conn.info: (statement, row) kept, while a block is open
MARKS = "tessera_writes_marks"  # conn.info: how many were kept when each open savepoint began


@contextmanager
def batched_writes(conn: Connection) -> Iterator[None]:
    """Keep the deferrable writes of the block and send them together at its end."""
    if PENDING in conn.info:  # an enclosing block sends them
        yield
        return
    conn.info[PENDING], conn.info[MARKS], conn.info[UPDATES] = [], [], {}
    try:
        yield
        flush_updates(conn)
        flush_writes(conn)
    finally:
        info = live_info(conn)  # a cut connection took what was kept with it
        if info is not None:
            info.pop(PENDING, None)
            info.pop(MARKS, None)
            info.pop(UPDATES, None)


@dataclass
class _Update:
    version: int  # the version stored, which the UPDATE checks
    values: dict[str, Any]  # column -> value, of every kept UPDATE of the row
    statement: Callable[[tuple[str, ...]], Any]  # the UPDATE for a set of columns


def defer_update(
    conn: Connection,
    entity: str,
    record_id: str,
    version: int,
    values: dict[str, Any],
    statement: Callable[[tuple[str, ...]], Any],
) -> bool:
    """Keep the ``UPDATE`` of a row the transaction has locked (``values`` by column, the
    new ``version`` among them) for the open block, merged with the row's earlier kept one;
    False outside a block (send it now). ``statement(columns)`` is the ``UPDATE`` of
    ``engine.storage.writing.update_statement``."""
    updates = conn.info.get(UPDATES)
    if updates is None:
        return False
    kept = updates.get((entity, record_id))
    if kept is None:
        updates[(entity, record_id)] = _Update(version, dict(values), statement)
    else:
        kept.values.update(values)
    return True


def flush_updates(conn: Connection) -> None:
    """Send the kept ``UPDATE`` s: one ``executemany`` per entity and set of columns."""
    updates = conn.info.get(UPDATES)
    if not updates:
        return
    kept = list(updates.items())
    updates.clear()  # before executing: the statements below must not flush again
    groups: dict[tuple[str, tuple[str, ...]], tuple[Any, list[dict[str, Any]]]] = {}
    for (entity, record_id), update in kept:
        columns = tuple(sorted(k for k in update.values if k not in _ALWAYS))
        params = {"k_id": record_id, "k_version": update.version}
        params.update({f"v_{k}": v for k, v in update.values.items()})
        groups.setdefault((entity, columns), (update.statement(columns), []))[1].append(params)
    for (entity, _), (statement, rows) in groups.items():
        result = conn.execute(statement, rows)
        if result.rowcount != len(rows):  # cannot happen to locked rows; never ignore it
            raise PreconditionFailed(f"A {entity} was changed by someone else; reload it and try again")


_ALWAYS = ("version", "updated_at", "updated_by")  # set by every UPDATE of update_statement


def defer(conn: Connection, statement: Any, row: dict[str, Any]) -> None:
    """Send ``statement`` with ``row`` now, or keep it for the open block's end (rows kept
    with the same statement object are sent together: pass a module-level one)."""
    pending = conn.info.get(PENDING)
    if pending is None:
        conn.execute(statement, row)
    else:
        pending.append((statement, row))


def flush_writes(conn: Connection) -> None:
    """Send what was kept so far (before reading a table whose writes may wait)."""
    pending = conn.info.get(PENDING)
    if not pending:
        return
    by_statement: dict[Any, list[dict[str, Any]]] = {}
    for statement, row in pending:
        by_statement.setdefault(statement, []).append(row)
    pending.clear()
    conn.info[MARKS] = [0 for _ in conn.info[MARKS]]  # what was kept is the database's now
    for statement, rows in by_statement.items():
        execute_grouped(conn, statement, rows)


def execute_grouped(conn: Connection, statement: Any, rows: list[dict[str, Any]]) -> None:
    """One ``COPY`` where it does the same, else one ``executemany`` per set of columns
    (rows leave out the columns they have no value for)."""
    if copy_rows(conn, statement, rows):
        return
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    for group in groups.values():
        conn.execute(statement, group)


def _before_execute(conn: Connection, statement: Any, *_args: Any) -> None:
    """Send the kept updates before any statement, except a savepoint's release or rollback:
    a failed release leaves SQLAlchemy unable to roll the savepoint back, and a rollback
    drops them (:func:`_drop_updates`); what a released savepoint kept goes with the next
    statement, as its enclosing transaction's."""
    info = live_info(conn)
    if info is not None and info.get(UPDATES) and not isinstance(statement, _SAVEPOINT_ENDS):
        flush_updates(conn)


_SAVEPOINT_ENDS = (ReleaseSavepointClause, RollbackToSavepointClause)


def _drop_updates(conn: Connection, *_args: Any) -> None:
    """A rolled-back savepoint drops the kept updates (all made inside it: its SAVEPOINT
    statement sent those before); a rollback, all."""
    info = live_info(conn)
    if info is not None and info.get(UPDATES):
        info[UPDATES].clear()


def _savepoint(conn: Connection, _name: str) -> None:
    info = live_info(conn) or {}
    if PENDING in info:
        info[MARKS].append(len(info[PENDING]))


def _rollback_savepoint(conn: Connection, _name: str, _context: Any) -> None:
    info = live_info(conn) or {}
    if info.get(MARKS):
        del info[PENDING][info[MARKS].pop() :]


def _release_savepoint(conn: Connection, _name: str, _context: Any) -> None:
    info = live_info(conn) or {}
    if info.get(MARKS):
        info[MARKS].pop()


sa.event.listen(Engine, "before_execute", _before_execute)
sa.event.listen(Engine, "rollback_savepoint", _drop_updates)
sa.event.listen(Engine, "rollback", _drop_updates)
sa.event.listen(Engine, "savepoint", _savepoint)
sa.event.listen(Engine, "rollback_savepoint", _rollback_savepoint)
sa.event.listen(Engine, "release_savepoint", _release_savepoint)
