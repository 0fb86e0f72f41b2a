"""Global search: the records of every entity the user may read whose search fields (the
entity's ``search:`` list, else its title field) contain the words typed, ignoring case.

Each entity is one list call through the data-access layer (``q=``, ``engine.storage.search``),
so record permissions apply exactly as in its list view; "all results" opens the list with
the same condition as a DSL filter. The hits shown are the best (title matches first, then
the list order) of the first :data:`RANKED` matches the database finds: a common word
matches tens of thousands of records in a large workspace, and ranking them all would read
every one. The list behind "all results" ranks every match.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from engine.actor import Actor
from engine.errors import TesseraError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.storage.listing import parse_list_params
from engine.storage.search import search_filter

#: hits shown per entity (the "all results" link opens the filtered list)
PER_ENTITY = 5
#: matches per entity among which those hits are chosen
RANKED = 200
#: entities searched at once (each a connection of the pool for the time of its query)
_POOL = ThreadPoolExecutor(max_workers=3, thread_name_prefix="tessera-search")


@dataclass(frozen=True)
class SearchGroup:
    entity: EntityDef
    records: list[dict[str, Any]]
    filter: str


def search_records(ws: Any, who: Actor, catalog: Catalog, query: str) -> list[SearchGroup]:
    searched = [
        (entity, condition)
        for entity in catalog.api_entities()
        if not entity.system and (condition := search_filter(entity, query)) is not None
    ]

    def search(entity: EntityDef) -> list[dict[str, Any]]:
        try:
            wanted = parse_list_params(entity, {"q": query, "limit": str(PER_ENTITY)})
            return ws.records.list(who, entity.name, replace(wanted, ranked=RANKED)).data
        except TesseraError:
            return []  # an entity the user may see but not list is simply not searched

    # a few at a time: one entity's query runs in the database while the next is prepared
    found = list(_POOL.map(search, [entity for entity, _ in searched]))
    return [
        SearchGroup(entity, records, condition)
        for (entity, condition), records in zip(searched, found, strict=True)
        if records
    ]
