"""Run-time definitions (overlays): entities and fields added by admins through the API.

An overlay is validated exactly like a pack document, the schema change it needs is
applied online in the same transaction that stores it, and the metadata version is
bumped so every process picks it up without a restart.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from engine.actor import Actor
from engine.errors import BadRequest, Conflict, MetadataError, NotFound, PermissionDenied
from engine.meta.catalog import Overlay
from engine.storage import system_tables as st
from engine.storage.database import advisory_lock, write_transaction
from engine.storage.ids import new_id
from engine.storage.migrate import SCHEMA_LOCK, apply_plan, plan_migration
from engine.storage.writing import record_audit


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDenied("Only administrators may change the metadata")


def _store(ws: Any, actor: Actor, overlay: Overlay, name: str, replace: bool = False) -> None:
    """Validate ``overlay`` with every other overlay, apply its schema change, store it.

    ``replace`` swaps an earlier overlay of the same kind, target and name (permissions)."""
    with write_transaction(ws.db, foreign_keys=False) as conn:
        advisory_lock(conn, SCHEMA_LOCK)
        o = st.overlay
        same = sa.and_(o.c.kind == overlay.kind, o.c.target == overlay.target, o.c.name == name)
        before = conn.execute(sa.select(o.c.document).where(same)).scalar() if replace else None
        if replace:
            conn.execute(o.delete().where(same))
        existing = ws._read_overlays(conn)
        try:
            snap = ws.build_snapshot(-1, (*existing, overlay))
        except MetadataError as exc:
            raise MetadataError("The definition is not valid", exc.errors) from None
        plan = plan_migration(conn, snap.tables)
        apply_plan(conn, snap.tables, plan, destructive="skip")
        now = dt.datetime.now(dt.UTC)
        try:
            with conn.begin_nested():
                conn.execute(
                    st.overlay.insert().values(
                        id=overlay.id,
                        kind=overlay.kind,
                        target=overlay.target,
                        name=name,
                        document=overlay.document,
                        disabled=False,
                        created_at=now,
                        created_by=actor.user_id,
                    )
                )
        except sa.exc.IntegrityError:
            raise Conflict(f"An overlay {overlay.kind} {overlay.target}.{name} already exists") from None
        ws.bump_version(conn)
        action = f"{'set' if replace else 'add'}_{overlay.kind}"
        record_audit(conn, actor, "meta", overlay.id, action, {name: [before, overlay.document]}, now)
    ws.reload()


def set_permission(ws: Any, actor: Actor, entity: str, role: str, grant: Any) -> dict[str, Any]:
    """Replace one role's grant on an entity (admins); it overrides the pack's grant."""
    _require_admin(actor)
    ws.snapshot().api_entity(entity)
    if not isinstance(grant, dict):
        raise BadRequest('Send a grant: {"read": "team", "update": "own", "fields": {...}, "where": ...}')
    _store(ws, actor, Overlay(new_id(), "permission", entity, {role: grant}), role, replace=True)
    return dict(ws.snapshot().catalog.entities[entity].permissions)


def remove_permission(ws: Any, actor: Actor, entity: str, role: str) -> None:
    """Drop an overridden grant: the pack's grant (or none) applies again."""
    _require_admin(actor)
    with write_transaction(ws.db) as conn:
        o = st.overlay
        same = sa.and_(o.c.kind == "permission", o.c.target == entity, o.c.name == role)
        row = conn.execute(sa.select(o.c.id, o.c.document).where(same)).first()
        if row is None:
            raise NotFound(f"No overridden permission of {role!r} on {entity!r}")
        conn.execute(o.delete().where(o.c.id == row.id))
        ws.bump_version(conn)
        record_audit(
            conn, actor, "meta", row.id, "remove_permission", {role: [row.document, None]}, dt.datetime.now(dt.UTC)
        )
    ws.reload()


def add_entity(ws: Any, actor: Actor, document: Any) -> dict[str, Any]:
    _require_admin(actor)
    if not isinstance(document, dict) or not isinstance(document.get("entity"), str):
        raise BadRequest('Send an entity document: {"entity": NAME, "fields": {...}}')
    name = document["entity"]
    if ws.snapshot().catalog.entity(name) is not None:
        raise Conflict(f"The entity {name!r} already exists")
    _store(ws, actor, Overlay(new_id(), "entity", name, document), name)
    return describe_entity(ws, name)


def add_field(ws: Any, actor: Actor, entity: str, document: Any) -> dict[str, Any]:
    _require_admin(actor)
    snap = ws.snapshot()
    entity_def = snap.api_entity(entity)
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        raise BadRequest('Send a field definition: {"name": FIELD, "type": TYPE, ...}')
    spec = {k: v for k, v in document.items() if k != "name"}
    name = document["name"]
    if name in entity_def.fields:
        raise Conflict(f"{entity}.{name} already exists")
    _store(ws, actor, Overlay(new_id(), "field", entity, {name: spec}), name)
    return describe_entity(ws, entity)


def describe_entity(ws: Any, name: str) -> dict[str, Any]:
    from engine.api.describe import entity_document  # the public shape of a definition

    snap = ws.snapshot()
    return entity_document(snap.api_entity(name), snap.catalog)


def export_overlays(ws: Any, directory: Path, pack_name: str = "overlays") -> list[Path]:
    """Write the workspace's overlays as a pack (``tessera packs export-overlays DIR``)."""
    snap = ws.snapshot()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "entities").mkdir(exist_ok=True)
    depends = sorted({p.name for p in snap.catalog.packs if p.name != "system"})
    written = [directory / "pack.yaml"]
    (directory / "pack.yaml").write_text(
        yaml.safe_dump(
            {"name": pack_name, "label": "Run-time definitions", "version": "1.0.0", "depends": depends},
            sort_keys=False,
        )
    )
    extensions: dict[str, dict[str, Any]] = {}
    for overlay in snap.catalog.overlays:
        if overlay.kind == "entity":
            path = directory / "entities" / f"{overlay.target}.yaml"
            path.write_text(yaml.safe_dump(overlay.document, sort_keys=False, allow_unicode=True))
            written.append(path)
        elif overlay.kind in ("field", "permission"):
            key = "fields" if overlay.kind == "field" else "permissions"
            extensions.setdefault(overlay.target, {}).setdefault(key, {}).update(overlay.document)
    for target, parts in extensions.items():
        # an exported permission of a role the pack already grants is reported by 'tessera check'
        # as a conflict: move it into the pack, or keep it as an overlay
        path = directory / "entities" / f"{target}.extension.yaml"
        path.write_text(yaml.safe_dump({"extends": target, **parts}, sort_keys=False, allow_unicode=True))
        written.append(path)
    return written
