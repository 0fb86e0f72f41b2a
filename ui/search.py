"""Global search: the records of every entity the user may read whose search fields (the
entity's ``search:`` list, else its title field) contain the words typed, ignoring case.

Each entity is one list call through the data-access layer with a DSL filter, so record
permissions apply exactly as in its list view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.actor import Actor
from engine.dsl.parser import string_literal
from engine.errors import TesseraError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef

#: hits shown per entity (the "all results" link opens the filtered list)
PER_ENTITY = 5
_TEXT_TYPES = {"string", "email", "phone", "url", "text", "autonumber"}


@dataclass(frozen=True)
class SearchGroup:
    entity: EntityDef
    records: list[dict[str, Any]]
    filter: str


def search_filter(entity: EntityDef, query: str) -> str | None:
    """The DSL condition matching ``query`` in the entity's search fields (every word must
    appear in one of them); None when the entity has no text to search."""
    names = [n for n in (entity.search or (entity.title_field,)) if _searchable(entity, n)]
    words = query.split()
    if not names or not words:
        return None
    per_word = ["(" + " or ".join(f"{n} ~ {string_literal(w)}" for n in names) + ")" for w in words[:8]]
    return " and ".join(per_word)


def _searchable(entity: EntityDef, name: str) -> bool:
    fd = entity.fields.get(name)
    return fd is not None and fd.type in _TEXT_TYPES and fd.has_column


def search_records(ws: Any, who: Actor, catalog: Catalog, query: str) -> list[SearchGroup]:
    groups = []
    for entity in catalog.api_entities():
        condition = search_filter(entity, query)
        if condition is None or entity.system:
            continue
        try:
            page = ws.records.list(who, entity.name, {"filter": condition, "limit": str(PER_ENTITY)})
        except TesseraError:
            continue  # an entity the user may see but not list is simply not searched
        if page.data:
            groups.append(SearchGroup(entity, page.data, condition))
    return groups
