"""What expressions do on a write: DSL defaults, stored computed values, link filters,
``readonly_if`` and validations, evaluated on the record as it will be stored; and the
``accept``/``max_size`` of file fields written with a reference."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.errors import FieldError
from engine.meta.model import EntityDef, FieldDef
from engine.storage.codec import at_scale
from engine.storage.evaluation import LazyRecord, RecordLoader, make_env
from engine.storage.files import NO_SUCH_FILE, file_id_of, find_file, reference
from engine.storage.writing import apply_defaults

if False:  # pragma: no cover - typing only
    from engine.workspace import Snapshot


def label_text(label: Any, locale: str = "en") -> str:
    if isinstance(label, dict):
        return str(label.get(locale) or label.get("en") or next(iter(label.values()), ""))
    return str(label)


def coerce(fd: FieldDef, value: Any) -> Any:
    """A DSL result as the stored value of ``fd`` (rounded to its scale, whole seconds...)."""
    if value is None:
        return None
    if fd.type in ("decimal", "money", "percent"):
        return at_scale(value, fd.scale)  # a stored field checked its fit first (``misfit``)
    if fd.type in ("int", "rating", "duration"):
        return int(value) if not isinstance(value, float | Decimal) or math.isfinite(value) else None
    if fd.type == "datetime" and isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    if fd.type in ("string", "text", "email", "phone", "url", "enum") and not isinstance(value, str):
        return str(value)
    return value


def misfit(fd: FieldDef, value: Any) -> str | None:
    """Why a computed number does not fit the column of ``fd``, in the words a typed value
    gets (engine.storage.fields); None when it fits. Checked before rounding: rounding a
    number far beyond the column is itself an error (``decimal.InvalidOperation``)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    if fd.type in ("decimal", "money", "percent"):
        number = Decimal(str(value))
        if not number.is_finite():
            return "Must be a finite number."
        digits = 9 if fd.type == "percent" else 18  # the column's precision (engine.storage.columns)
        if number and number.adjusted() >= digits - fd.scale:
            return f"At most {digits - fd.scale} digits before the decimal point."
        return None
    if fd.type in ("int", "rating", "duration"):
        if isinstance(value, float | Decimal) and not math.isfinite(value):
            return "Must be a finite number."
        if abs(int(value)) > 2**63 - 1:
            return "Must be between -9223372036854775807 and 9223372036854775807."
    return None


def _compute(
    snap: Snapshot, entity: EntityDef, env: Any, record: dict[str, Any], values: dict[str, Any], defaults: bool
) -> list[FieldError]:
    """DSL defaults and stored computed values into ``values``; a value that does not fit its
    field is an error naming the field (and nothing is written)."""
    exprs = snap.expressions(entity.name)
    errors: list[FieldError] = []

    def fitted(name: str, value: Any) -> Any:
        problem = misfit(entity.fields[name], value)
        if problem is not None:
            errors.append(FieldError(name, f"The computed value does not fit: {problem}"))
            return None
        return coerce(entity.fields[name], value)

    if defaults:
        for name, expr in exprs.defaults.items():
            if name not in values:
                value = fitted(name, expr.evaluate(env))
                if value is not None:
                    values[name] = record[name] = value
    for name, expr in exprs.stored.items():
        values[name] = record[name] = fitted(name, expr.evaluate(env))
    return errors


def _checks(
    snap: Snapshot,
    entity: EntityDef,
    loader: RecordLoader,
    actor: Actor,
    now: dt.datetime,
    record: dict[str, Any],
    values: dict[str, Any],
    env: Any,
) -> list[FieldError]:
    exprs = snap.expressions(entity.name)
    errors: list[FieldError] = []
    for name, expr in exprs.link_filters.items():
        value = values.get(name)
        if value is None:
            continue
        for chosen in value if isinstance(value, list) else [value]:  # links fields hold several
            target = loader(entity.fields[name].target or "", chosen)
            if target is not None and not expr.holds(make_env(loader, actor, now, target, outer=record)):
                errors.append(FieldError(name, "This record is not among the allowed choices."))
                break
    for validation, expr in exprs.validations:
        if expr.holds(env):
            errors.append(FieldError(validation.field or "(record)", label_text(validation.message, actor.locale)))
    return errors


