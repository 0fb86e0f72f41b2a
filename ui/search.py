"""Global search: the records of every entity the user may read whose search fields (the
entity's ``search:`` list, else its title field) contain the words typed, ignoring case.

Each entity is one list call through the data-access layer (``q=``, ``engine.storage.search``),
so record permissions apply exactly as in its list view; "all results" opens the list with
the same condition as a DSL filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.actor import Actor
from engine.errors import TesseraError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.storage.search import search_filter

#: hits shown per entity (the "all results" link opens the filtered list)
PER_ENTITY = 5


@dataclass(frozen=True)
class SearchGroup:
    entity: EntityDef
    records: list[dict[str, Any]]
    filter: str


def search_records(ws: Any, who: Actor, catalog: Catalog, query: str) -> list[SearchGroup]:
    groups = []
    for entity in catalog.api_entities():
        condition = search_filter(entity, query)
        if condition is None or entity.system:
            continue
        try:
            page = ws.records.list(who, entity.name, {"q": query, "limit": str(PER_ENTITY)})
        except TesseraError:
            continue  # an entity the user may see but not list is simply not searched
        if page.data:
            groups.append(SearchGroup(entity, page.data, condition))
    return groups
