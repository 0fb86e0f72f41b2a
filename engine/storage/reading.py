"""Reading records: one row or a page, with child rows, links and expanded references.

Every page costs a fixed number of queries whatever its size: one for the rows, one per
``table`` or ``links`` field shown, one per expanded link, one for ``count=true``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from engine.actor import Actor
from engine.dsl.sqlparts import SqlContext
from engine.errors import BadRequest, NotFound
from engine.meta.model import SYSTEM_FIELDS, EntityDef, FieldDef
from engine.storage.codec import converter, iso_or_none, output_value
from engine.storage.derivation import coerce
from engine.storage.encryption import Unopenable
from engine.storage.evaluation import RecordLoader, make_env
from engine.storage.files import present_files
from engine.storage.ids import is_id
from engine.storage.listing import ListQuery, after_cursor, encode_cursor, order_by
from engine.storage.search import relevance, search_filter

if False:  # pragma: no cover - typing only
    from engine.workspace import Snapshot


@dataclass
class ReadContext:
    """Who reads and when: computed fields and filters depend on it."""

    actor: Actor
    now: dt.datetime
    sql: SqlContext
    #: what the actor may see (engine.security.permissions.Access); None: everything
    access: Any = None
    #: opens secret fields for the roles a field's ``reveal_to`` names
    cipher: Any = None

    def converter(self, fd: FieldDef) -> Any:
        roles = set(fd.opt("reveal_to") or ())
        if fd.type == "secret" and self.cipher is not None and roles & set(self.actor.roles):
            cipher = self.cipher
            return lambda v: None if v is None else cipher.open(v)
        return converter(fd)

    def predicate(self, snap: Snapshot, entity: EntityDef, table: Any, action: str = "read") -> Any:
        if self.access is None:
            return None
        return self.access.predicate(entity, action, table, self.sql)

    def hidden(self, entity: EntityDef) -> set[str]:
        return set() if self.access is None else self.access.hidden(entity)

    def sees(self, conn: Connection, snap: Snapshot, entity: EntityDef, record_id: str) -> bool:
        """Whether ``record_id`` is a live record of ``entity`` this reader may read."""
        if not is_id(record_id):
            return False
        table = snap.tables.main(entity.name)
        conditions = [table.c.id == record_id, table.c.deleted_at.is_(None)]
        visible = self.predicate(snap, entity, table)
        if visible is not None:
            conditions.append(visible)
        return conn.execute(sa.select(table.c.id).where(*conditions)).first() is not None

    def written(self, snap: Snapshot) -> SqlContext:
        """The SQL context of an expression the reader wrote (a filter, a search, a metric):
        its paths through links read only the linked records the reader may read, so that
        ``account.notes ~ "x"`` cannot probe an account hidden from them."""
        access, plain = self.access, self.sql
        if access is None or access.unrestricted:
            return plain

        def scope(name: str, table: Any) -> Any:
            return access.predicate(snap.catalog.entities[name], "read", table, plain)

        return replace(plain, link_scope=scope)


#: computed values of these types are evaluated in Python: SQL gives them as epoch numbers
_PYTHON_TYPES = ("date", "datetime", "any", "list", "id")


def computed_columns(snap: Snapshot, entity: EntityDef, table: Any, rc: ReadContext | None) -> list[Any]:
    """Virtual computed fields that SQL can compute, as labelled columns of the row query."""
    if rc is None:
        return []
    out = []
    for name, expr in snap.expressions(entity.name).virtual.items():
        if expr.sql_ready and expr.type.kind not in _PYTHON_TYPES:
            out.append(expr.to_sql(snap.tables, rc.sql, table).label(f"__c_{name}"))
    return out


def _python_computed(
    conn: Connection, snap: Snapshot, entity: EntityDef, rows: Sequence[Row[Any]], rc: ReadContext
) -> dict[tuple[str, str], Any]:
    """Computed values the row query could not give (Python-only functions, dates)."""
    pending = {
        name: expr
        for name, expr in snap.expressions(entity.name).virtual.items()
        if not (expr.sql_ready and expr.type.kind not in _PYTHON_TYPES)
    }
    if not pending or not rows:
        return {}
    loader = RecordLoader(conn, snap)
    out = {}
    for row in rows:
        record = loader.wrap(entity, {k: v for k, v in row._mapping.items() if not k.startswith("__c_")})
        env = make_env(loader, rc.actor, rc.now, record)
        for name, expr in pending.items():
            out[(row._mapping["id"], name)] = expr.evaluate(env)
    return out


@dataclass
class Page:
    data: list[dict[str, Any]]
    next_cursor: str | None = None
    total: int | None = None
    total_capped: bool = False  # there are more than ``total`` (``count_limit``)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"data": self.data}
        if self.total is not None:
            out["total"] = self.total
        if self.total_capped:
            out["total_capped"] = True
        if self.next_cursor:
            out["next_cursor"] = self.next_cursor
        return out


def _wanted(entity: EntityDef, fields: list[str] | None, hidden: set[str]) -> list[str]:
    names = list(entity.fields) if fields is None else [n for n in fields if n in entity.fields]
    return [n for n in names if n not in hidden]


def _child_rows(conn: Connection, snap: Snapshot, entity: EntityDef, name: str, ids: list[str]) -> dict[str, list[Any]]:
    table = snap.tables.entities[entity.name].children[name]
    child = snap.catalog.entities[entity.fields[name].opt("of")]
    out: dict[str, list[Any]] = defaultdict(list)
    rows = conn.execute(
        sa.select(table).where(table.c.parent_id.in_(ids)).order_by(table.c.parent_id, table.c.position)
    )
    for row in rows:
        m = row._mapping
        item = {"id": m["id"]}
        for fd in child.column_fields():
            item[fd.name] = output_value(fd, m[fd.name])
        out[m["parent_id"]].append(item)
    files = [fd.name for fd in child.column_fields() if fd.type == "file"]
    if files:
        present_files(conn, [item for items in out.values() for item in items], files)
    return out


def _link_ids(conn: Connection, snap: Snapshot, entity: EntityDef, name: str, ids: list[str]) -> dict[str, list[str]]:
    table = snap.tables.entities[entity.name].joins[name]
    out: dict[str, list[str]] = defaultdict(list)
    rows = conn.execute(
        sa.select(table.c.source_id, table.c.target_id)
        .where(table.c.source_id.in_(ids))
        .order_by(table.c.source_id, table.c.position)
    )
    for source, target in rows:
        out[source].append(target)
    return out


def rows_to_records(
    conn: Connection,
    snap: Snapshot,
    entity: EntityDef,
    rows: Sequence[Row[Any]],
    fields: list[str] | None = None,
    expand: list[str] | None = None,
    rc: ReadContext | None = None,
) -> list[dict[str, Any]]:
    names = _wanted(entity, fields, rc.hidden(entity) if rc is not None else set())
    ids = [r._mapping["id"] for r in rows]
    python_values = _python_computed(conn, snap, entity, rows, rc) if rc is not None else {}
    extra: dict[str, dict[str, list[Any]]] = {}
    for name in names:
        fd = entity.fields[name]
        if fd.type == "table" and ids:
            extra[name] = _child_rows(conn, snap, entity, name, ids)
        elif fd.type == "links" and ids:
            extra[name] = _link_ids(conn, snap, entity, name, ids)
    system = SYSTEM_FIELDS if fields is None else ["id", *[n for n in SYSTEM_FIELDS if n in fields and n != "id"]]
    convert = rc.converter if rc is not None else converter
    columns = [
        (name, convert(entity.fields[name])) for name in names if entity.fields[name].has_column and name not in extra
    ]
    others = [name for name in names if name in extra or not entity.fields[name].has_column]
    records = []
    for row in rows:
        m = row._mapping
        record = {n: iso_or_none(m[n]) if n in ("created_at", "updated_at") else m[n] for n in system}
        for name, convert in columns:
            try:
                record[name] = convert(m[name])
            except Unopenable as exc:  # a secret sealed under another key (only rc's cipher opens) reads as null
                record[name] = None
                if rc is not None:
                    rc.cipher.report_unopenable(entity.name, name, m["id"], exc)
        for name in others:
            fd = entity.fields[name]
            if name in extra:
                record[name] = extra[name].get(m["id"], [])
            elif fd.type in ("table", "links"):
                record[name] = []
            elif f"__c_{name}" in m:
                record[name] = output_value(fd, coerce(fd, m[f"__c_{name}"]))
            else:
                record[name] = output_value(fd, coerce(fd, python_values.get((m["id"], name))))
        if others:  # keep the declared field order
            record = {**{n: record[n] for n in system}, **{n: record[n] for n in names}}
        records.append(record)
    files = [name for name, _ in columns if entity.fields[name].type == "file"]
    if files:  # uploaded files show as objects with their download URL
        present_files(conn, records, files)
    for name in expand or ():
        expand_link(conn, snap, entity, records, name, rc)
    return records


def expand_link(
    conn: Connection,
    snap: Snapshot,
    entity: EntityDef,
    records: list[dict[str, Any]],
    name: str,
    rc: ReadContext | None = None,
) -> None:
    """Replace the id in ``name`` by the linked record, one query for the whole page."""
    target = snap.catalog.entities[entity.fields[name].target or ""]
    ids = sorted({r[name] for r in records if isinstance(r.get(name), str)})
    if not ids:
        return
    table = snap.tables.main(target.name)
    conditions = [table.c.id.in_(ids), table.c.deleted_at.is_(None)]
    visible = rc.predicate(snap, target, table) if rc is not None else None
    if visible is not None:  # a record the reader may not see stays a bare id
        conditions.append(visible)
    rows = conn.execute(sa.select(table).where(*conditions)).all()
    scalar = [n for n, fd in target.fields.items() if fd.has_column]
    records_ = rows_to_records(conn, snap, target, rows, scalar, rc=rc)
    by_id = {r.id: record for r, record in zip(rows, records_, strict=True)}
    for record in records:
        if isinstance(record.get(name), str) and record[name] in by_id:
            record[name] = by_id[record[name]]


def fetch_row(
    conn: Connection,
    snap: Snapshot,
    entity: EntityDef,
    record_id: str,
    *,
    deleted: bool = False,
    for_update: bool = False,
) -> Row[Any]:
    if not is_id(record_id):
        raise NotFound(f"No {entity.name} with id {record_id!r}")
    table = snap.tables.main(entity.name)
    stmt = sa.select(table).where(table.c.id == record_id)
    stmt = stmt.where(table.c.deleted_at.is_not(None) if deleted else table.c.deleted_at.is_(None))
    if for_update and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound(f"No {entity.name} with id {record_id!r}" + (" in the trash" if deleted else ""))
    return row


def get_record(
    conn: Connection,
    snap: Snapshot,
    entity: EntityDef,
    record_id: str,
    fields: list[str] | None = None,
    expand: list[str] | None = None,
    rc: ReadContext | None = None,
) -> dict[str, Any]:
    if not is_id(record_id):
        raise NotFound(f"No {entity.name} with id {record_id!r}")
    table = snap.tables.main(entity.name)
    visible = rc.predicate(snap, entity, table) if rc is not None else None
    computed = computed_columns(snap, entity, table, rc)
    if visible is None and not computed:  # the common case: one statement, compiled once
        key = ("get", entity.name)
        stmt = snap.cache.get(key)
        if stmt is None:
            stmt = snap.cache[key] = sa.select(table).where(
                table.c.id == sa.bindparam("record_id"), table.c.deleted_at.is_(None)
            )
        row = conn.execute(stmt, {"record_id": record_id}).first()
    else:
        conditions = [table.c.id == record_id, table.c.deleted_at.is_(None)]
        if visible is not None:
            conditions.append(visible)
        row = conn.execute(sa.select(table, *computed).where(*conditions)).first()
    if row is None:
        raise NotFound(f"No {entity.name} with id {record_id!r}")
    return rows_to_records(conn, snap, entity, [row], fields, expand, rc)[0]


def written_record(
    conn: Connection, snap: Snapshot, entity: EntityDef, record_id: str, rc: ReadContext
) -> dict[str, Any]:
    """The record as a write answers it. A writer may give a record to an owner outside the
    records they may read (their create or update grant allows it, as when a receptionist
    files leads for the sales reps): it is written all the same, and answered as its id with
    ``_readable: false``, since reading it back would say it does not exist."""
    try:
        return get_record(conn, snap, entity, record_id, rc=rc)
    except NotFound:
        return {"id": record_id, "_readable": False}


def _column(table: sa.Table, name: str) -> sa.Column[Any]:
    return table.c[name]


def list_records(
    conn: Connection,
    snap: Snapshot,
    entity: EntityDef,
    query: ListQuery,
    where: list[sa.ColumnElement[bool]] | None = None,
    table: sa.Table | None = None,
    rc: ReadContext | None = None,
) -> Page:
    table = table if table is not None else snap.tables.main(entity.name)
    conditions: list[sa.ColumnElement[bool]] = list(where or [])
    conditions.append(table.c.deleted_at.is_not(None) if query.trash else table.c.deleted_at.is_(None))
    for name, value in query.equals:
        column = _column(table, name)
        conditions.append(column.is_(None) if value is None else column == value)
    search = search_filter(entity, query.q, rc.hidden(entity) if rc is not None else ()) if query.q else None
    if query.q and search is None:
        raise BadRequest(f"{entity.name} has no search fields to look in")
    for source in (query.filter, search):
        if not source:
            continue
        if rc is None:
            raise BadRequest("filter= needs a reading context")
        expr = snap.filter_expression(entity, source, access=rc.access)
        if rc.access is not None:
            rc.access.check_expression(expr)
        conditions.append(expr.to_sql(snap.tables, rc.written(snap), table))
    visible = rc.predicate(snap, entity, table) if rc is not None else None
    if visible is not None:
        conditions.append(visible)
    sort_cols = [(_column(table, name), desc) for name, desc in query.sort]
    keys = [*sort_cols, (table.c.id, sort_cols[-1][1] if sort_cols else False)]
    if query.q and query.ranked:  # the best of the first matches found, not of every match
        first = sa.select(table.c.id).where(*conditions).limit(query.ranked)
        stmt = sa.select(table, *computed_columns(snap, entity, table, rc)).where(table.c.id.in_(first))
    else:
        stmt = sa.select(table, *computed_columns(snap, entity, table, rc)).where(*conditions)
    if query.cursor is not None:
        stmt = stmt.where(after_cursor(keys, query.cursor))
    if query.q and rc is not None:
        stmt = stmt.order_by(relevance(entity, table, query.q, rc.sql, rc.hidden(entity)))
    stmt = stmt.order_by(*order_by(keys)).limit(query.limit + 1)
    if query.offset:
        stmt = stmt.offset(query.offset)
    rows = conn.execute(stmt).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    page = Page(rows_to_records(conn, snap, entity, rows, query.fields, query.expand, rc))
    if more and rows and not query.q:  # a search pages with offset: its order is no keyset
        last = rows[-1]._mapping
        page.next_cursor = encode_cursor(query, [last[name] for name, _ in query.sort] + [last["id"]])
    if query.count:
        count_rows(conn, page, table, conditions, query, whole=not (more or query.cursor or query.offset))
    return page


def count_rows(
    conn: Connection, page: Page, table: sa.Table, conditions: list[Any], query: ListQuery, whole: bool
) -> None:
    """``page.total``: the rows of the list, counted up to ``count_limit`` when one is given
    (an exact count reads every matching row). A first page that holds them all is its own count."""
    if whole:
        page.total = len(page.data)
        return
    matching = sa.select(sa.literal(1)).select_from(table).where(*conditions)
    if query.count_limit is not None:
        matching = matching.limit(query.count_limit + 1)
    total = conn.execute(sa.select(sa.func.count()).select_from(matching.subquery())).scalar_one()
    if query.count_limit is not None and total > query.count_limit:
        page.total, page.total_capped = query.count_limit, True
    else:
        page.total = total


def related_target(
    snap: Snapshot, entity: EntityDef, record_id: str, link: str, rc: ReadContext
) -> tuple[EntityDef, list[Any]]:
    """The entity and row condition of a related list: a ``links`` field of the record, or
    the records of another entity whose link points at it (``contact``, ``contact.account``)."""
    own = entity.fields.get(link) if link not in rc.hidden(entity) else None
    if own is not None and own.type == "links":
        target = snap.api_entity(own.target or "")
        join = snap.tables.entities[entity.name].joins[link]
        table = snap.tables.main(target.name)
        where: list[Any] = [table.c.id.in_(sa.select(join.c.target_id).where(join.c.source_id == record_id))]
    else:
        other_name, _, field_name = link.partition(".")
        other = snap.catalog.entities.get(other_name)
        if other is None or other.child or (rc.access is not None and not rc.access.can(other, "read")):
            raise NotFound(f"{entity.name} has no related list {link!r}")
        # a link hidden from the reader is no related list: listing by it would give its value away
        hidden = rc.hidden(other)
        links = [f for f in other.fields.values() if f.target == entity.name and f.name not in hidden]
        candidates = [f for f in links if f.type != "table" and (not field_name or f.name == field_name)]
        if len(candidates) != 1:
            names = ", ".join(f"{other.name}.{f.name}" for f in links)
            hint = f"; name one of: {names}" if len(candidates) > 1 else ""
            raise NotFound(f"{entity.name} has no related list {link!r}{hint}")
        fd, target = candidates[0], other
        table = snap.tables.main(target.name)
        if fd.type == "links":
            join = snap.tables.entities[other.name].joins[fd.name]
            where = [table.c.id.in_(sa.select(join.c.source_id).where(join.c.target_id == record_id))]
        else:
            where = [table.c[fd.name] == record_id]
    return target, where
