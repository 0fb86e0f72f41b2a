"""Several aggregates of one entity answered together: a dashboard's widgets.

:func:`aggregate_many` gives each body what ``engine.storage.aggregation.aggregate`` gives
it alone (its page, or the error it raises); on PostgreSQL the bodies share one scan of the
table (see :func:`_shared_scan`). :func:`fingerprint` says which readers would get the same
answers, so the dashboard cache can share them.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement

from engine.errors import TesseraError
from engine.meta.model import EntityDef
from engine.storage import aggregation, summaries
from engine.storage.aggregation import _base, _metric, _page, _prepare, _Query, _too_many, aggregate, uncomputable
from engine.storage.reading import Page, ReadContext

T = TypeVar("T")


def aggregate_many(
    conn: Connection, snap: Any, entity: EntityDef, bodies: list[Any], rc: ReadContext
) -> list[Page | TesseraError]:
    """Several aggregates of one entity (a dashboard's widgets), each answered as
    :func:`aggregate` would, or with the error it would raise.

    On PostgreSQL they share one scan of the table: each body's metrics are aggregated over
    its own rows (``FILTER (WHERE ...)``) and each group-by is a grouping set, so a dashboard
    with eight widgets over a million tickets reads them once instead of eight times. A
    body grouped by a ``links`` field (a join) or by several fields runs on its own, and so
    does everything on SQLite, where the tables are small and ``GROUPING SETS`` does not exist.
    """
    table = snap.tables.main(entity.name)
    out: list[Page | TesseraError] = []
    shared: dict[int, _Query] = {}
    for i, body in enumerate(bodies):
        try:
            query = _prepare(snap, entity, table, body, rc)
        except TesseraError as exc:
            out.append(exc)
            continue
        out.append(Page([]))
        if query.source is table and len(query.group_by) <= 1:  # rows of several keys keep their own order
            shared[i] = query
    stable = partial(_stable, snap, entity, table, bodies, rc, shared, conn.dialect)
    scan = partial(_shared_scan, conn, snap, entity, table, rc, shared, out, stable)
    if rc.sql.dialect != "postgresql" or len(shared) < 2 or not _apart(conn, scan, failed=False):
        shared = {}  # then each on its own (a value one cannot compute fails the whole scan)
    for i, body in enumerate(bodies):
        if not isinstance(out[i], TesseraError) and i not in shared:
            try:
                out[i] = _apart(conn, partial(aggregate, conn, snap, entity, body, rc))
            except TesseraError as exc:
                out[i] = exc
    return out


#: the moment a fingerprint's SQL is compiled for: answers are kept a while, not per second
_ANY_MOMENT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def fingerprint(snap: Any, entity: EntityDef, bodies: list[Any], rc: ReadContext, dialect: Any) -> Hashable:
    """What the answers of :func:`aggregate_many` depend on besides the stored rows: the SQL
    it would send, with its parameters, for this reader and day, and the fields hidden from
    the reader.

    Two readers with the same fingerprint get the same answers (the same statements reach
    the database), so they can share them: every admin sees the same support dashboard,
    while a rep's predicate names the rep and a manager's their team. The current moment is
    left out (kept answers are at most a few minutes old anyway), the current day is not.
    """
    probe = replace(rc, sql=replace(rc.sql, now=_ANY_MOMENT))
    table = snap.tables.main(entity.name)
    parts: list[Any] = [snap.version, entity.name, rc.sql.today, json.dumps(bodies, sort_keys=True, default=str)]
    parts.append(tuple(sorted(rc.hidden(entity))))  # a sort or filter on a hidden field must not be shared
    parts += [_compiled(c, dialect) for c in _base(snap, entity, table, probe)]
    for body in bodies:
        try:
            query = _prepare(snap, entity, table, body, probe)
        except TesseraError as exc:
            parts.append(repr(exc))
            continue
        parts += [_compiled(query.condition, dialect)] + [_compiled(v, dialect) for v in query.values.values()]
    return tuple(parts)


def _compiled(clause: Any, dialect: Any) -> Hashable:
    if clause is None:
        return None
    compiled = clause.compile(dialect=dialect)
    return str(compiled), repr(sorted(compiled.params.items()))


def _apart(conn: Connection, compute: Callable[[], T], failed: T | None = None) -> T:
    """``compute()`` in a savepoint, so a value SQL cannot compute (an overflow) fails it
    alone and the transaction goes on for the other aggregates: ``failed`` is the answer
    then, or without one a ``BadRequest``."""
    try:
        with conn.begin_nested():
            return compute()
    except sa.exc.DataError as exc:
        if failed is not None:
            return failed
        raise uncomputable(exc) from None


def _shared_scan(
    conn: Connection,
    snap: Any,
    entity: EntityDef,
    table: Any,
    rc: ReadContext,
    queries: dict[int, _Query],
    out: list[Page | TesseraError],
    stable: Callable[[], bool] = lambda: False,
) -> bool:
    """Answer ``queries`` (by body index) with one statement (see :func:`aggregate_many`);
    False, with nothing answered, when the groups are too many to tell apart in one result.

    PostgreSQL aggregates grouping sets in one process, evaluating every metric for every
    set. When the combinations of all the keys are few (the planner's estimate), the
    statement first aggregates by all the keys together, which PostgreSQL spreads over its
    parallel workers, and then forms the grouping sets from those few rows (counts and sums
    add up, minimums and maximums keep, an average is its sum over its count, exactly as
    ``avg`` divides); a support dashboard over a million tickets is computed in half the
    time. Otherwise (an owner by month by stage of half a million opportunities: tens of
    thousands of combinations) the grouping sets read the table directly.

    For a reader who sees every record, a scan that was slow gets a summary the database
    keeps up to date (``engine.storage.summaries``; ``stable`` says whether the statement
    stays the same on other days), and later scans roll up the summary instead."""
    keys: dict[str, Any] = {}  # group name -> SQL key, in order of first use
    for query in queries.values():
        for name, key in zip(query.group_by, query.keys, strict=True):
            keys.setdefault(name, key)
    names = list(keys)
    labels = {name: f"g{j}" for j, name in enumerate(names)}

    def mask(query: _Query) -> int:  # GROUPING(...) of the rows of this query's grouping set
        return sum(1 << (len(names) - 1 - j) for j, name in enumerate(names) if name not in query.group_by)

    sets = list(dict.fromkeys(tuple(query.group_by) for query in queries.values()))
    conditions = _base(snap, entity, table, rc)
    unrestricted = len(conditions) == 1  # only the live records: no scope predicate
    filters = [query.condition for query in queries.values()]
    if all(f is not None for f in filters):  # rows no body counts need not be read
        conditions.append(sa.or_(*filters))
    scan = _Scan(table, conditions, keys, labels, queries, sets)
    limit = (aggregation.MAX_GROUPS + 1) * len(sets)
    kept = unrestricted and summaries.kept_on(conn, table.name)
    made = _summary_of(scan) if kept else None
    rows = _from_summary(conn, scan, made, limit) if made is not None else None
    if rows is None:
        stmt = _rolled_up(conn, scan)
        if stmt is None:
            stmt = _grouping_sets(scan)
        started = time.monotonic()
        rows = list(conn.execute(stmt.limit(limit + 1)).all())
        if unrestricted and time.monotonic() - started > summaries.SLOW_SECONDS and stable():
            made = made or _summary_of(scan)
            if made is not None:
                summaries.ensure(conn.engine, made[1])
    if len(rows) > limit:
        return False
    for i, query in queries.items():
        wanted = mask(query)
        found = [
            {
                **{name: row._mapping[labels[name]] for name in query.group_by},
                **{name: row._mapping[f"q{i}_{name}"] for name in query.metrics},
            }
            for row in rows
            if row._mapping["grouping"] == wanted and (not query.group_by or row._mapping[f"q{i}"])
        ]
        out[i] = _too_many() if len(found) > aggregation.MAX_GROUPS else _page(entity, query, found)
    return True


@dataclass
class _Scan:
    """What one shared scan reads (``table``'s rows meeting ``conditions``) and answers:
    ``queries`` by body index, grouped by ``keys`` (group name -> SQL, labelled ``labels``)
    in the grouping ``sets``."""

    table: Any
    conditions: list[Any]
    keys: dict[str, Any]
    labels: dict[str, str]
    queries: dict[int, _Query]
    sets: list[tuple[str, ...]]


def _counted(query: _Query) -> Any:
    """The rows of the group that ``query`` counts."""
    return sa.func.count() if query.condition is None else sa.func.count().filter(query.condition)


def _grouping_sets(scan: _Scan) -> Any:
    """The shared scan as one ``GROUP BY GROUPING SETS`` over the table's rows: per query
    ``q{i}`` (its rows in the group) and ``q{i}_{metric}``, ordered by the keys."""
    keys = scan.keys
    columns = [key.label(scan.labels[name]) for name, key in keys.items()]
    columns.append((sa.func.grouping(*keys.values()) if keys else sa.literal(0)).label("grouping"))
    for i, query in scan.queries.items():
        columns.append(_counted(query).label(f"q{i}"))
        columns += [_metric(query, name, query.condition).label(f"q{i}_{name}") for name in query.metrics]
    stmt = sa.select(*columns).select_from(scan.table).where(*scan.conditions)
    if keys:
        stmt = stmt.group_by(sa.func.grouping_sets(*[sa.tuple_(*[keys[n] for n in s]) for s in scan.sets]))
        stmt = stmt.order_by(*[key.asc().nulls_first() for key in keys.values()])
    return stmt


#: the most combinations of all keys the planner may expect for the two-step statement
FINE_GROUPS = 5000


def _rolled_up(conn: Connection, scan: _Scan) -> Any:
    """The same rows as :func:`_grouping_sets` in two steps (see :func:`_shared_scan`); None
    when there is no key, or the planner expects more than ``FINE_GROUPS`` combinations."""
    fine = _fine(scan)
    if fine is None:
        return None
    keys = scan.keys
    if len(keys) > 1 and _planned_groups(conn, scan.table, tuple(keys), fine.statement) > FINE_GROUPS:
        return None
    return _outer(scan, fine, fine.statement.subquery("fine"))


@dataclass
class _Fine:
    """The first step of a shared scan: partial aggregates per combination of all its keys
    (``statement``, its columns labelled ``keys`` then ``partials``, of which ``counts``
    count rows), and how each answer is rolled up from them: ``outer`` (label, function)."""

    statement: Any
    keys: list[str]
    partials: list[str]
    counts: list[str]
    outer: list[tuple[str, str]]
    exact: bool  # a sum also keeps how many values it added (a summary subtracts rows)


def _fine(scan: _Scan, exact: bool = False) -> _Fine | None:
    """The first step (None without keys; ``exact``, also None for a minimum or maximum,
    which a summary could not subtract)."""
    keys, labels = scan.keys, scan.labels
    if not keys:
        return None
    inner = [key.label(labels[name]) for name, key in keys.items()]
    fine = _Fine(sa.select(), [labels[name] for name in keys], [], [], [], exact)
    for i, query in scan.queries.items():
        inner.append(_counted(query).label(f"q{i}"))
        fine.counts.append(f"q{i}")
        fine.outer.append((f"q{i}", "count"))
        for name, (function, _) in query.metrics.items():
            label = f"q{i}_{name}"
            if exact and function in ("min", "max"):
                return None
            if function == "avg" or (exact and function == "sum"):
                value = query.values[name]
                only = query.condition
                total, counted = sa.func.sum(value), sa.func.count(value)
                inner += [
                    (total if only is None else total.filter(only)).label(f"{label}/sum"),
                    (counted if only is None else counted.filter(only)).label(f"{label}/n"),
                ]
            else:
                inner.append(_metric(query, name, query.condition).label(label))
            fine.outer.append((label, function))
    fine.partials = [column.name for column in inner[len(keys) :]]
    fine.statement = sa.select(*inner).select_from(scan.table).where(*scan.conditions).group_by(*keys.values())
    return fine


def _outer(scan: _Scan, fine: _Fine, rows: Any) -> Any:
    """The grouping sets rolled up from ``rows``, the fine statement's (or a summary's)."""
    columns: list[Any] = []
    for label, function in fine.outer:
        if function == "avg":  # what avg() computes: the sum over the count, numeric division
            value = sa.func.sum(rows.c[f"{label}/sum"]) / sa.func.nullif(sa.func.sum(rows.c[f"{label}/n"]), 0)
        elif function == "count":
            value = sa.cast(sa.func.coalesce(sa.func.sum(rows.c[label]), 0), sa.BigInteger)
        elif function == "sum" and fine.exact:  # no value added (all subtracted again): none
            value = sa.case((sa.func.sum(rows.c[f"{label}/n"]) > 0, sa.func.sum(rows.c[f"{label}/sum"])))
        else:
            value = getattr(sa.func, function)(rows.c[label])
        columns.append(value.label(label))
    group = {name: rows.c[scan.labels[name]] for name in scan.keys}  # named as in _grouping_sets
    stmt = sa.select(*group.values(), sa.func.grouping(*group.values()).label("grouping"), *columns)
    stmt = stmt.group_by(sa.func.grouping_sets(*[sa.tuple_(*[group[n] for n in s]) for s in scan.sets]))
    return stmt.order_by(*[column.asc().nulls_first() for column in group.values()])


def _summary_of(scan: _Scan) -> tuple[_Fine, summaries.Summary] | None:
    fine = _fine(scan, exact=True)
    if fine is None:
        return None
    summary = summaries.define(fine.statement, scan.table, fine.keys, fine.partials, fine.counts)
    return None if summary is None else (fine, summary)


def _from_summary(conn: Connection, scan: _Scan, made: tuple[_Fine, summaries.Summary], limit: int) -> list[Any] | None:
    """The shared scan's rows rolled up from its summary; None when there is none (yet)."""
    fine, summary = made
    if not summaries.ready(conn, summary):
        return None
    try:
        with conn.begin_nested():
            rows = conn.execute(_outer(scan, fine, summaries.source(summary)).limit(limit + 1)).all()
            summaries.after_read(conn, summary)
    except sa.exc.ProgrammingError:  # dropped since (a schema change): read the table
        return None
    return list(rows)


def _stable(
    snap: Any,
    entity: EntityDef,
    table: Any,
    bodies: list[Any],
    rc: ReadContext,
    queries: dict[int, _Query],
    dialect: Any,
) -> bool:
    """Would the queries be the same SQL on a day long after (no ``today()`` in them)?"""
    later = replace(rc, sql=replace(rc.sql, today=rc.sql.today + STABLE_AFTER, now=rc.sql.now + STABLE_AFTER))
    for i, query in queries.items():
        try:
            again = _prepare(snap, entity, table, bodies[i], later)
        except TesseraError:
            return False
        clauses = [query.condition, *query.keys, *query.values.values()]
        repeated = [again.condition, *again.keys, *again.values.values()]
        if [_compiled(c, dialect) for c in clauses] != [_compiled(c, dialect) for c in repeated]:
            return False
    return True


#: how far ahead :func:`_stable` compiles the queries again
STABLE_AFTER = dt.timedelta(days=400)


class _Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON)`` of a statement, executed with its bound values as they are."""

    inherit_cache = False  # compiled each time: it runs at most every ESTIMATE_SECONDS

    def __init__(self, statement: Any):
        self.statement = statement


@compiles(_Explain)
def _compile_explain(element: _Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.statement, **kw)


#: how long the planner's estimate of a set of keys' combinations is taken as it was
ESTIMATE_SECONDS = 600.0
#: per database (its engine): (table, group names) -> (time.monotonic(), rows)
_ESTIMATES: weakref.WeakKeyDictionary[Any, dict[tuple[str, tuple[str, ...]], tuple[float, float]]] = (
    weakref.WeakKeyDictionary()
)


def _planned_groups(conn: Connection, table: Any, names: tuple[str, ...], stmt: Any) -> float:
    """How many rows PostgreSQL's planner expects ``stmt`` (grouped by ``names``) to return:
    ``EXPLAIN``, nothing run, asked again for the same keys after ``ESTIMATE_SECONDS``."""
    kept = _ESTIMATES.setdefault(conn.engine, {})
    key, now = (table.name, names), time.monotonic()
    if key in kept and now - kept[key][0] < ESTIMATE_SECONDS:
        return kept[key][1]
    plan: Any = conn.execute(_Explain(stmt)).scalar()
    if isinstance(plan, str):
        plan = json.loads(plan)
    rows = float(plan[0]["Plan"]["Plan Rows"])
    kept[key] = (now, rows)
    return rows
