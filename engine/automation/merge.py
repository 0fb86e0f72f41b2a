"""Merging duplicates: one record survives, every reference to the other moves to it.

An entity offers the record action ``merge`` with ``merge: true`` in its document:
``POST /api/v1/ENTITY/ID/actions/merge {"duplicate": OTHER_ID}`` keeps ``ID``. A pack that
needs a condition, roles or more steps writes the action itself and uses the ``merge``
step (``- merge: {duplicate: '=$input.duplicate'}``); both run :func:`merge_records`:

- blanks of the survivor are filled from the duplicate (the survivor wins where both have
  a value; ``links`` are united); unique, computed, autonumbered and workflow-owned fields
  are left alone;
- every live record pointing at the duplicate is re-pointed to the survivor: link, user
  and team fields, ``links`` arrays, link fields of child rows, and polymorphic pairs
  ``X_entity`` + ``X_id`` (e.g. a note's ``related_entity``/``related_id``);
- the duplicate goes to the trash (restorable);
- both records' histories get a ``merge`` entry naming the other.

All of it is written through the data-access layer in one transaction, for the caller: the
caller must be able to change the survivor, the duplicate and every record re-pointed
(403 otherwise, nothing written). A record cannot be merged with itself, and the duplicate
must be a live record of the same entity (422).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.automation.actions import ActionFailed, Step, Target, register
from engine.automation.model import Automation, BaseComponent
from engine.automation.record_actions import read_body
from engine.automation.values import Compiler
from engine.dsl.functions import FunctionRegistry
from engine.errors import FieldError, PermissionDenied, ValidationError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef
from engine.meta.problems import Problems

SOURCE = "merge"
REFERENCE_TYPES = ("link", "user", "team")


@dataclass(frozen=True)
class Reference:
    """One place a record can be pointed at from: a field of ``entity`` (or of its rows)."""

    entity: EntityDef  # the entity whose records are re-pointed (the parent, for rows)
    field: str  # the field written: a link, links, table or the id half of a pair
    kind: str  # link | links | row | pair
    row_field: str = ""  # row: the link field inside the child rows
    pair_entity: str = ""  # pair: the field holding the entity name


def references_to(catalog: Catalog, target: str) -> list[Reference]:
    """Every field of the catalog that can point at a record of ``target``."""
    found: list[Reference] = []
    for entity in catalog.entities.values():
        if entity.child:
            continue
        for fd in entity.fields.values():
            if fd.target == target and fd.type in REFERENCE_TYPES and fd.has_column:
                found.append(Reference(entity, fd.name, "link"))
            elif fd.type == "links" and fd.target == target:
                found.append(Reference(entity, fd.name, "links"))
            elif fd.type == "table":
                child = catalog.entities.get(fd.opt("of"))
                for row_fd in child.fields.values() if child is not None else ():
                    if row_fd.target == target and row_fd.type in REFERENCE_TYPES and row_fd.has_column:
                        found.append(Reference(entity, fd.name, "row", row_field=row_fd.name))
        found.extend(_pairs(entity))
    return found


def _pairs(entity: EntityDef) -> Iterator[Reference]:
    """Polymorphic references: fields ``X_entity`` and ``X_id`` holding an entity name and an id."""
    for fd in entity.fields.values():
        if not fd.name.endswith("_entity") or not _text(fd):
            continue
        id_field = entity.fields.get(fd.name[: -len("entity")] + "id")
        if id_field is not None and _text(id_field):
            yield Reference(entity, id_field.name, "pair", pair_entity=fd.name)


def _text(fd: FieldDef) -> bool:
    return fd.type in ("string", "enum") and fd.has_column and not fd.is_computed


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == []


def merge_records(run: Any, entity: EntityDef, survivor_id: str, duplicate_id: Any, source: str = SOURCE) -> None:
    """Merge ``duplicate_id`` into ``survivor_id`` (both of ``entity``) for ``run.actor``."""
    if not isinstance(duplicate_id, str) or not duplicate_id:
        raise ValidationError(
            "Name the duplicate to merge",
            [FieldError("duplicate", f"Required: the id of the {entity.name} to merge into this one.")],
        )
    if duplicate_id == survivor_id:
        raise ValidationError(
            f"A {entity.name} cannot be merged with itself",
            [FieldError("duplicate", "Must be another record than the one kept.")],
        )
    survivor = run.fetch(entity, survivor_id)
    duplicate = run.fetch(entity, duplicate_id)
    if survivor is None or duplicate is None or not _may(run, entity, "read", duplicate):
        missing = survivor_id if survivor is None else duplicate_id
        raise ValidationError(
            f"No {entity.name} with id {missing!r}",
            [FieldError("duplicate", f"Must be the id of another live {entity.name}.")],
        )
    for record in (survivor, duplicate):
        if not _may(run, entity, "update", record):
            raise PermissionDenied(f"You may not change both {entity.name} records, so you may not merge them")
    writes = _repoint(run, entity, survivor_id, duplicate_id)
    fills = _fills(run, entity, survivor, duplicate, survivor_id)
    own = writes.pop((entity.name, survivor_id), {})
    if fills or own:
        run.update(entity, survivor_id, {**fills, **own}, source)
    for (name, record_id), values in writes.items():
        run.update(name, record_id, values, source)
    run.audit(
        entity.name,
        survivor_id,
        "merge",
        {"merged": [None, duplicate_id], "filled": [None, sorted(fills)], "repointed": [None, len(writes)]},
    )
    run.audit(entity.name, duplicate_id, "merge", {"merged_into": [None, survivor_id]})
    run.delete(entity, duplicate_id, source)


def _may(run: Any, entity: EntityDef, action: str, record: dict[str, Any]) -> bool:
    records = run.records
    return bool(records._allows(run.conn, run.snap, run.actor, entity, action, record))


def _fills(
    run: Any, entity: EntityDef, survivor: dict[str, Any], duplicate: dict[str, Any], survivor_id: str
) -> dict[str, Any]:
    """The duplicate's values for the survivor's blank fields (links: the union)."""
    owned = run.automation.owned_fields.get(entity.name, {})
    loader_env = run.env(entity, survivor)
    other_env = run.env(entity, duplicate)
    fills: dict[str, Any] = {}
    for fd in entity.fields.values():
        if fd.is_computed or fd.unique or fd.type in ("autonumber", "table") or fd.name in owned:
            continue
        if fd.type == "links":
            mine = list(loader_env.record.get(fd.name) or [])
            theirs = [i for i in other_env.record.get(fd.name) or [] if i not in mine and i != survivor_id]
            if theirs:
                fills[fd.name] = mine + theirs
            continue
        value = duplicate.get(fd.name)
        if _empty(survivor.get(fd.name)) and not _empty(value):
            if fd.target == entity.name and value == survivor_id:
                continue  # the duplicate pointed at the survivor: keeping that would point at itself
            fills[fd.name] = value
    return fills


def _repoint(run: Any, entity: EntityDef, survivor_id: str, duplicate_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    """The writes that move every reference from the duplicate to the survivor, checked:
    the caller must be able to change each record (403 before anything is written)."""
    writes: dict[tuple[str, str], dict[str, Any]] = {}
    for ref in references_to(run.snap.catalog, entity.name):
        for record_id, value in _referring(run, ref, entity, duplicate_id):
            if ref.entity.name == entity.name and record_id == duplicate_id:
                continue  # the duplicate's own references go with it
            self_ref = ref.entity.name == entity.name and record_id == survivor_id
            writes.setdefault((ref.entity.name, record_id), {})[ref.field] = _moved(
                ref, value, survivor_id, duplicate_id, self_ref
            )
    for (name, record_id), _ in writes.items():
        other = run.snap.catalog.entities[name]
        current = run.fetch(other, record_id)
        if current is None or not _may(run, other, "read", current) or not _may(run, other, "update", current):
            raise PermissionDenied(
                f"A {name} you may not change refers to the duplicate {entity.name}, so you may not merge them"
            )
    return writes


def _moved(ref: Reference, value: Any, survivor_id: str, duplicate_id: str, self_ref: bool) -> Any:
    """The new value of a referring field: the survivor instead of the duplicate."""
    new = None if self_ref else survivor_id
    if ref.kind in ("link", "pair"):
        return new
    if ref.kind == "links":
        ids = [new if i == duplicate_id else i for i in value]
        return list(dict.fromkeys(i for i in ids if i is not None))
    # rows: every row of the table (rows left out would be removed), the matching ones moved
    return [
        {"id": row["id"], ref.row_field: new} if row.get(ref.row_field) == duplicate_id else {"id": row["id"]}
        for row in value
    ]


def _referring(run: Any, ref: Reference, entity: EntityDef, duplicate_id: str) -> list[tuple[str, Any]]:
    """``(record id, current value of the field)`` for the live records of ``ref`` pointing at the duplicate."""
    tables = run.snap.tables
    main = tables.main(ref.entity.name)
    live = main.c.deleted_at.is_(None)
    if ref.kind == "link":
        ids = run.conn.execute(sa.select(main.c.id).where(main.c[ref.field] == duplicate_id, live)).scalars()
        return [(i, duplicate_id) for i in ids]
    if ref.kind == "pair":
        query = sa.select(main.c.id).where(
            main.c[ref.pair_entity] == entity.name, main.c[ref.field] == duplicate_id, live
        )
        return [(i, duplicate_id) for i in run.conn.execute(query).scalars()]
    if ref.kind == "links":
        join = tables.entities[ref.entity.name].joins[ref.field]
        query = sa.select(main.c.id).where(main.c.id == join.c.source_id, join.c.target_id == duplicate_id, live)
    else:
        rows = tables.entities[ref.entity.name].children[ref.field]
        query = sa.select(main.c.id).where(main.c.id == rows.c.parent_id, rows.c[ref.row_field] == duplicate_id, live)
    found = []
    for record_id in dict.fromkeys(run.conn.execute(query).scalars()):
        loaded = run.env(ref.entity, {"id": record_id}).record
        found.append((record_id, list(loaded.get(ref.field) or [])))
    return found


# --- the record action (merge: true) and the step (merge: {duplicate: ...}) -------------------------
class MergeRecordAction:
    """``POST /api/v1/ENTITY/ID/actions/merge {"duplicate": ID, "comment"?}``."""

    permission = "update"

    def form_inputs(self, entity: EntityDef) -> tuple[FieldDef, ...]:
        """What a form for this action asks for (a record page's): the duplicate to merge in."""
        options = {"to": entity.name, "required": True, "help": "The duplicate to merge into this record."}
        return (FieldDef("duplicate", "link", options, entity.origin, entity.pack),)

    def openapi_body(self, entity: EntityDef, catalog: Catalog) -> dict[str, Any]:
        """The body's JSON Schema for the OpenAPI document."""
        return {
            "type": "object",
            "required": ["duplicate"],
            "properties": {
                "duplicate": {"type": "string", "description": f"the id of the {entity.name} merged into this one"},
                "comment": {"type": "string", "description": "recorded in the record's history"},
            },
            "additionalProperties": False,
        }

    def __call__(self, run: Any, entity: EntityDef, record_id: str, body: dict[str, Any]) -> None:
        comment, values = read_body(body, ("duplicate",), "merge")
        merge_records(run, entity, record_id, values.get("duplicate"))
        if comment:
            run.audit(entity.name, record_id, "comment", {"comment": [None, comment]})


class MergeStep:
    """``merge: {duplicate: '=$input.duplicate'}``: merge that record into the trigger record."""

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if not isinstance(spec, dict) or set(spec) != {"duplicate"}:
            c.fail("merge takes duplicate: the id of the record to merge into this one ('=$input.duplicate')", *path)
            return None
        duplicate = c.value(spec["duplicate"], entity, *path, "duplicate")

        def run_merge(run: Any, target: Target) -> None:
            other = duplicate(target.env(run))
            if other is None:
                raise ActionFailed(f"merge: no {entity.name} to merge was given")
            merge_records(run, target.entity, target.record_id, other, target.source)

        return run_merge


class Merge(BaseComponent):
    name = "merge"

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        for entity in catalog.api_entities():
            if entity.merge:
                automation.register_action(entity.name, "merge", MergeRecordAction(), problems, str(entity.origin))


COMPONENT = Merge()
register("merge", MergeStep())
