"""The effective metadata of a workspace: packs, their extensions and run-time overlays.

``build_catalog`` is the one function that turns documents into ``EntityDef`` values and
checks that they fit together (references resolve, no field is defined twice
differently, indexes name real fields). Everything downstream reads a ``Catalog``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from engine.meta.board import check_board
from engine.meta.calendar_view import check_calendar
from engine.meta.duplicates import check_duplicate_rules, rules_from_document
from engine.meta.model import SYSTEM_FIELDS, EntityDef, FieldDef, IndexDef, Origin, TemplateDef, ValidationDef
from engine.meta.packs import Pack, dependency_closure
from engine.meta.problems import Problems
from engine.meta.schema_check import iter_errors
from engine.meta.source import Document, format_path
from engine.meta.timeline import check_timeline, timeline_from_document
from engine.plugin_fields import known_types, storage_type

RESERVED_FIELDS = {*SYSTEM_FIELDS, "deleted_at", "deleted_by", "parent_id", "position"}
#: names taken by API areas under /api/v1 (an entity of that name could not be reached)
RESERVED_ENTITIES = {"meta", "auth", "privacy", "search", "dashboards", "reports", "public", "admin", "openapi", "me"}
AUTONUMBER_RX = re.compile(r"\{(YYYY|YY|MM|DD|#+)\}")


@dataclass(frozen=True)
class Overlay:
    """A definition stored in the database (admin or API), applied on top of the packs."""

    id: str
    kind: str  # entity | field | other document kinds later
    target: str  # entity name, or document name
    document: dict[str, Any]


@dataclass
class Catalog:
    packs: list[Pack]
    entities: dict[str, EntityDef]
    overlays: tuple[Overlay, ...] = ()
    #: documents of later layers (rules, workflows, dashboards) by folder, untouched here
    documents: dict[str, list[tuple[Pack, Document]]] = field(default_factory=dict)

    def entity(self, name: str) -> EntityDef | None:
        return self.entities.get(name)

    def api_entities(self) -> list[EntityDef]:
        """Entities with an API of their own (child-row entities have none)."""
        return [e for e in self.entities.values() if not e.child]

    def pack(self, name: str) -> Pack | None:
        return next((p for p in self.packs if p.name == name), None)


def _origin(doc: Document, path: list[Any]) -> Origin:
    line, col = doc.where(path)
    return Origin(str(doc.path), line, col, format_path(path))


def _fields(doc: Document, pack: str, data: dict[str, Any], problems: Problems) -> dict[str, FieldDef]:
    out = {}
    for name, spec in (data.get("fields") or {}).items():
        if name in RESERVED_FIELDS:
            problems.add(doc.location(["fields", name]), f"{name!r} is a system field and cannot be redefined")
            continue
        out[name] = FieldDef(name, storage_type(spec["type"]), dict(spec), _origin(doc, ["fields", name]), pack)
    return out


def _indexes(entity: str, specs: list[Any]) -> tuple[IndexDef, ...]:
    out = []
    for spec in specs:
        if isinstance(spec, list):
            spec = {"fields": spec}
        out.append(
            IndexDef(spec.get("name") or "", tuple(spec["fields"]), spec.get("unique", False), spec.get("where"))
        )
    return tuple(out)


def _validations(doc: Document, data: dict[str, Any], base: str = "validations") -> tuple[ValidationDef, ...]:
    return tuple(
        ValidationDef(v["when"], v["message"], v.get("field"), _origin(doc, [base, i]))
        for i, v in enumerate(data.get("validations") or [])
    )


def _templates(doc: Document, pack: str, data: dict[str, Any]) -> dict[str, TemplateDef]:
    out = {}
    for name, spec in (data.get("templates") or {}).items():
        spec = spec if isinstance(spec, dict) else {"file": spec}
        label = spec.get("label") or name.replace("_", " ").capitalize()
        out[name] = TemplateDef(name, spec["file"], label, _origin(doc, ["templates", name]), pack)
    return out


def entity_from_document(doc: Document, pack: str, problems: Problems, system: bool = False) -> EntityDef | None:
    data = doc.data
    fields = _fields(doc, pack, data, problems)
    name = data["entity"]
    if data.get("autonumber") and "number" not in fields:
        fields = {
            "number": FieldDef(
                "number",
                "autonumber",
                {"format": data["autonumber"], "unique": True},
                _origin(doc, ["autonumber"]),
                pack,
            ),
            **fields,
        }
    audit = data.get("audit", True)
    list_spec = data.get("list") or {}
    return EntityDef(
        name=name,
        label=data.get("label") or name.replace("_", " ").capitalize(),
        pack=pack,
        origin=_origin(doc, ["entity"]),
        fields=fields,
        title=data.get("title"),
        autonumber=data.get("autonumber"),
        search=tuple(data.get("search", ())),
        audit=bool(audit),
        audit_reads=bool(audit.get("reads")) if isinstance(audit, dict) else False,
        child=bool(data.get("child")),
        validations=_validations(doc, data),
        permissions=dict(data.get("permissions") or {}),
        workflow=data.get("workflow"),
        indexes=_indexes(name, data.get("indexes") or []),
        list_columns=tuple(list_spec.get("columns", ())),
        default_sort=list_spec.get("sort"),
        related=tuple(data.get("related", ())),
        plural=data.get("plural"),
        help=data.get("help"),
        icon=data.get("icon"),
        system=system,
        owner_fields=tuple(data.get("owner_fields", ())),
        account_field=data.get("account_field"),
        privacy_collection=(data.get("privacy") or {}).get("collection"),
        retention=tuple(data.get("retention") or ()),
        singleton=bool(data.get("singleton")),
        merge=bool(data.get("merge")),
        templates=_templates(doc, pack, data),
        duplicates=rules_from_document(name, pack, data, lambda path: _origin(doc, path)),
        timeline=timeline_from_document(data),
        board=data.get("board"),
        calendar=data.get("calendar"),
    )


def _same_field(a: FieldDef, b: FieldDef) -> bool:
    return a.type == b.type and a.options == b.options


def _extend(entity: EntityDef, doc: Document, pack: str, problems: Problems) -> EntityDef:
    data = doc.data
    fields = dict(entity.fields)
    for name, new in _fields(doc, pack, data, problems).items():
        old = fields.get(name)
        if old is not None and not _same_field(old, new):
            problems.add(str(new.origin), f"field {entity.name}.{name} is already defined differently in {old.origin}")
            continue
        fields.setdefault(name, new)
    permissions = dict(entity.permissions)
    for role, grant in (data.get("permissions") or {}).items():
        if role in permissions and permissions[role] != grant:
            problems.add(
                doc.location(["permissions", role]),
                f"permissions of role {role!r} on {entity.name!r} are already set in {entity.origin}",
            )
            continue
        permissions[role] = grant
    templates = dict(entity.templates)
    for name, template in _templates(doc, pack, data).items():
        old_template = templates.get(name)
        if old_template is not None and (old_template.file, old_template.label) != (template.file, template.label):
            problems.add(
                str(template.origin),
                f"template {entity.name}.{name} is already defined differently in {old_template.origin}",
            )
            continue
        templates.setdefault(name, template)
    return replace(
        entity,
        fields=fields,
        permissions=permissions,
        validations=entity.validations + _validations(doc, data),
        indexes=entity.indexes + _indexes(entity.name, data.get("indexes") or []),
        search=entity.search + tuple(s for s in data.get("search", ()) if s not in entity.search),
        related=entity.related + tuple(r for r in data.get("related", ()) if r not in entity.related),
        templates=templates,
        duplicates=entity.duplicates + rules_from_document(entity.name, pack, data, lambda path: _origin(doc, path)),
    )


def report_schema_errors(doc: Document, kind: str, problems: Problems) -> bool:
    """Add what the ``kind`` schema finds wrong with ``doc`` to ``problems``; True if any."""
    key = (kind, tuple(known_types()))  # a plugin's field type makes a document valid
    found = doc.schema_problems.get(key)
    if found is None:
        found = doc.schema_problems[key] = list(iter_errors(kind, doc.data))
    for doc_path, message in found:
        problems.add(doc.location(doc_path), message, format_path(doc_path))
    return bool(found)


def build_catalog(packs: list[Pack], overlays: tuple[Overlay, ...] = (), problems: Problems | None = None) -> Catalog:
    """Validate and combine ``packs`` (dependency order) and ``overlays`` into a Catalog.

    Problems are collected; the caller decides whether to raise (start-up) or print
    (``tessera check``).
    """
    problems = problems if problems is not None else Problems()
    entities: dict[str, EntityDef] = {}
    extensions: list[tuple[Pack, Document]] = []
    documents: dict[str, list[tuple[Pack, Document]]] = {}
    for pack in packs:
        for doc in pack.files("entities"):
            if not isinstance(doc.data, dict):
                problems.add(doc.location([]), "an entity document must be a mapping")
                continue
            if "extends" in doc.data:
                if not report_schema_errors(doc, "extension", problems):
                    extensions.append((pack, doc))
                continue
            if report_schema_errors(doc, "entity", problems):
                continue
            entity = entity_from_document(doc, pack.name, problems, system=pack.name == "system")
            if entity is None:
                continue
            if entity.name in RESERVED_ENTITIES or entity.name.startswith("tessera_") or "__" in entity.name:
                problems.add(str(entity.origin), f"{entity.name!r} is a reserved name; choose another entity name")
                continue
            if entity.name in entities:
                problems.add(
                    str(entity.origin), f"entity {entity.name!r} is already defined in {entities[entity.name].origin}"
                )
                continue
            entities[entity.name] = entity
        for folder, docs in pack.documents.items():
            if folder != "entities":
                documents.setdefault(folder, []).extend((pack, d) for d in docs)

    closure = dependency_closure(packs)
    for pack, doc in extensions:
        target = doc.data["extends"]
        base = entities.get(target)
        if base is None or base.pack not in closure.get(pack.name, set()):
            problems.add(
                doc.location(["extends"]),
                f"extends {target!r}, which is not an entity of this pack or of the packs it depends on",
            )
            continue
        entities[target] = _extend(base, doc, pack.name, problems)

    for overlay in overlays:
        apply_overlay(entities, overlay, problems)

    catalog = Catalog(packs, entities, overlays, documents)
    check_references(catalog, closure, problems)
    return catalog


def overlay_document(overlay: Overlay) -> Document:
    return Document(path=f"overlay:{overlay.kind}:{overlay.target}", data=overlay.document)  # type: ignore[arg-type]


def apply_overlay(entities: dict[str, EntityDef], overlay: Overlay, problems: Problems) -> None:
    doc = overlay_document(overlay)
    if overlay.kind == "entity":
        if report_schema_errors(doc, "entity", problems):
            return
        if overlay.target in RESERVED_ENTITIES or overlay.target.startswith("tessera_") or "__" in overlay.target:
            problems.add(doc.location(["entity"]), f"{overlay.target!r} is a reserved name; choose another entity name")
            return
        if overlay.target in entities:
            problems.add(doc.location(["entity"]), f"entity {overlay.target!r} already exists")
            return
        entity = entity_from_document(doc, "overlay", problems)
        if entity is not None:
            entities[entity.name] = entity
    elif overlay.kind in ("field", "permission"):
        key = "fields" if overlay.kind == "field" else "permissions"
        ext = Document(doc.path, {"extends": overlay.target, key: overlay.document})
        if report_schema_errors(ext, "extension", problems):
            return
        base = entities.get(overlay.target)
        if base is None:
            problems.add(doc.location([]), f"no entity {overlay.target!r} for this {overlay.kind}")
            return
        if overlay.kind == "field":
            entities[overlay.target] = _extend(base, ext, "overlay", problems)
        else:  # an admin's grant overrides the pack's for that role (that is what it is for)
            entities[overlay.target] = replace(base, permissions={**base.permissions, **overlay.document})


def check_references(catalog: Catalog, closure: dict[str, set[str]], problems: Problems) -> None:
    """Cross-document checks: link targets, child tables, titles, indexes, enum defaults."""
    entities = catalog.entities
    for entity in entities.values():
        if entity.child and entity.permissions:
            problems.add(
                str(entity.origin),
                f"{entity.name} is a child-row entity: its rows have no permissions of their own (the"
                " permissions of the parent's table field guard them); remove its permissions",
            )
        for f in entity.fields.values():
            target = f.target
            if target is not None:
                other = entities.get(target)
                visible = f.pack == "overlay" or (
                    other is not None and (other.pack in closure.get(f.pack, set()) or other.pack == "overlay")
                )
                if other is None:
                    problems.add(str(f.origin), f"{entity.name}.{f.name} links to unknown entity {target!r}")
                elif not visible:
                    problems.add(
                        str(f.origin),
                        f"{entity.name}.{f.name} links to {target!r} of pack {other.pack!r}, "
                        f"which pack {f.pack!r} does not depend on",
                    )
                elif other.child:
                    problems.add(str(f.origin), f"{entity.name}.{f.name} cannot link to child-row entity {target!r}")
            if f.type == "table":
                child = entities.get(f.opt("of"))
                if child is None or not child.child:
                    problems.add(
                        str(f.origin),
                        f"{entity.name}.{f.name}: table rows must be an entity with 'child: true', "
                        f"{f.opt('of')!r} is {'unknown' if child is None else 'not a child entity'}",
                    )
                elif entity.child:
                    problems.add(str(f.origin), "child rows cannot have tables of their own")
            if f.type in ("enum", "multi_enum"):
                values = [o.value for o in f.enum_options]
                dupes = {v for v in values if values.count(v) > 1}
                if dupes:
                    problems.add(str(f.origin), f"{entity.name}.{f.name}: duplicate options {sorted(dupes)}")
                default = f.opt("default")
                if (
                    isinstance(default, str)
                    and not default.startswith("=")
                    and f.type == "enum"
                    and default not in values
                ):
                    problems.add(str(f.origin), f"{entity.name}.{f.name}: default {default!r} is not one of {values}")
            if f.type == "autonumber":
                fmt = f.opt("format", "")
                leftovers = AUTONUMBER_RX.sub("", fmt)
                if "{" in leftovers or "}" in leftovers:
                    problems.add(
                        str(f.origin),
                        f"{entity.name}.{f.name}: autonumber format {fmt!r} uses an unknown "
                        "placeholder; use {YYYY} {YY} {MM} {DD} and {###}",
                    )
        names = set(entity.fields)
        for name in entity.owner_fields:
            fd = entity.fields.get(name)
            if fd is None or fd.type != "user":
                problems.add(str(entity.origin), f"{entity.name}: owner field {name!r} must be a user field")
        if entity.account_field and (
            entity.account_field not in names or entity.fields[entity.account_field].type != "link"
        ):
            problems.add(
                str(entity.origin), f"{entity.name}: account_field {entity.account_field!r} must be a link field"
            )
        if entity.title and entity.title not in names:
            problems.add(str(entity.origin), f"{entity.name}: title field {entity.title!r} does not exist")
        for index in entity.indexes:
            for name, _ in index.columns:
                fdef = entity.fields.get(name)
                if name not in SYSTEM_FIELDS and (fdef is None or not fdef.has_column):
                    problems.add(
                        str(entity.origin),
                        f"{entity.name}: index {index.name or list(index.fields)} names {name!r},"
                        " which is not a stored or system field",
                    )
        if entity.default_sort:
            sort_field = entity.default_sort.lstrip("-")
            if sort_field not in names and sort_field not in SYSTEM_FIELDS:
                problems.add(str(entity.origin), f"{entity.name}: list sort field {sort_field!r} does not exist")
        for column in entity.list_columns:
            if column not in names and column not in SYSTEM_FIELDS:
                problems.add(str(entity.origin), f"{entity.name}: list column {column!r} does not exist")
        for path in entity.search:
            head = path.split(".")[0]
            if head not in names and head not in SYSTEM_FIELDS:
                problems.add(str(entity.origin), f"{entity.name}: search path {path!r} starts with an unknown field")
        check_timeline(entity, problems)
        check_board(entity, problems)
        check_calendar(entity, problems)
        for related in entity.related:
            if not related_list_exists(catalog, entity, related):
                problems.add(
                    str(entity.origin),
                    f"{entity.name}: related list {related!r} names no links field of {entity.name} and no "
                    f"ENTITY.FIELD linking to it (or 'timeline')",
                )
    check_duplicate_rules(catalog, closure, problems)


def related_list_exists(catalog: Catalog, entity: EntityDef, related: str) -> bool:
    """``timeline``, a ``links`` field of the entity, or ``OTHER[.FIELD]`` with exactly one
    field of OTHER linking to the entity (as ``GET .../related/NAME`` resolves it)."""
    if related == "timeline":
        return True
    own = entity.fields.get(related)
    if own is not None and own.type == "links":
        return True
    other_name, _, field_name = related.partition(".")
    other = catalog.entities.get(other_name)
    if other is None or other.child:
        return False
    links = [
        f
        for f in other.fields.values()
        if f.target == entity.name and f.type != "table" and (not field_name or f.name == field_name)
    ]
    return len(links) == 1
