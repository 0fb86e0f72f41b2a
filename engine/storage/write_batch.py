"""Writes a batch sends together: one ``executemany`` per statement at the batch's end.

Inside :func:`batched_writes`, a write that may wait (an audit entry, an SLA clock's new
values: rows whose order relative to other statements does not matter) is kept on the
connection by :func:`defer` instead of sent, and the block's end sends each statement once
with all its rows (psycopg pipelines them), still inside the caller's transaction. A batch
of timers writes a thousand audit entries this way instead of a thousand single inserts.

What is kept follows the transaction: rows kept inside a savepoint that is rolled back are
dropped with it (the savepoint events below), and nothing is sent when the block fails.
Code that reads a table whose writes may wait calls :func:`flush_writes` first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from engine.storage.database import live_info

PENDING = "tessera_writes_pending"  # conn.info: (statement, row) kept, while a block is open
MARKS = "tessera_writes_marks"  # conn.info: how many were kept when each open savepoint began


@contextmanager
def batched_writes(conn: Connection) -> Iterator[None]:
    """Keep the deferrable writes of the block and send them together at its end."""
    if PENDING in conn.info:  # an enclosing block sends them
        yield
        return
    conn.info[PENDING], conn.info[MARKS] = [], []
    try:
        yield
        flush_writes(conn)
    finally:
        info = live_info(conn)  # a cut connection took what was kept with it
        if info is not None:
            info.pop(PENDING, None)
            info.pop(MARKS, None)


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
    """One ``executemany`` per set of columns (rows leave out the columns they have no value for)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    for group in groups.values():
        conn.execute(statement, group)


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


sa.event.listen(Engine, "savepoint", _savepoint)
sa.event.listen(Engine, "rollback_savepoint", _rollback_savepoint)
sa.event.listen(Engine, "release_savepoint", _release_savepoint)
