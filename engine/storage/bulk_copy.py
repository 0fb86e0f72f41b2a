"""Many rows of one table written with PostgreSQL's ``COPY ... FROM STDIN``.

A batch of creates (an import's batch of a thousand contacts, their audit entries and
duplicate keys) or a timer batch's audit entries is written as plain ``INSERT`` rows. Sent as
an ``executemany``, each row still costs psycopg and the server a statement's work (binding,
planning, a pipeline message); ``COPY`` streams them as one statement. :func:`copy_rows`
takes over from ``executemany`` where it gives the same result: a plain ``INSERT`` of a
table's columns (no ``RETURNING``, no fixed values), every column without a Python-side
default given or not needed, enough rows to be worth the two extra round trips, and
PostgreSQL with psycopg. Values go through the columns' own bind processing (JSON, UTC
datetimes, decimals), so the stored rows are those the ``INSERT`` would store; a refused row
(a unique index) raises the same ``sqlalchemy.exc.IntegrityError`` and leaves the
transaction in the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

# the COPY statement, a processor per column, and whether a left-out column may be NULL
Plan = tuple[str, list[Callable[[Any], Any] | None], bool]

MIN_ROWS = 64  # below this, a pipelined executemany is as fast
_LEFT_OUT = object()  # a column a row does not give
PLANS = "tessera_copy_plans"  # Table.info: (column names, dialect) -> plan, or None: no COPY


def copy_rows(conn: Connection, statement: Any, rows: list[dict[str, Any]]) -> bool:
    """Write ``rows`` with ``COPY`` when that is the same as executing ``statement`` with
    them; False (nothing written) when it is not.

    A row may leave out columns others give (the ``INSERT`` would then store the column's
    default): they are written as NULL where the column has no default."""
    if len(rows) < MIN_ROWS or conn.dialect.driver != "psycopg":
        return False
    names = tuple(dict.fromkeys(chain.from_iterable(rows)))  # every row's keys, in order
    plan = _plan(conn, statement, names)
    if plan is None:
        return False
    sql, processors, nullable = plan
    if any(len(row) < len(names) for row in rows) and not nullable:
        return False  # a left-out column the INSERT would fill with its server default
    columns = [_column(rows, n, p) for n, p in zip(names, processors, strict=True)]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        with cursor.copy(sql) as copy:
            for values in zip(*columns, strict=True):
                copy.write_row(values)
    except conn.dialect.dbapi.Error as error:  # type: ignore[union-attr]
        raise _wrapped(conn, sql, error) from error
    finally:
        cursor.close()
    return True


def _plan(conn: Connection, statement: Any, names: tuple[str, ...]) -> Plan | None:
    table = getattr(statement, "table", None)
    if not isinstance(statement, sa.Insert) or not isinstance(table, sa.Table):
        return None
    if not statement.compare(table.insert()):  # RETURNING, fixed values, a SELECT
        return None
    plans = table.info.setdefault(PLANS, {})
    key = (names, conn.dialect.name)
    if key not in plans:
        plans[key] = _make_plan(conn, table, names)
    return plans[key]


def _make_plan(conn: Connection, table: sa.Table, names: tuple[str, ...]) -> Plan | None:
    columns = table.c
    if any(n not in columns for n in names):
        return None
    if any(c.default is not None for c in columns):
        return None  # a Python-side default the INSERT fills in where a row has no value
    dialect = conn.dialect
    preparer = dialect.identifier_preparer
    target = preparer.format_table(table)
    sql = f"COPY {target} ({', '.join(preparer.quote(n) for n in names)}) FROM STDIN"
    processors: list[Callable[[Any], Any] | None] = [
        columns[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names
    ]
    return sql, processors, all(columns[n].server_default is None for n in names)


def _column(rows: list[dict[str, Any]], name: str, processor: Callable[[Any], Any] | None) -> list[Any]:
    """The column's values as the ``INSERT`` binds them (None there is a JSON null for a JSON
    column); a left-out column is NULL. A value the rows share (the batch's time, its
    author) is processed once."""
    values = [row.get(name, _LEFT_OUT) for row in rows]
    if processor is None:
        return [None if v is _LEFT_OUT else v for v in values]
    out, last, done = [], _LEFT_OUT, None
    for value in values:
        if value is not last:
            last, done = value, None if value is _LEFT_OUT else processor(value)
        out.append(done)
    return out


def _wrapped(conn: Connection, sql: str, error: Any) -> sa.exc.StatementError:
    """The error as SQLAlchemy raises it for a statement (IntegrityError for a unique index);
    a lost connection is invalidated, as for any statement."""
    dialect = conn.dialect
    lost = dialect.is_disconnect(error, conn.connection.dbapi_connection, None)
    if lost:
        conn.invalidate(error)
    base = dialect.loaded_dbapi.Error
    return sa.exc.DBAPIError.instance(sql, None, error, base, connection_invalidated=lost, dialect=dialect)
