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

Inside :func:`copies_behind`, the end of a ``COPY`` (PostgreSQL storing what is still
buffered and updating the indexes: for a batch of contacts with search indexes, most of the
statement's time) is awaited by a thread while the caller goes on preparing the next rows;
the next statement on the connection, the next ``COPY`` and the block's end wait for it
first, and raise its error as the ``COPY`` would have.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from itertools import chain
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from engine.storage.database import live_info

# the COPY statement, a processor per column, and whether a left-out column may be NULL
Plan = tuple[str, list[Callable[[Any], Any] | None], bool]

MIN_ROWS = 64  # below this, a pipelined executemany is as fast
_LEFT_OUT = object()  # a column a row does not give
PLANS = "tessera_copy_plans"  # Table.info: (column names, dialect) -> plan, or None: no COPY
BEHIND = "tessera_copy_behind"  # conn.info, inside copies_behind: the COPY whose end is awaited


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
    settle(conn)  # the previous COPY's end, awaited while the columns above were made
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    ending = _Ending(sql, cursor, cursor.copy(sql))
    try:
        copy = ending.copy.__enter__()
        try:
            for values in zip(*columns, strict=True):
                copy.write_row(values)
        except BaseException as exc:
            if not ending.copy.__exit__(type(exc), exc, exc.__traceback__):
                raise
    except BaseException as error:
        cursor.close()
        if isinstance(error, conn.dialect.dbapi.Error):  # type: ignore[union-attr]
            raise _wrapped(conn, sql, error) from error
        raise
    info = live_info(conn)
    if info is not None and BEHIND in info:
        info[BEHIND] = ending
        ending.start()
    else:
        ending.run()
        _raise(conn, ending)
    return True


@contextmanager
def copies_behind(conn: Connection) -> Iterator[None]:
    """Let each ``COPY`` of the block end behind (see the module's doc); its error is raised
    by the next statement on ``conn``, the next ``COPY`` or the block's end."""
    info = live_info(conn)
    if info is None or BEHIND in info or conn.dialect.driver != "psycopg":
        yield
        return
    info[BEHIND] = None
    try:
        yield
        settle(conn)
    finally:
        info = live_info(conn)
        ending = info.pop(BEHIND, None) if info is not None else None
        if ending is not None:  # the block failed: its own error is the one to raise
            ending.join()


def settle(conn: Connection) -> None:
    """Wait for the ``COPY`` ending behind on ``conn``, if any, and raise its error."""
    info = live_info(conn)
    ending = info.get(BEHIND) if info is not None else None
    if ending is not None:
        info[BEHIND] = None  # type: ignore[index]
        ending.join()
        _raise(conn, ending)


class _Ending(threading.Thread):
    """The end of one ``COPY``: sent, then waited for (psycopg's wait releases the GIL).

    ``start`` returns once the thread runs, so the end is sent at once: PostgreSQL stores a
    ``COPY``'s last rows only when it gets the end."""

    def __init__(self, sql: str, cursor: Any, copy: AbstractContextManager[Any]):
        super().__init__(name="tessera-copy", daemon=True)
        self.sql, self.cursor, self.copy = sql, cursor, copy
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.copy.__exit__(None, None, None)
        except BaseException as exc:
            self.error = exc
        finally:
            self.cursor.close()


def _raise(conn: Connection, ending: _Ending) -> None:
    error = ending.error
    if error is None:
        return
    if isinstance(error, conn.dialect.dbapi.Error):  # type: ignore[union-attr]
        raise _wrapped(conn, ending.sql, error) from error
    raise error


def _settle_first(conn: Connection, *_args: Any) -> None:
    """Any statement waits for the COPY ending behind (a savepoint's release included)."""
    settle(conn)


sa.event.listen(Engine, "before_execute", _settle_first)


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
        _json_text(dialect)
        if isinstance(columns[n].type, sa.JSON)
        else columns[n].type.dialect_impl(dialect).bind_processor(dialect)
        for n in names
    ]
    return sql, processors, all(columns[n].server_default is None for n in names)


def _json_text(dialect: Any) -> Callable[[Any], str]:
    """A JSON column's values as their text, as the ``INSERT``'s driver would send it (None is
    JSON null): made with the row's other values, so before the previous ``COPY`` is awaited."""
    return getattr(dialect, "_json_serializer", None) or _json_text_of


def _json_text_of(value: Any) -> str:
    """``json.dumps(value)``'s document, written by orjson (a tenth of the time: the audit
    entries' changes are a large part of a batch's work); what orjson refuses (keys that
    are not text, integers past 64 bits) is written by ``json``."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return _JSON_TEXT(value)


_JSON_TEXT = json.JSONEncoder(check_circular=False).encode


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
