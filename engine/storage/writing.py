"""The write path of the data-access layer: defaults, required fields, references,
child rows, links, autonumbers and the audit trail, all inside the caller's transaction.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import re
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.errors import Conflict, FieldError, PreconditionFailed, ValidationError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef
from engine.storage import system_tables as st
from engine.storage.autonumber import next_number
from engine.storage.codec import SECRET_MASK, to_json
from engine.storage.ids import new_id
from engine.storage.validation import marshmallow_field
from engine.storage.write_batch import defer, defer_update

if False:  # pragma: no cover - typing only
    from engine.workspace import Snapshot


_DEFAULTS: dict[int, tuple[FieldDef, Any]] = {}  # id(fd) -> (fd, its literal default), bounded


def literal_default(fd: FieldDef, catalog: Catalog) -> Any:
    """The value of a literal ``default`` (DSL defaults starting with '=' come with the DSL);
    a fresh copy each time (a list default must not be shared between records)."""
    kept = _DEFAULTS.get(id(fd))
    if kept is None or kept[0] is not fd:
        default = fd.opt("default")
        if default is None or (isinstance(default, str) and default.startswith("=")):
            return None
        if isinstance(default, str) and default.startswith("'="):
            default = default[1:]  # an escaped literal that starts with '='
        kept = (fd, marshmallow_field(fd, catalog).deserialize(default))
        if fd.type != "table":  # a child table's default depends on the catalog
            if len(_DEFAULTS) > 4096:  # metadata changed many times over: start again
                _DEFAULTS.clear()
            _DEFAULTS[id(fd)] = kept
    return copy.deepcopy(kept[1]) if isinstance(kept[1], (list, dict)) else kept[1]


def apply_defaults(entity: EntityDef, values: dict[str, Any], catalog: Catalog) -> None:
    for fd in entity.defaulted_fields:
        if fd.name in values:
            continue
        if fd.is_rollup:  # a new record has nothing to count yet
            from engine.automation.rollups import initial_value

            values[fd.name] = initial_value(fd)
            continue
        # a declared read-only field takes its default too (clients cannot write it; the
        # engine and automation start from it); computed and numbered values are not defaulted
        value = literal_default(fd, catalog)
        if value is not None:
            values[fd.name] = value


def check_required(
    entity: EntityDef, record: dict[str, Any], prefix: str = "", only: Iterable[str] | None = None
) -> list[FieldError]:
    """Required fields of ``record`` left empty (of the fields named in ``only``: an update's)."""
    fields = entity.required_fields if only is None else [entity.fields[n] for n in only if n in entity.fields]
    errors = []
    for fd in fields:
        if fd.required and not fd.readonly:
            value = record.get(fd.name)
            if value is None or value == "" or (fd.type in ("links", "table", "multi_enum") and value == []):
                errors.append(FieldError(prefix + fd.name, "Is required."))
    return errors


def update_statement(snap: Snapshot, entity: str, columns: tuple[str, ...]) -> Any:
    """``UPDATE ... SET version, updated_at, updated_by, COLUMNS WHERE id = :k_id AND version
    = :k_version`` (values as ``v_COLUMN``), built once per snapshot and set of columns, so
    SQLAlchemy compiles it once and psycopg prepares it: a record update is a hot path."""
    key = ("update", entity, columns)
    stmt = snap.cache.get(key)
    if stmt is None:
        table = snap.tables.main(entity)
        names = ("version", "updated_at", "updated_by", *columns)
        stmt = snap.cache[key] = (
            table.update()
            .where(table.c.id == sa.bindparam("k_id"), table.c.version == sa.bindparam("k_version"))
            .values({table.c[n]: sa.bindparam(f"v_{n}") for n in names})
        )
    return stmt


def write_update(
    conn: Connection,
    snap: Snapshot,
    entity: str,
    record_id: str,
    version: int,
    now: dt.datetime,
    actor: Actor,
    changes: dict[str, tuple[Any, Any]],
) -> None:
    """The ``UPDATE`` of a record's row, locked by the transaction at ``version`` (it may wait
    for the end of a batch, :func:`engine.storage.write_batch.defer_update`)."""
    values = {"version": version + 1, "updated_at": now, "updated_by": actor.user_id}
    values.update({k: v for k, (_, v) in changes.items()})
    statement = functools.partial(update_statement, snap, entity)
    if defer_update(conn, entity, record_id, version, values, statement):
        return
    params = {"k_id": record_id, "k_version": version, **{f"v_{k}": v for k, v in values.items()}}
    if conn.execute(statement(tuple(sorted(changes))), params).rowcount != 1:
        raise PreconditionFailed(f"The {entity} was changed by someone else; reload it and try again")


def _live_ids_statement(snap: Snapshot, entity: str) -> Any:
    """``SELECT id ... WHERE id IN :ids`` for live records, built once per snapshot."""
    key = ("live_ids", entity)
    stmt = snap.cache.get(key)
    if stmt is None:
        table = snap.tables.main(entity)
        stmt = snap.cache[key] = sa.select(table.c.id).where(
            table.c.id.in_(sa.bindparam("ids", expanding=True)), table.c.deleted_at.is_(None)
        )
    return stmt


def check_references(
    conn: Connection,
    snap: Snapshot,
    entity: EntityDef,
    values: dict[str, Any],
    prefix: str = "",
    known: dict[str, set[str]] | None = None,
) -> list[FieldError]:
    """Every link, user, team and links value must name a live record of its target.

    ``known`` (target -> ids known to be live, e.g. looked up once for a batch of creates)
    spares the query for those ids; the ids found live are added to it."""
    wanted: dict[str, list[tuple[str, list[str]]]] = {}  # target entity -> [(field, ids)]
    for name, value in values.items():
        fd = entity.fields.get(name)
        target = fd.target if fd is not None else ("user" if name == "owner" and not entity.child else None)
        if target is None or value in (None, []):
            continue
        wanted.setdefault(target, []).append((name, value if isinstance(value, list) else [value]))
    errors = []
    for target, uses in wanted.items():  # one query per target entity, however many fields use it
        live = known.setdefault(target, set()) if known is not None else set()
        ids = sorted({i for _, group in uses for i in group} - live)
        found = set(conn.execute(_live_ids_statement(snap, target), {"ids": ids}).scalars()) if ids else set()
        found |= live
        live |= found
        for name, group in uses:
            missing = [i for i in group if i not in found]
            if missing:
                errors.append(FieldError(prefix + name, f"No {target} with id {missing[0]}."))
    return errors


def column_values(entity: EntityDef, values: dict[str, Any]) -> dict[str, Any]:
    columns = entity.column_names
    return {k: v for k, v in values.items() if k in columns}


def fill_autonumbers(
    conn: Connection, entity: EntityDef, row: dict[str, Any], now: dt.datetime, series_prefix: str | None = None
) -> None:
    for fd in entity.autonumber_fields:
        if row.get(fd.name) is None:
            row[fd.name] = next_number(conn, f"{series_prefix or entity.name}.{fd.name}", fd.opt("format"), now)


def write_children(
    conn: Connection,
    snap: Snapshot,
    entity: EntityDef,
    parent_id: str,
    name: str,
    rows: list[dict[str, Any]],
    now: dt.datetime,
    existing: bool,
) -> None:
    """Set the rows of table field ``name``: rows with an id are updated, others added,
    rows left out are removed."""
    table = snap.tables.entities[entity.name].children[name]
    child = snap.catalog.entities[entity.fields[name].opt("of")]
    current: set[str] = set()
    if existing:
        current = set(conn.execute(sa.select(table.c.id).where(table.c.parent_id == parent_id)).scalars())
    keep = set()
    for position, item in enumerate(rows):
        data = dict(item)
        row_id = data.pop("id", None)
        if row_id is not None and row_id not in current:
            raise ValidationError(
                "Invalid child rows", [FieldError(f"{name}[{position}].id", "No such row in this record.")]
            )
        if row_id is None:
            apply_defaults(child, data, snap.catalog)
            fill_autonumbers(conn, child, data, now, f"{entity.name}.{name}")
            conn.execute(
                table.insert(),
                {"id": new_id(), "parent_id": parent_id, "position": position, **column_values(child, data)},
            )
        else:
            keep.add(row_id)
            conn.execute(
                table.update().where(table.c.id == row_id).values(position=position, **column_values(child, data))
            )
    removed = current - keep
    if removed:
        conn.execute(table.delete().where(table.c.id.in_(removed)))


def read_links(conn: Connection, snap: Snapshot, entity: EntityDef, source_id: str, name: str) -> list[str]:
    """The ids a record's ``links`` field holds, in their order."""
    table = snap.tables.entities[entity.name].joins[name]
    query = sa.select(table.c.target_id).where(table.c.source_id == source_id).order_by(table.c.position)
    return list(conn.execute(query).scalars())


def write_links(
    conn: Connection, snap: Snapshot, entity: EntityDef, source_id: str, name: str, ids: list[str], existing: bool
) -> None:
    table = snap.tables.entities[entity.name].joins[name]
    if existing:
        conn.execute(table.delete().where(table.c.source_id == source_id))
    if ids:
        conn.execute(
            table.insert(), [{"source_id": source_id, "target_id": t, "position": i} for i, t in enumerate(ids)]
        )


def audit_value(fd: FieldDef | None, value: Any) -> Any:
    if value is None:
        return None
    if fd is not None and fd.type == "secret":
        return SECRET_MASK
    if isinstance(value, list):
        return [to_json(v) if not isinstance(v, dict) else {k: to_json(x) for k, x in v.items()} for v in value]
    return to_json(value)


def audit_changes(entity: EntityDef, changes: dict[str, tuple[Any, Any]]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` ready for JSON, secrets masked."""
    out = {}
    for name, (old, new) in changes.items():
        fd = entity.fields.get(name)
        out[name] = [None if old is None else audit_value(fd, old), None if new is None else audit_value(fd, new)]
    return out


def audit_created(entity: EntityDef, values: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [None, value]}`` of a new record's values, as :func:`audit_changes` makes
    them (a text, number or flag as it is: an import makes one for every record)."""
    secret = entity.secret_names
    return {
        k: [None, v if type(v) in _AS_IS and k not in secret else audit_value(entity.fields.get(k), v)]
        for k, v in values.items()
    }


_AS_IS = frozenset({str, int, bool, float})
_AUDIT_INSERT = st.audit.insert()  # one object: kept entries are sent as one statement


def record_audit(
    conn: Connection,
    actor: Actor,
    entity: str,
    record_id: str,
    action: str,
    changes: dict[str, list[Any]] | None,
    now: dt.datetime,
    sink: Any = None,
) -> None:
    """Append one entry to the audit trail (there is no API to change or delete one);
    with a ``sink`` (:class:`engine.storage.create_batch.Sink`) the row is written with
    the sink's other rows; inside :func:`engine.storage.write_batch.batched_writes`, with the
    block's other entries."""
    entry = {
        "id": new_id(),
        "at": now,
        "actor": actor.user_id,
        "impersonator": actor.impersonator,
        "action": action,
        "entity": entity,
        "record_id": record_id,
        "changes": changes,
        "source": actor.source[:255] or None,
    }
    if sink is not None:
        sink.execute(_AUDIT_INSERT, entry)
    else:
        defer(conn, _AUDIT_INSERT, entry)


_UNIQUE_RX = (
    re.compile(r'unique constraint "(?P<name>[^"]+)"', re.I),
    re.compile(r"UNIQUE constraint failed: (?P<cols>[\w.,\s]+)"),
    re.compile(r"index '(?P<name>[^']+)'"),
)


def record_reads(conn: Connection, actor: Actor, entity: str, record_ids: list[str], now: dt.datetime) -> None:
    """One audit entry per record read (entities marked ``audit: {reads: true}``)."""
    conn.execute(
        st.audit.insert(),
        [
            {
                "id": new_id(),
                "at": now,
                "actor": actor.user_id,
                "action": "read",
                "entity": entity,
                "record_id": record_id,
                "changes": None,
                "source": actor.source[:255] or None,
                "impersonator": actor.impersonator,
            }
            for record_id in record_ids
        ],
    )


def conflict_from(entity: EntityDef, exc: sa.exc.IntegrityError) -> Conflict:
    """Explain a unique violation in terms of the entity's fields."""
    text = str(exc.orig)
    fields: list[str] = []
    for rx in _UNIQUE_RX:
        match = rx.search(text)
        if match and match.groupdict().get("cols"):
            fields = [c.strip().split(".")[-1] for c in match.group("cols").split(",")]
            break
        if match and match.groupdict().get("name"):
            name = match.group("name")
            fields = [f for f in entity.fields if name.endswith("_" + f)] or [name]
            break
    if not fields:
        return Conflict(f"The {entity.name} conflicts with existing data", [FieldError("(record)", "Conflict.")])
    return Conflict(
        f"Another {entity.name} already has this {', '.join(fields)}",
        [FieldError(f, "Must be unique; another record (possibly in the trash) has this value.") for f in fields],
    )


def check_children(conn: Connection, snap: Any, entity: EntityDef, values: dict[str, Any]) -> list[FieldError]:
    """Required fields and references of the new and changed rows of ``table`` fields."""
    errors: list[FieldError] = []
    for fd in entity.nested_fields:
        name = fd.name
        if fd.type != "table" or not values.get(name):
            continue
        child = snap.catalog.entities[fd.opt("of")]
        for i, row in enumerate(values[name]):
            if row.get("id") is None:
                apply_defaults(child, row, snap.catalog)
                errors += check_required(child, row, f"{name}[{i}].")
            errors += check_references(conn, snap, child, {k: v for k, v in row.items() if k != "id"}, f"{name}[{i}].")
    return errors
