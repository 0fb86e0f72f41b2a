"""Previews: what a form would become, without writing anything.

``records.preview`` applies submitted values to a new record (or to a stored one), derives
its defaults and computed fields (child-row totals too) and says which fields ``visible_if``
hides and ``readonly_if`` freezes. It runs the same derivations as a save, so a form's live
totals are the server's own formulas, never a copy in JavaScript.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from engine.actor import Actor
from engine.errors import ValidationError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.storage import writing as w
from engine.storage.codec import output_value, to_json
from engine.storage.derivation import derive_on_create, derive_on_update
from engine.storage.evaluation import RecordLoader, make_env
from engine.storage.reading import fetch_row, get_record

if TYPE_CHECKING:
    from engine.storage.records import Records


def preview_record(
    records: Records, actor: Actor, entity_name: str, data: Any, record_id: str | None = None
) -> dict[str, Any]:
    """What a form would become, without writing: ``data`` applied to a new record (or
    to ``record_id``), its defaults and computed fields derived (child-row totals too),
    and which fields ``visible_if`` hides and ``readonly_if`` freezes for it now.

    Returns ``{"values", "hidden", "readonly", "errors"}``; the same derivations as a
    save, so a form's live totals are the server's own formulas, never a copy in
    JavaScript. Type errors come back in ``errors`` instead of being raised."""
    snap = records.ws.snapshot()
    entity = records._entity(snap, actor, entity_name, "update" if record_id else "create")
    try:
        values = records._load(snap, entity, data, actor)
    except ValidationError as exc:
        return {"values": {}, "hidden": [], "readonly": [], "errors": [e.as_dict() for e in exc.errors]}
    now = records.clock()
    with records._reading() as conn:
        current: dict[str, Any] = {}
        row: dict[str, Any] = {}
        if record_id is not None:
            current = get_record(conn, snap, entity, record_id, None, None, records._rc(actor, snap))
            row = dict(fetch_row(conn, snap, entity, record_id)._mapping)
            errors = derive_on_update(conn, snap, actor, entity, row, values, now)
        else:
            w.apply_defaults(entity, values, snap.catalog)
            errors = derive_on_create(conn, snap, actor, entity, values, now)
        merged = {**current, **_api_values(snap.catalog, entity, values)}
        loader = RecordLoader(conn, snap)
        env = make_env(loader, actor, now, loader.wrap(entity, {**current, **values}))
        exprs = snap.expressions(entity.name)
        hidden = sorted(n for n, e in exprs.visible_if.items() if not e.holds(env))
        frozen: builtins.list[str] = []
        if record_id is not None:  # as a save decides it: on the record as stored
            old_env = make_env(loader, actor, now, loader.wrap(entity, row))
            frozen = sorted(n for n, e in exprs.readonly_if.items() if e.holds(old_env))
    readable = records.catalog_for(actor).entities.get(entity.name)
    shown = {k: v for k, v in merged.items() if readable is None or k in readable.fields or k in ("id", "version")}
    return {"values": shown, "hidden": hidden, "readonly": frozen, "errors": [e.as_dict() for e in errors]}


def _api_values(catalog: Catalog, entity: EntityDef, values: dict[str, Any]) -> dict[str, Any]:
    """Values being written, as the API would show them (child rows included)."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        fd = entity.fields.get(name)
        if fd is None:
            out[name] = to_json(value)
        elif fd.type == "table" and isinstance(value, list):
            child = catalog.entities[fd.opt("of")]
            out[name] = [_api_values(catalog, child, row) for row in value if isinstance(row, dict)]
        elif fd.type in ("links", "multi_enum", "json"):
            out[name] = value
        else:
            out[name] = output_value(fd, value)
    return out
