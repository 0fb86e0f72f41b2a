"""Run-time definitions (overlays): entities, fields, grants and documents added by admins.

An overlay is validated exactly like a pack document, the schema change it needs is
applied online in the same transaction that stores it, and the metadata version is
bumped so every process picks it up without a restart. Documents (rules, workflows, SLA
definitions, calendars: ``engine.automation.definitions.KINDS``) are overlays of their own
kind, named by their name; one with the name of a pack's definition replaces it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from engine.actor import Actor
from engine.automation.definitions import KINDS, LISTS, NAME_KEYS, Definition, collect, definition_name
from engine.errors import (
    BadRequest,
    Conflict,
    FieldError,
    MetadataError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationError,
)
from engine.meta.catalog import Overlay
from engine.meta.problems import Problems
from engine.storage import system_tables as st
from engine.storage.database import advisory_lock, write_transaction
from engine.storage.ids import new_id
from engine.storage.migrate import SCHEMA_LOCK, Plan, apply_plan, plan_migration
from engine.storage.writing import record_audit


@dataclass(frozen=True)
class DryRun:
    """What an overlay would do: the schema steps it would apply, the snapshot it would give."""

    plan: list[str]
    snapshot: Any


class _DryRun(Exception):
    """Leaves a dry run's transaction, rolling back what it tried, with what it found."""

    def __init__(self, plan: Plan, snapshot: Any) -> None:
        super().__init__("dry run")
        self.plan = plan
        self.snapshot = snapshot


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise PermissionDenied("Only administrators may change the metadata")


#: the definition in force in a snapshot (None when there is none): what ``If-Match`` is about
Current = Callable[[Any], Any]


@dataclass(frozen=True)
class Expect:
    """``If-Match``: the change applies only while the definition in force has this tag."""

    tag: str
    current: Current


