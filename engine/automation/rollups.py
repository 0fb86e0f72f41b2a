"""Rollup fields: stored aggregates over the records of another entity that link here.

```yaml
hours_done:
  type: decimal
  rollup: {from: task, link: project, value: 'sum(hours)', filter: 'done'}
```

A rollup is a column of the parent, read-only for clients and automation alike, that the
engine keeps current inside the transaction of every write of the child entity: create,
update (including a move from one parent to another, or a change of a ``links`` set),
delete (to the trash) and restore. Only the parents a write touches are recomputed, with
one SQL aggregate each, after locking the parent row (so concurrent child writes on
PostgreSQL serialise on the parent and never lose a count). The parent is written as an
ordinary, audited update (source ``rollup``), so its stored computed fields follow and
rules on the parent see the change; its validations are not re-checked (``derived``).

A filter or value that reads the clock (``today()``, ``now()``) changes without any write:
such rollups are recomputed by the rule action ``recompute`` (typically from a cron
schedule) or by ``tessera recompute``; ``tessera check`` warns about nothing here, the
documentation says so (docs/metadata.md).

The component compiles every rollup once per metadata version; a bad rollup is a
``tessera check`` problem at the field's file:line:col.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.automation.actions import Step, Target, register
from engine.automation.model import Automation, BaseComponent
from engine.automation.values import Compiler
from engine.dsl import Expression, compile_expression, nodes, sql_context
from engine.dsl.functions import FunctionRegistry
from engine.errors import DslError, NotFound
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef
from engine.meta.packs import dependency_closure
from engine.meta.problems import Problems
from engine.storage.reading import fetch_row

_VALUE = re.compile(r"^\s*(count|sum|avg|min|max)\s*\((.*)\)\s*$", re.S)
_LINK_TYPES = ("link", "links", "user", "team")
#: the value types each rollup field type accepts
_FITS = {
    "int": {"int"},
    "decimal": {"int", "decimal"},
    "money": {"int", "decimal"},
    "percent": {"int", "decimal"},
    "date": {"date"},
    "datetime": {"datetime"},
    "duration": {"duration", "int"},
}
_CLOCK = ("now", "today")


@dataclass
class Rollup:
    parent: str
    field: FieldDef
    child: str
    link: str
    #: ``link`` holds one id (link, user, team) or a set of them (links)
    many: bool
    function: str
    value: Expression | None
    filter: Expression | None
    #: child fields whose change can change the result (the link itself included)
    reads: frozenset[str] = frozenset()
    #: the value or filter reads the clock: recompute it on a schedule
    uses_clock: bool = False


@dataclass
class Rollups:
    by_child: dict[str, list[Rollup]] = field(default_factory=lambda: defaultdict(list))
    by_parent: dict[str, list[Rollup]] = field(default_factory=lambda: defaultdict(list))


def function_of(fd: FieldDef) -> str | None:
    """The aggregate a rollup field uses (``count``, ``sum``...), None when malformed."""
    spec = fd.opt("rollup")
    match = _VALUE.match(spec.get("value", "")) if isinstance(spec, dict) else None
    return match.group(1) if match else None


def initial_value(fd: FieldDef) -> Any:
    """The value of a rollup over no records: 0 for counts and sums, else empty."""
    if function_of(fd) not in ("count", "sum"):
        return None
    return 0 if fd.type in ("int", "duration") else Decimal(0).quantize(Decimal(1).scaleb(-fd.scale))


# --- compiling ---------------------------------------------------------------------------
def compile_rollups(catalog: Catalog, functions: FunctionRegistry, problems: Problems) -> Rollups:
    out = Rollups()
    closure = dependency_closure(catalog.packs)
    for parent in catalog.entities.values():
        for fd in parent.fields.values():
            if not fd.is_rollup:
                continue
            try:
                rollup = _compile_one(catalog, functions, closure, parent, fd)
            except _Problem as exc:
                problems.add(str(fd.origin), exc.message, f"{parent.name}.{fd.name}.rollup")
                continue
            out.by_child[rollup.child].append(rollup)
            out.by_parent[parent.name].append(rollup)
    return out


class _Problem(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _compile_one(
    catalog: Catalog, functions: FunctionRegistry, closure: dict[str, set[str]], parent: EntityDef, fd: FieldDef
) -> Rollup:
    where = f"{parent.name}.{fd.name}.rollup"
    spec = fd.opt("rollup")
    for option in ("compute", "default"):
        if option in fd.options:
            raise _Problem(f"{where}: a rollup field cannot also have '{option}'")
    if parent.child:
        raise _Problem(f"{where}: child-row entities cannot have rollup fields")
    child = catalog.entities.get(spec["from"])
    if child is None:
        raise _Problem(f"{where}: 'from' names an unknown entity {spec['from']!r}")
    if child.child:
        raise _Problem(f"{where}: {child.name} is a child-row entity; use compute: 'sum(rows.field)' for table rows")
    if fd.pack != "overlay" and child.pack not in closure.get(fd.pack, {child.pack}) and child.pack != "overlay":
        raise _Problem(
            f"{where}: {child.name} belongs to pack {child.pack!r}, which pack {fd.pack!r} does not depend on"
        )
    link = spec["link"]
    link_fd = child.fields.get(link)
    if link == "owner" and parent.name == "user":
        many = False
    elif link_fd is None or link_fd.type not in _LINK_TYPES:
        raise _Problem(f"{where}: {child.name} has no link field {link!r}")
    elif link_fd.target != parent.name:
        raise _Problem(f"{where}: {child.name}.{link} links to {link_fd.target!r}, not to {parent.name!r}")
    else:
        many = link_fd.type == "links"
    match = _VALUE.match(spec["value"])
    if match is None:
        raise _Problem(f"{where}: value must read count(), count(EXPR), sum(EXPR), avg(EXPR), min(EXPR) or max(EXPR)")
    function, argument = match.group(1), match.group(2).strip()
    value = _expression(argument, child, catalog, functions, f"{where}.value") if argument else None
    if value is None and function != "count":
        raise _Problem(f"{where}: {function}() needs an expression over {child.name}, e.g. {function}(amount)")
    kind = "int" if function == "count" else "decimal" if function == "avg" else value.type.kind if value else "int"
    if function in ("sum", "avg") and value is not None and not (value.type.numeric or kind == "duration"):
        raise _Problem(f"{where}: {function}() adds numbers, {argument!r} is {value.type}")
    if kind not in ("null", "any") and kind not in _FITS.get(fd.type, set()):
        raise _Problem(f"{where}: {spec['value']!r} gives {kind}, but {fd.name} is a field of type {fd.type}")
    condition = (
        _expression(spec["filter"], child, catalog, functions, f"{where}.filter", expect="bool")
        if spec.get("filter")
        else None
    )
    reads = {link}
    clock = False
    for expr in (value, condition):
        if expr is None:
            continue
        for node in nodes.walk(expr.tree):
            if isinstance(node, nodes.Path) and node.root == "record" and not node.head.startswith("$"):
                reads.add(node.head)
            if isinstance(node, nodes.Path) and node.root in _CLOCK:
                clock = True
            if isinstance(node, nodes.Call) and getattr(node.function, "name", None) in _CLOCK:
                clock = True
    return Rollup(parent.name, fd, child.name, link, many, function, value, condition, frozenset(reads), clock)


def _expression(
    source: str, entity: EntityDef, catalog: Catalog, functions: FunctionRegistry, where: str, expect: str | None = None
) -> Expression:
    try:
        return compile_expression(source, entity, catalog, functions=functions, where=where, sql=True, expect=expect)
    except DslError as exc:
        raise _Problem(exc.detail.replace("\n", "\n    ")) from None


# --- keeping rollups current ---------------------------------------------------------------
class RollupComponent(BaseComponent):
    name = "rollups"

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        rollups = compile_rollups(catalog, functions, problems)
        automation.parts[self.name] = rollups
        automation.listening.update(rollups.by_child)
        automation.listening.update(rollups.by_parent)  # a restored parent catches up

    def before_update(
        self, run: Any, entity: EntityDef, record_id: str, current: dict[str, Any], values: dict[str, Any], owner: str
    ) -> None:
        """Remember a ``links`` set before it is replaced: the parents it leaves need a recount."""
        rollups: Rollups = run.automation.parts.get(self.name) or Rollups()
        for rollup in rollups.by_child.get(entity.name, ()):
            if rollup.many and rollup.link in values:
                key = (entity.name, record_id, rollup.link)
                _left_links(run).setdefault(key, _linked(run.conn, run.snap, rollup, record_id))

    def on_event(self, run: Any, event: Any) -> None:
        rollups: Rollups = run.automation.parts.get(self.name) or Rollups()
        name = event.entity.name
        touched: dict[str, list[Rollup]] = defaultdict(list)  # parent id -> its rollups to recount
        if event.kind in ("create", "update", "delete", "restore"):
            for rollup in rollups.by_child.get(name, ()):
                if event.kind == "update" and not (rollup.reads & event.changed):
                    continue
                for parent_id in _parents(run, rollup, event):
                    touched[f"{rollup.parent}\0{parent_id}"].append(rollup)
        if event.kind == "restore":
            for rollup in rollups.by_parent.get(name, ()):
                touched[f"{name}\0{event.record_id}"].append(rollup)
        for rollup in rollups.by_child.get(name, ()):  # the sets left are counted now
            _left_links(run).pop((name, event.record_id, rollup.link), None)
        for key, items in touched.items():
            parent, parent_id = key.split("\0")
            recompute(run, run.snap.catalog.entities[parent], parent_id, items)


def _left_links(run: Any) -> dict[tuple[str, str, str], set[str]]:
    cache: dict[tuple[str, str, str], set[str]] | None = getattr(run, "_rollup_left_links", None)
    if cache is None:
        cache = {}
        run._rollup_left_links = cache
    return cache


def _linked(conn: Connection, snap: Any, rollup: Rollup, record_id: str) -> set[str]:
    join = snap.tables.entities[rollup.child].joins[rollup.link]
    return set(conn.execute(sa.select(join.c.target_id).where(join.c.source_id == record_id)).scalars())


def _parents(run: Any, rollup: Rollup, event: Any) -> set[str]:
    if not rollup.many:
        pair = ((event.old or {}).get(rollup.link), (event.new or {}).get(rollup.link))
        return {str(i) for i in pair if i is not None}
    linked = _linked(run.conn, run.snap, rollup, event.record_id)
    return linked | _left_links(run).get((rollup.child, event.record_id, rollup.link), set())


def compute(conn: Connection, snap: Any, rollup: Rollup, parent_id: str, now: dt.datetime) -> Any:
    """The rollup's value for one parent, from the live child records, as its field stores it."""
    child = snap.tables.main(rollup.child)
    conditions = [child.c.deleted_at.is_(None)]
    if rollup.many:
        join = snap.tables.entities[rollup.child].joins[rollup.link]
        conditions.append(child.c.id.in_(sa.select(join.c.source_id).where(join.c.target_id == parent_id)))
    else:
        conditions.append(child.c[rollup.link] == parent_id)
    ctx = sql_context(conn.dialect.name, now)
    if rollup.filter is not None:
        conditions.append(rollup.filter.to_sql(snap.tables, ctx, child))
    if rollup.value is None:
        aggregate = sa.func.count()
    else:
        value = rollup.value.to_sql(snap.tables, ctx, child)
        if rollup.function in ("sum", "avg") and conn.dialect.name == "postgresql":
            value = sa.cast(value, sa.Numeric)
        aggregate = getattr(sa.func, rollup.function)(value)
    result = conn.execute(sa.select(aggregate).where(*conditions)).scalar()
    if result is None and rollup.function in ("count", "sum"):
        result = 0
    return stored_value(rollup.field, result)


