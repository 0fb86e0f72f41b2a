"""Summaries kept by the database: a slow dashboard's figures read from a small table of
partial aggregates per combination of its keys instead of from every record (PostgreSQL).

A dashboard's shared scan (``engine.storage.shared_scan``) can be computed in two steps:
partial aggregates per combination of all its keys (the *fine* statement: counts, sums,
and an average's sum and count, each over its widget's rows), then the grouping sets
rolled up from those. A summary keeps the fine statement's rows in a table, so a dashboard
over half a million opportunities rolls up some thousands of rows instead of reading them
all.

The database keeps it up to date, whatever writes the records (the data-access layer, an
import's ``COPY``, a restore, SQL by hand): statement triggers on the entity's table run
the same fine statement over the rows a statement inserted (added) and over the rows it
replaced or deleted (subtracted), and append the result to the summary's delta table, so
concurrent writers never wait for each other on a summary row. A reader adds the delta to
the summary; when the delta has grown, a background step folds it in.

A summary is made only for what it answers exactly, and only when the scan was slow
(``SLOW_SECONDS``) more than once (``SLOW_TIMES``): readers who see every record (no scope predicate), counts, sums and
averages (not minimums and maximums, which cannot be subtracted), expressions over the
entity's own columns (no other table, whose changes fire no trigger here), and statements
that do not change with the day (compiled for a date 400 days on, they are the same). Its
name is a hash of the fine statement's SQL, so a changed dashboard gets a new one; a table
keeps at most ``MAX_PER_TABLE`` (a new one drops the oldest), and a schema change of the
entity's table drops its summaries (``drop_for_table``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.util import find_tables

from engine.storage.database import advisory_lock

log = logging.getLogger(__name__)

PREFIX = "tessera_sum_"
#: a shared scan slower than this gets a summary
SLOW_SECONDS = 0.25
#: how often the same statement must be slow before it gets a summary: a date range a viewer
#: tried once is not worth one (building holds the table's writes back for a moment)
SLOW_TIMES = 2
#: a delta this long is folded into its summary after a read
COMPACT_ROWS = 10_000
#: the most summaries kept on one table (each costs its writes a little): the oldest go first
MAX_PER_TABLE = 4
#: after a failed build, how long before the same summary is tried again
RETRY_SECONDS = 3600.0
_EVENTS = {"ins": ("INSERT", (("new_rows", 1),)), "upd": ("UPDATE", (("new_rows", 1), ("old_rows", -1)))}
_EVENTS["del"] = ("DELETE", (("old_rows", -1),))
_LITERAL = PGDialect(paramstyle="named")  # literal SQL without doubled percent signs
_QUOTE = "$tessera$"  # the dollar quote of the triggers' bodies


@dataclass(frozen=True)
class Summary:
    """The summary of one fine statement over ``table``."""

    name: str
    table: str
    sql: str  # the fine statement, with its values written in
    keys: tuple[str, ...]  # its key columns' labels
    partials: tuple[str, ...]  # its partial aggregates' labels
    counts: tuple[str, ...]  # the partials that count rows
    types: tuple[Any, ...]  # SQL types of keys + partials, for reading

    @property
    def delta(self) -> str:
        return self.name + "_d"


def define(fine: Any, table: sa.Table, keys: list[str], partials: list[str], counts: list[str]) -> Summary | None:
    """The summary of ``fine`` (labelled ``keys`` and ``partials``), or None when it could
    not be kept by triggers on ``table`` (another table is read, a value has no literal)."""
    if any(t is not table and t is not None for t in find_tables(fine, check_columns=True, include_aliases=True)):
        return None
    try:
        sql = str(fine.compile(dialect=_LITERAL, compile_kwargs={"literal_binds": True}))
    except (sa.exc.CompileError, NotImplementedError, TypeError):
        return None
    if _QUOTE in sql:  # a text value ending the trigger's body early: no summary
        return None
    digest = hashlib.sha256(f"{table.name}\n{sql}".encode()).hexdigest()[:16]
    types = tuple(fine.selected_columns[label].type for label in [*keys, *partials])
    return Summary(PREFIX + digest, table.name, sql, tuple(keys), tuple(partials), tuple(counts), types)


#: how long the list of tables with summaries is taken as read
TABLES_SECONDS = 60.0
#: per database: (time.monotonic() when read, the tables that have summaries)
_TABLES: weakref.WeakKeyDictionary[Any, tuple[float, frozenset[str]]] = weakref.WeakKeyDictionary()


def kept_on(conn: Connection, table: str) -> bool:
    """Does ``table`` have summaries (any process's)? Read from the catalog at most every
    ``TABLES_SECONDS``, so a dashboard over tables without any pays nothing per view."""
    with _LOCK:
        known = _TABLES.get(conn.engine)
    if known is None or time.monotonic() - known[0] > TABLES_SECONDS:
        names = conn.execute(
            sa.text("SELECT DISTINCT tgrelid::regclass::text FROM pg_trigger WHERE tgname LIKE :like"),
            {"like": PREFIX + "%"},
        ).scalars()
        known = (time.monotonic(), frozenset(name.strip('"') for name in names))
        with _LOCK:
            _TABLES[conn.engine] = known
    return table in known[1]


def ready(conn: Connection, summary: Summary) -> bool:
    """Is ``summary`` built, with its triggers on its table? A summary table without them
    (its records' table was dropped and made again) is stale: not read, and made again by
    the next build."""
    found = conn.execute(
        sa.text(
            "SELECT to_regclass(:name) IS NOT NULL, "
            "(SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass(:table) AND tgname LIKE :like)"
        ),
        {"name": summary.name, "table": _quoted(conn, summary.table), "like": summary.name + "%"},
    ).one()
    return bool(found[0]) and found[1] == len(_EVENTS) + 1


def source(summary: Summary) -> Any:
    """The summary's rows and its delta's, as the fine statement's subquery ``fine``."""
    labels = [*summary.keys, *summary.partials]
    base = sa.table(summary.name, *[sa.column(n, t) for n, t in zip(labels, summary.types, strict=True)])
    delta = sa.table(summary.delta, *[sa.column(n, t) for n, t in zip(labels, summary.types, strict=True)])
    return sa.union_all(sa.select(*base.c), sa.select(*delta.c)).subquery("fine")


def ensure(engine: Engine, summary: Summary) -> None:
    """Build ``summary`` (behind, once per process at a time) once its scan has been slow
    ``SLOW_TIMES`` times in this process."""
    with _LOCK:
        seen = _SEEN.setdefault(engine, {})
        if len(seen) > 1000:  # statements seen slow once in a long while: start again
            seen.clear()
        seen[summary.name] = seen.get(summary.name, 0) + 1
        if seen[summary.name] < SLOW_TIMES:
            return
    _behind(engine, summary, "build", _build)


def after_read(conn: Connection, summary: Summary) -> None:
    """Fold the delta in (behind) when it has grown past ``COMPACT_ROWS``."""
    delta = sa.table(summary.delta)
    probe = sa.select(sa.func.count()).select_from(
        sa.select(sa.literal(1)).select_from(delta).limit(COMPACT_ROWS).subquery()
    )
    if conn.execute(probe).scalar_one() >= COMPACT_ROWS:
        _behind(conn.engine, summary, "compact", _compact)


def drop_for_table(conn: Connection, table: str) -> None:
    """Drop every summary kept on ``table`` (before its columns change, or it goes)."""
    if conn.dialect.name != "postgresql":
        return
    for name in _kept_on(conn, table):
        _drop(conn, name)


def _kept_on(conn: Connection, table: str) -> list[str]:
    """The summaries kept on ``table``, the oldest first."""
    found = conn.execute(
        sa.text(
            "SELECT left(tgname, :length) FROM pg_trigger WHERE tgrelid = to_regclass(:table) "
            "AND tgname LIKE :like GROUP BY 1 ORDER BY min(oid)"
        ),
        {"length": len(PREFIX) + 16, "table": _quoted(conn, table), "like": PREFIX + "%"},
    ).scalars()
    return list(found)


# --- building and folding ---------------------------------------------------------------
#: per database (its engine): (what, summary name) -> when it was last tried, while running or failed
_TRIED: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], float]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_RUNNING: list[threading.Thread] = []
#: per database: summary name -> how often its scan was slow
_SEEN: weakref.WeakKeyDictionary[Any, dict[str, int]] = weakref.WeakKeyDictionary()