def document_tag(document: Any) -> str:
    """The ETag of a definition: a digest of its JSON (``If-Match`` on a ``PUT`` names it)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _store(
    ws: Any,
    actor: Actor,
    overlay: Overlay,
    name: str,
    replace: bool = False,
    dry_run: bool = False,
    expect: Expect | None = None,
) -> DryRun | None:
    """Validate ``overlay`` with every other overlay, apply its schema change, store it.

    ``replace`` swaps an earlier overlay of the same kind, target and name (permissions).
    ``dry_run`` validates and plans the schema change, then rolls everything back and
    returns the :class:`DryRun` (the plan and the snapshot the overlay would give).
    Overlay writes are serialised under the schema lock and checked again inside it: an
    overlay another admin added meanwhile answers 409, and ``expect`` (``If-Match``) 412
    when the definition changed since the caller read it."""
    try:
        _write(ws, actor, overlay, name, replace, dry_run, expect)
    except _DryRun as trial:
        return DryRun([str(step) for step in trial.plan.additive], trial.snapshot)
    ws.reload()
    return None


def _write(
    ws: Any, actor: Actor, overlay: Overlay, name: str, replace: bool, dry_run: bool, expect: Expect | None
) -> None:
    with write_transaction(ws.db, foreign_keys=False) as conn:
        advisory_lock(conn, SCHEMA_LOCK)
        o = st.overlay
        same = sa.and_(o.c.kind == overlay.kind, o.c.target == overlay.target, o.c.name == name)
        if expect is not None:
            _check_expected(ws, conn, expect)
        before = conn.execute(sa.select(o.c.document).where(same)).scalar() if replace else None
        if replace:
            conn.execute(o.delete().where(same))
        elif conn.execute(sa.select(o.c.id).where(same)).first() is not None:
            where = "" if overlay.target == name else f" on {overlay.target!r}"
            raise Conflict(f"Another change added the {overlay.kind} {name!r}{where} meanwhile; reload and try again")
        existing = ws._read_overlays(conn)
        try:
            snap = ws.build_snapshot(-1, (*existing, overlay))
        except MetadataError as exc:
            raise MetadataError("The definition is not valid", exc.errors) from None
        plan = plan_migration(conn, snap.tables)
        if dry_run:
            raise _DryRun(plan, snap)
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


def _check_expected(ws: Any, conn: Any, expect: Expect) -> None:
    """412 unless the definition in force (read under the lock) still has the expected tag."""
    found = expect.current(ws.build_snapshot(-1, ws._read_overlays(conn)))
    if found is None or (expect.tag != "*" and document_tag(found) != expect.tag):
        raise PreconditionFailed(
            "The definition was changed by someone else since you read it (If-Match does not match); "
            "read it again and apply your change to the new version"
        )


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


def add_entity(ws: Any, actor: Actor, document: Any, dry_run: bool = False) -> dict[str, Any]:
    """A new entity (``POST /meta/entities``); ``dry_run`` answers what would happen, storing nothing."""
    _require_admin(actor)
    if not isinstance(document, dict) or not isinstance(document.get("entity"), str):
        raise BadRequest('Send an entity document: {"entity": NAME, "fields": {...}}')
    name = document["entity"]
    if ws.snapshot().catalog.entity(name) is not None:
        raise Conflict(f"The entity {name!r} already exists")
    trial = _store(ws, actor, Overlay(new_id(), "entity", name, document), name, dry_run=dry_run)
    return describe_entity(ws, name, trial)


def add_field(ws: Any, actor: Actor, entity: str, document: Any, dry_run: bool = False) -> dict[str, Any]:
    """A custom field (``POST /meta/entities/NAME/fields``); ``dry_run`` stores nothing."""
    _require_admin(actor)
    snap = ws.snapshot()
    entity_def = snap.api_entity(entity)
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        raise BadRequest('Send a field definition: {"name": FIELD, "type": TYPE, ...}')
    spec = {k: v for k, v in document.items() if k != "name"}
    name = document["name"]
    if name in entity_def.fields:
        raise Conflict(f"{entity}.{name} already exists")
    trial = _store(ws, actor, Overlay(new_id(), "field", entity, {name: spec}), name, dry_run=dry_run)
    return describe_entity(ws, entity, trial)


def describe_entity(ws: Any, name: str, trial: DryRun | None = None) -> dict[str, Any]:
    """The public shape of a definition; after a dry run, the one it would have, with the
    schema steps (``plan``) that storing it would apply."""
    from engine.api.describe import entity_document

    snap = trial.snapshot if trial is not None else ws.snapshot()
    described = entity_document(snap.api_entity(name), snap.catalog)
    if trial is not None:
        described.update(dry_run=True, plan=trial.plan)
    return described


# --- documents: rules, workflows, SLA definitions, calendars ---------------------------------------
def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise NotFound(f"There is no document kind {kind!r}; the kinds are {', '.join(KINDS)}")
    return kind


def _definitions(ws: Any, kind: str, snapshot: Any = None) -> list[Definition]:
    # the snapshot was validated when it was built: no problems can turn up here
    return collect((snapshot or ws.snapshot()).catalog, kind, Problems(), include_disabled=True)


def _find(ws: Any, kind: str, name: str, snapshot: Any = None) -> Definition | None:
    return next((d for d in _definitions(ws, kind, snapshot) if d.name == name), None)


def _view(definition: Definition) -> dict[str, Any]:
    return {
        "kind": definition.kind,
        "name": definition.name,
        "source": definition.pack,
        "enabled": definition.enabled,
        "document": definition.data,
    }


def _document_name(kind: str, document: Any, url_name: str | None) -> str:
    """The name the document gives itself; it must be the one in the URL (PUT)."""
    if not isinstance(document, dict):
        raise BadRequest(f"Send the {kind} as a JSON object, the same document as in a pack file")
    key = NAME_KEYS[kind]
    name = definition_name(kind, document)
    if not isinstance(document.get(key), str) or not name:
        raise ValidationError(f"The {kind} has no name", [FieldError(key, "Required: the name of the definition.")])
    if url_name is not None and name != url_name:
        raise ValidationError(
            f"The {kind} is named {name!r} in the body but {url_name!r} in the URL",
            [FieldError(key, f"Must be {url_name!r}, the name in the URL.")],
        )
    return name


def list_documents(ws: Any, actor: Actor, kind: str | None = None) -> list[dict[str, Any]]:
    """The documents in force (of one ``kind``, or all), from packs and overlays, disabled ones too."""
    _require_admin(actor)
    kinds = [_kind(kind)] if kind is not None else list(KINDS)
    return [_view(d) for k in kinds for d in sorted(_definitions(ws, k), key=lambda d: d.name)]


def get_document(ws: Any, actor: Actor, kind: str, name: str) -> dict[str, Any]:
    _require_admin(actor)
    found = _find(ws, _kind(kind), name)
    if found is None:
        raise NotFound(f"There is no {kind} {name!r}")
    return _view(found)


def add_document(ws: Any, actor: Actor, kind: str, document: Any, dry_run: bool = False) -> dict[str, Any]:
    """A new definition (``POST``); a name a pack or an overlay already has answers 409 (``PUT`` replaces).
    ``dry_run`` checks it and answers what would be stored, storing nothing."""
    _require_admin(actor)
    name = _document_name(_kind(kind), document, None)
    if _find(ws, kind, name) is not None:
        raise Conflict(f"A {kind} {name!r} exists already; PUT /api/v1/meta/documents/{kind}/{name} replaces it")
    trial = _store(ws, actor, Overlay(new_id(), kind, name, document), name, dry_run=dry_run)
    return _checked(ws, actor, kind, name, trial)


def set_document(
    ws: Any, actor: Actor, kind: str, name: str, document: Any, dry_run: bool = False, if_match: str | None = None
) -> dict[str, Any]:
    """Create or replace the overlay ``kind``/``name`` (``PUT``); it overrides a pack's definition
    of that name. ``"enabled": false`` in the document switches the definition off.
    ``dry_run`` checks it and answers what would be stored, storing nothing. ``if_match`` (the
    ETag of ``GET``) replaces only the version read: a change made meanwhile answers 412."""
    _require_admin(actor)
    _document_name(_kind(kind), document, name)

    def current(snapshot: Any) -> Any:
        found = _find(ws, kind, name, snapshot)
        return found.data if found is not None else None

    expect = Expect(if_match, current) if if_match is not None else None
    overlay = Overlay(new_id(), kind, name, document)
    trial = _store(ws, actor, overlay, name, replace=True, dry_run=dry_run, expect=expect)
    return _checked(ws, actor, kind, name, trial)


def _checked(ws: Any, actor: Actor, kind: str, name: str, trial: DryRun | None) -> dict[str, Any]:
    if trial is None:
        return get_document(ws, actor, kind, name)
    found = _find(ws, kind, name, trial.snapshot)
    assert found is not None  # the trial snapshot holds the document just checked
    return {**_view(found), "dry_run": True, "plan": trial.plan}


def remove_document(ws: Any, actor: Actor, kind: str, name: str) -> None:
    """Drop the overlay ``kind``/``name`` (``DELETE``): the pack's definition, if any, applies again.

    Refused (422) when the rest would not validate, e.g. an SLA still uses the calendar."""
    _require_admin(actor)
    _kind(kind)
    with write_transaction(ws.db) as conn:
        advisory_lock(conn, SCHEMA_LOCK)
        o = st.overlay
        same = sa.and_(o.c.kind == kind, o.c.target == name, o.c.name == name)
        row = conn.execute(sa.select(o.c.id, o.c.document).where(same)).first()
        if row is None:
            raise NotFound(f"There is no run-time {kind} {name!r} (a pack's definition is changed by a PUT)")
        conn.execute(o.delete().where(o.c.id == row.id))
        try:
            ws.build_snapshot(-1, ws._read_overlays(conn))
        except MetadataError as exc:
            raise MetadataError(f"Removing the {kind} {name!r} would leave the metadata invalid", exc.errors) from None
        ws.bump_version(conn)
        record_audit(
            conn, actor, "meta", row.id, f"remove_{kind}", {name: [row.document, None]}, dt.datetime.now(dt.UTC)
        )
    ws.reload()


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
        if overlay.kind in KINDS:
            written.append(_export_document(directory, overlay))
        elif overlay.kind == "entity":
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


def _export_document(directory: Path, overlay: Overlay) -> Path:
    """``rules/NAME.yaml`` (as ``{rules: [rule]}``), ``workflows/NAME.yaml``, ``sla/NAME.yaml`` ...

    An overlay that replaces a pack's definition of the same name is written too; 'tessera
    check' then reports the name as defined twice: drop it from one of the packs."""
    folder = directory / KINDS[overlay.kind]
    folder.mkdir(exist_ok=True)
    document: dict[str, Any] = overlay.document
    if overlay.kind in LISTS:  # a rules (actions) file holds a list, as collect() reads it
        document = {LISTS[overlay.kind]: [overlay.document]}
    path = folder / f"{overlay.target}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    return path
