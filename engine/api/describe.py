"""The public description of an entity, as ``GET /api/v1/meta/entities/NAME`` returns it."""

from __future__ import annotations

from typing import Any

from engine.meta.catalog import Catalog, related_list_exists
from engine.meta.model import SYSTEM_FIELDS, EntityDef, FieldDef

_HIDDEN_OPTIONS = {"type", "label", "help"}


def field_document(fd: FieldDef) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": fd.name,
        "type": fd.type,
        "label": fd.label,
        "required": fd.required,
        "readonly": fd.readonly,
    }
    if fd.opt("help"):
        doc["help"] = fd.opt("help")
    for key, value in fd.options.items():
        if key not in _HIDDEN_OPTIONS and key not in doc:
            doc[key] = value
    if fd.type in ("enum", "multi_enum"):
        doc["options"] = [
            {"value": o.value, "label": o.label or o.value, **({"color": o.color} if o.color else {})}
            for o in fd.enum_options
        ]
    if fd.target:
        doc["to"] = fd.target
    if fd.max_length and "max_length" not in doc:
        doc["max_length"] = fd.max_length
    return doc


def entity_document(entity: EntityDef, catalog: Catalog) -> dict[str, Any]:
    def shown(name: str) -> bool:
        return name in entity.fields or name in SYSTEM_FIELDS

    doc: dict[str, Any] = {
        "name": entity.name,
        "label": entity.label,
        "plural": entity.plural or entity.label,
        "pack": entity.pack,
        # the catalog is the reader's (``Records.catalog_for``): a field hidden from them is
        # gone from ``entity.fields``, and named neither as the title, nor among the search
        # fields or list columns (system columns such as ``created_at`` stay)
        "title": entity.title_field if shown(entity.title_field) else None,
        "search": [n for n in entity.search if n in entity.fields],
        "list_columns": [c for c in entity.list_columns if shown(c)],
        "fields": [field_document(f) for f in entity.fields.values()],
    }
    if entity.autonumber:
        doc["autonumber"] = entity.autonumber
    children = {}
    for f in entity.fields.values():
        if f.type == "table":
            child = catalog.entities[f.opt("of")]
            children[child.name] = [field_document(c) for c in child.fields.values()]
    if children:
        doc["child_entities"] = children
    if entity.board:  # the kanban board (engine.meta.board)
        doc["board"] = entity.board
    if entity.calendar:  # the UI's calendar (engine.meta.calendar_view)
        doc["calendar"] = entity.calendar
    if entity.related:  # the related lists a record page shows (the 360° view), those the caller may read
        # (resolved in the reader's catalog: not one through a link hidden from them)
        doc["related"] = [r for r in entity.related if related_list_exists(catalog, entity, r)]
    if entity.duplicates:  # engine.meta.duplicates: what a form may warn about before saving
        doc["duplicates"] = [
            {"name": d.name, "label": d.label or d.name, "action": d.action, "fields": sorted(d.key_fields)}
            for d in entity.duplicates
        ]
    if entity.timeline is not None:  # records of this entity appear on other records' timelines
        doc["timeline"] = {"entity_field": entity.timeline.entity_field, "id_field": entity.timeline.id_field}
    if entity.templates:  # GET /api/v1/ENTITY/ID/render/NAME
        doc["templates"] = [{"name": t.name, "label": t.label} for t in entity.templates.values()]
    return doc


def entity_summary(entity: EntityDef) -> dict[str, Any]:
    return {"name": entity.name, "label": entity.label, "plural": entity.plural or entity.label, "pack": entity.pack}