def wait_behind(timeout: float = 60.0) -> None:
    """Wait for the builds and folds running behind (for tests)."""
    with _LOCK:
        running = list(_RUNNING)
    for thread in running:
        thread.join(timeout)


def _behind(engine: Engine, summary: Summary, what: str, work: Any) -> None:
    with _LOCK:
        tried = _TRIED.setdefault(engine, {})
        last = tried.get((what, summary.name))
        if last is not None and time.monotonic() - last < RETRY_SECONDS:
            return  # running, or failed a while ago
        tried[(what, summary.name)] = time.monotonic()

    def run() -> None:
        started = time.monotonic()
        try:
            with engine.begin() as conn:
                work(conn, summary)
        except Exception:  # a summary is only a shortcut: the scan answers meanwhile
            log.warning("could not %s the summary %s of %s", what, summary.name, summary.table, exc_info=True)
            return
        log.info("%s the summary %s of %s: %.2f s", what, summary.name, summary.table, time.monotonic() - started)
        with _LOCK:
            _TRIED.get(engine, {}).pop((what, summary.name), None)
            _TABLES.pop(engine, None)  # read the tables with summaries again

    def behind() -> None:
        try:
            run()
        finally:
            with _LOCK:
                _RUNNING.remove(thread)

    # behind the request: its reading transaction must end before a summary it read is dropped
    thread = threading.Thread(target=behind, name=f"tessera-summary-{what}", daemon=True)
    with _LOCK:
        _RUNNING.append(thread)
    thread.start()