def file_errors(
    conn: Connection, entity: EntityDef, values: dict[str, Any], current: dict[str, Any]
) -> list[FieldError]:
    """A file field written with a value (POST, PATCH, PUT, rules) obeys the field's
    ``accept`` and ``max_size`` as an upload does: a reference to an uploaded file is checked
    against that file's name, type and size; an external reference against ``accept`` by its
    name (its size is unknown). An unchanged value is not checked again."""
    if "file" not in entity.field_types:
        return []
    from engine.files.attach import accepts, media_type  # engine.files builds on this package

    errors: list[FieldError] = []
    for name, value in values.items():
        fd = entity.fields.get(name)
        if fd is None or fd.type != "file" or value is None or value == current.get(name):
            continue
        accept, max_size = fd.opt("accept"), fd.opt("max_size")
        file_id = file_id_of(value)
        if file_id is None:
            if accept and not accepts(fd, value, media_type(None, value)):
                allowed = ", ".join(str(p) for p in accept)
                errors.append(FieldError(name, f"Accepts {allowed}; this reference names none of them."))
            continue
        row = find_file(conn, file_id)
        if row is None or value != reference(row.id, row.name):
            errors.append(FieldError(name, NO_SUCH_FILE))
        elif not accepts(fd, row.name, row.content_type):
            allowed = ", ".join(str(p) for p in accept)
            errors.append(FieldError(name, f"Accepts {allowed}; {row.name} is {row.content_type}."))
        elif max_size is not None and row.size > max_size:
            errors.append(FieldError(name, f"Takes files of at most {max_size} bytes; {row.name} has {row.size}."))
    return errors


def _derive_rows(
    snap: Snapshot,
    entity: EntityDef,
    values: dict[str, Any],
    loader: RecordLoader,
    actor: Actor,
    now: dt.datetime,
    parent_id: str | None = None,
) -> list[FieldError]:
    """Child rows first: their defaults, stored computed values and validations."""
    errors: list[FieldError] = []
    for fd in entity.nested_fields:
        name = fd.name
        if fd.type != "table" or not values.get(name):
            continue
        child = snap.catalog.entities[fd.opt("of")]
        exprs = snap.expressions(child.name)
        if not (exprs.defaults or exprs.stored or exprs.validations or exprs.link_filters):
            continue
        stored = {r["id"]: r for r in loader.many(entity, parent_id, name)} if parent_id else {}
        for index, row in enumerate(values[name]):
            if row.get("id") is None:
                apply_defaults(child, row, snap.catalog)
            record = loader.wrap(child, {**stored.get(row.get("id"), {}), **row})
            env = make_env(loader, actor, now, record)
            row_errors = _compute(snap, child, env, record, row, defaults=row.get("id") is None)
            row_errors += _checks(snap, child, loader, actor, now, record, row, env)
            errors += [FieldError(f"{name}[{index}].{e.field}", e.message) for e in row_errors]
    return errors


def derive_on_create(
    conn: Connection, snap: Snapshot, actor: Actor, entity: EntityDef, values: dict[str, Any], now: dt.datetime
) -> list[FieldError]:
    """Fill DSL defaults and stored computed fields into ``values``; return rule errors."""
    loader = RecordLoader(conn, snap)
    errors = file_errors(conn, entity, values, {}) + _derive_rows(snap, entity, values, loader, actor, now)
    exprs = snap.expressions(entity.name)
    if not (exprs.defaults or exprs.stored or exprs.link_filters or exprs.validations):
        return errors
    record = loader.wrap(
        entity,
        {
            **values,
            "id": None,
            "owner": values.get("owner", actor.user_id),
            "created_at": now,
            "updated_at": now,
            "created_by": actor.user_id,
        },
    )
    env = make_env(loader, actor, now, record)
    errors += _compute(snap, entity, env, record, values, defaults=True)
    return errors + _checks(snap, entity, loader, actor, now, record, values, env)


def derive_on_update(
    conn: Connection,
    snap: Snapshot,
    actor: Actor,
    entity: EntityDef,
    current: dict[str, Any],
    values: dict[str, Any],
    now: dt.datetime,
    automated: bool = False,
) -> list[FieldError]:
    """Apply readonly_if, recompute stored fields into ``values``; return rule errors.

    ``automated`` writes (rules, record actions, merge) may change fields ``readonly_if``
    freezes, as they may write ``readonly`` ones: the condition guards what people edit."""
    loader = RecordLoader(conn, snap)
    errors = file_errors(conn, entity, values, current)
    errors += _derive_rows(snap, entity, values, loader, actor, now, current["id"])
    exprs = snap.expressions(entity.name)
    if not (exprs.stored or exprs.link_filters or exprs.validations or exprs.readonly_if):
        return errors
    old = loader.wrap(entity, dict(current))
    old_env = make_env(loader, actor, now, old)
    for name, expr in ({} if automated else exprs.readonly_if).items():
        if name in values and values[name] != old.get(name) and expr.holds(old_env):
            errors.append(FieldError(name, "Is read-only in this state."))
    record: LazyRecord = loader.wrap(entity, {**current, **values, "updated_at": now, "updated_by": actor.user_id})
    env = make_env(loader, actor, now, record, old=old)
    errors += _compute(snap, entity, env, record, values, defaults=False)
    return errors + _checks(snap, entity, loader, actor, now, record, values, env)