def stored_value(fd: FieldDef, value: Any) -> Any:
    """A SQL aggregate's result (a float, text or number on SQLite) as the field stores it."""
    if value is None:
        return None
    if fd.type in ("decimal", "money", "percent"):
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        return number.quantize(Decimal(1).scaleb(-fd.scale))
    if fd.type in ("int", "duration"):
        return round(float(value)) if isinstance(value, float | Decimal) else int(value)
    if fd.type == "date":
        return dt.date.fromisoformat(value[:10]) if isinstance(value, str) else value
    if fd.type == "datetime":
        if isinstance(value, int | float | Decimal):
            return dt.datetime.fromtimestamp(float(value), dt.UTC)
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value


def _same(fd: FieldDef, stored: Any, value: Any) -> bool:
    return stored_value(fd, stored) == value


def recompute(run: Any, parent: EntityDef, parent_id: str, rollups: list[Rollup]) -> bool:
    """Recount ``rollups`` of one parent and write what changed; False when the parent is
    gone (in the trash: its restore recounts it)."""
    try:  # lock first: a concurrent child write waits here, then counts ours too
        row = fetch_row(run.conn, run.snap, parent, parent_id, for_update=True)
    except NotFound:
        return False
    changes: dict[str, Any] = {}
    for rollup in {r.field.name: r for r in rollups}.values():
        value = compute(run.conn, run.snap, rollup, parent_id, run.now)
        if not _same(rollup.field, row._mapping[rollup.field.name], value):
            changes[rollup.field.name] = value
    if changes:
        source = "rollup:" + ",".join(sorted(changes))
        run.records._apply_update(
            run.conn,
            run.snap,
            run.system_actor(source),
            parent,
            parent_id,
            changes,
            None,
            run.now,
            run=run,
            derived=True,
        )
    return True