def _build(conn: Connection, summary: Summary) -> None:
    """Make the summary, its delta and triggers and fill it, in one transaction: creating a
    trigger holds the table's writes back until the commit, so no write is missed."""
    advisory_lock(conn, summary.name)
    if ready(conn, summary):
        return
    _drop(conn, summary.name)  # what a dropped table left behind
    kept = _kept_on(conn, summary.table)  # a changed dashboard's, a past day's: the oldest go
    for older in kept[: max(0, len(kept) - MAX_PER_TABLE + 1)]:
        _drop(conn, older)
    q = conn.dialect.identifier_preparer.quote_identifier
    schema = q(conn.execute(sa.text("SELECT current_schema()")).scalar_one())
    base, delta, table = f"{schema}.{q(summary.name)}", f"{schema}.{q(summary.delta)}", _quoted(conn, summary.table)
    run = conn.exec_driver_sql
    raw = conn.connection.driver_connection
    raw.execute(f"CREATE TABLE {base} AS {summary.sql} WITH NO DATA")  # type: ignore[union-attr]
    run(f"CREATE TABLE {delta} (LIKE {base})")
    for suffix, (event, rows) in _EVENTS.items():
        statements = [_append(q, summary, table, delta, transition, sign) for transition, sign in rows]
        function = f"{schema}.{q(f'{summary.name}_{suffix}')}"
        body = "BEGIN\n" + ";\n".join(statements) + ";\nRETURN NULL;\nEND"
        raw.execute(  # type: ignore[union-attr]
            f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS {_QUOTE}\n{body}\n{_QUOTE}"
        )
        referencing = " ".join(
            f"{'NEW' if transition == 'new_rows' else 'OLD'} TABLE AS {transition}" for transition, _ in rows
        )
        run(
            f"CREATE TRIGGER {q(f'{summary.name}_{suffix}')} AFTER {event} ON {table} "
            f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    function = f"{schema}.{q(f'{summary.name}_trn')}"
    run(
        f"CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS "  # nosec B608 - quoted names, literal SQL
        f"{_QUOTE} BEGIN DELETE FROM {base}; DELETE FROM {delta}; RETURN NULL; END {_QUOTE}"
    )
    run(f"CREATE TRIGGER {q(f'{summary.name}_trn')} AFTER TRUNCATE ON {table} EXECUTE FUNCTION {function}()")
    raw.execute(f"INSERT INTO {base} {summary.sql}")  # type: ignore[union-attr]


def _append(q: Any, summary: Summary, table: str, delta: str, transition: str, sign: int) -> str:
    """The statement adding (or subtracting) the fine statement over a transition table: a
    CTE named as the records' table stands in for it."""
    columns = [q(k) for k in summary.keys] + [q(p) if sign > 0 else f"-{q(p)}" for p in summary.partials]
    return (
        f"WITH {table} AS (SELECT * FROM {transition}) "  # nosec B608 - quoted names, literal SQL
        f"INSERT INTO {delta} SELECT {', '.join(columns)} FROM ({summary.sql}) AS fine"
    )


def _compact(conn: Connection, summary: Summary) -> None:
    """Fold the delta into the summary (one statement: readers see it before or after)."""
    advisory_lock(conn, summary.name)
    q = conn.dialect.identifier_preparer.quote_identifier
    keys = ", ".join(q(k) for k in summary.keys)
    sums = ", ".join(f"sum({q(p)})" for p in summary.partials)
    kept = " OR ".join(f"sum({q(c)}) <> 0" for c in summary.counts) or "true"
    conn.exec_driver_sql(
        f"WITH gone AS (DELETE FROM {q(summary.name)} RETURNING *), "  # nosec B608 - quoted names, literal SQL
        f"moved AS (DELETE FROM {q(summary.delta)} RETURNING *) "
        f"INSERT INTO {q(summary.name)} SELECT {keys}, {sums} "
        f"FROM (SELECT * FROM gone UNION ALL SELECT * FROM moved) AS rows GROUP BY {keys} HAVING {kept}"
    )


def _drop(conn: Connection, name: str) -> None:
    q = conn.dialect.identifier_preparer.quote_identifier
    functions = ", ".join(f"{q(f'{name}_{suffix}')}()" for suffix in [*_EVENTS, "trn"])
    conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {functions} CASCADE")  # their triggers with them
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(name)}, {q(name + '_d')}")


def _quoted(conn: Connection, table: str) -> str:
    return str(conn.dialect.identifier_preparer.quote_identifier(table))
