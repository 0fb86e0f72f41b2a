"""How pages show records: the columns of a list, and references (links, users, teams)
turned into readable titles with one query per referenced entity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.actor import Actor
from engine.dsl.parser import string_literal
from engine.errors import TesseraError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef

#: columns shown when an entity declares none (after its title)
DEFAULT_COLUMNS = 6
_REFERENCES = ("link", "user", "team")
_IDS_PER_QUERY = 80
_NOT_IN_LISTS = {"table", "links", "json", "text", "secret", "file", "html", "markdown"}
#: fields every record has, shown like the entity's own
SYSTEM_COLUMNS = {
    "owner": "user",
    "created_by": "user",
    "updated_by": "user",
    "created_at": "datetime",
    "updated_at": "datetime",
}


@dataclass(frozen=True)
class Column:
    name: str
    label: Any
    type: str
    field: FieldDef | None

    @property
    def sortable(self) -> bool:
        return self.type not in _NOT_IN_LISTS and (self.field is None or self.field.has_column)


def column(entity: EntityDef, name: str) -> Column | None:
    fd = entity.fields.get(name)
    if fd is not None:
        return Column(name, fd.label, fd.type, fd)
    if name in SYSTEM_COLUMNS:
        return Column(name, name.replace("_", " ").capitalize(), SYSTEM_COLUMNS[name], None)
    return None


def list_columns(entity: EntityDef, wanted: list[str] | None = None) -> list[Column]:
    """The columns asked for (a saved view), else the entity's ``list:`` columns, else its
    title and the first few simple fields; fields the user may not read are not there."""
    names = wanted or list(entity.list_columns)
    if not names:
        names = [entity.title_field] + [
            f.name
            for f in entity.fields.values()
            if f.name != entity.title_field and f.has_column and f.type not in _NOT_IN_LISTS
        ][: DEFAULT_COLUMNS - 1]
    return [c for c in (column(entity, n) for n in names) if c is not None]


def titles(ws: Any, who: Actor, catalog: Catalog, target: str, ids: set[str]) -> dict[str, str]:
    """Record titles of ``target`` by id, for the ids the user may read (others stay ids)."""
    entity = catalog.entities.get(target)
    if entity is None or not ids:
        return {}
    title, found = entity.title_field, dict[str, str]()
    ordered = sorted(ids)[:500]
    for start in range(0, len(ordered), _IDS_PER_QUERY):  # a DSL text is at most 4000 characters
        chunk = ordered[start : start + _IDS_PER_QUERY]
        condition = "id in (" + ", ".join(string_literal(i) for i in chunk) + ",)"
        try:
            page = ws.records.list(who, target, {"filter": condition, "limit": "500", "fields": f"id,{title}"})
        except TesseraError:
            return found
        found.update({r["id"]: str(r.get(title) or r["id"]) for r in page.data})
    return found


def reference_titles(
    ws: Any, who: Actor, catalog: Catalog, entity: EntityDef, records: list[dict[str, Any]], names: list[str]
) -> dict[str, dict[str, str]]:
    """``{field: {id: title}}`` for the reference fields among ``names``."""
    wanted: dict[str, set[str]] = {}
    targets: dict[str, str] = {}
    for name in names:
        fd = entity.fields.get(name)
        kind = fd.type if fd is not None else SYSTEM_COLUMNS.get(name)
        if kind not in _REFERENCES:
            continue
        target = (fd.target if fd is not None else None) or str(kind)
        targets[name] = target
        wanted.setdefault(target, set()).update(r[name] for r in records if isinstance(r.get(name), str))
    found = {target: titles(ws, who, catalog, target, ids) for target, ids in wanted.items()}
    return {name: found.get(target, {}) for name, target in targets.items()}


def choices(ws: Any, who: Actor, catalog: Catalog, target: str, limit: int = 200) -> list[tuple[str, str]] | None:
    """``[(id, title)...]`` of the records of ``target`` the user may read, sorted by title;
    None when there are more than ``limit`` (a picker then searches instead of listing)."""
    entity = catalog.entities.get(target)
    if entity is None:
        return None
    title = entity.title_field
    try:
        page = ws.records.list(who, target, {"limit": str(limit), "fields": f"id,{title}", "sort": title})
    except TesseraError:
        return None
    if page.next_cursor is not None:
        return None
    return [(r["id"], str(r.get(title) or r["id"])) for r in page.data]