# --- recomputing on demand -------------------------------------------------------------
def rollups_of(snap: Any, entity: str, names: list[str] | None = None) -> list[Rollup]:
    rollups: Rollups = snap.automation.parts.get(RollupComponent.name) or Rollups()
    found = rollups.by_parent.get(entity, [])
    return [r for r in found if names is None or r.field.name in names]


class RecomputeAction:
    """``recompute: [overdue_tasks]`` (or ``recompute: all``): recount rollups of the
    trigger record now. For rollups whose filter reads the clock, from a cron schedule:

    ```yaml
    - name: refresh_overdue_counts
      entity: project
      schedule: {cron: "15 0 * * *"}
      do: [{recompute: all}]
    ```
    """

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        names: list[str] | None
        if spec == "all":
            names = None
        elif isinstance(spec, list) and spec and all(isinstance(s, str) for s in spec):
            names = list(spec)
            for name in names:
                fd = entity.fields.get(name)
                if fd is None or not fd.is_rollup:
                    c.fail(f"{entity.name} has no rollup field {name!r}", *path)
                    return None
        else:
            c.fail("recompute takes 'all' or a list of rollup fields", *path)
            return None
        if not any(fd.is_rollup for fd in entity.fields.values()):
            c.fail(f"{entity.name} has no rollup fields to recompute", *path)
            return None

        def run_recompute(run: Any, target: Target) -> None:
            recompute(run, target.entity, target.record_id, rollups_of(run.snap, target.entity.name, names))

        return run_recompute


register("recompute", RecomputeAction())
COMPONENT = RollupComponent()


def recompute_all(ws: Any, entity_name: str, names: list[str] | None = None, now: dt.datetime | None = None) -> int:
    """``tessera recompute ENTITY [FIELD...]``: recount rollups of every live record, in
    batches of one transaction each (after adding a rollup to existing data, or for
    clock-dependent filters without a schedule). Returns the number of records."""
    from engine.actor import SYSTEM
    from engine.errors import BadRequest
    from engine.storage.database import write_transaction

    snap = ws.snapshot()
    entity = snap.catalog.entities.get(entity_name)
    if entity is None or entity.child:
        raise BadRequest(f"There is no entity {entity_name!r}")
    for name in names or []:
        fd = entity.fields.get(name)
        if fd is None or not fd.is_rollup:
            raise BadRequest(f"{entity_name} has no rollup field {name!r}")
    rollups = rollups_of(snap, entity_name, names or None)
    if not rollups:
        raise BadRequest(f"{entity_name} has no rollup fields")
    table = snap.tables.main(entity_name)
    now = now or dt.datetime.now(dt.UTC)
    done, last = 0, ""
    while True:
        with write_transaction(ws.db) as conn:
            ids = list(
                conn.execute(
                    sa.select(table.c.id)
                    .where(table.c.deleted_at.is_(None), table.c.id > last)
                    .order_by(table.c.id)
                    .limit(500)
                ).scalars()
            )
            if not ids:
                return done
            run = ws.records._run(conn, snap, SYSTEM, now)
            for record_id in ids:
                recompute(run, entity, record_id, rollups)
        done, last = done + len(ids), ids[-1]
