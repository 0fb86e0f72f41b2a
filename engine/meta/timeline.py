"""Polymorphic references and the activity timeline, as metadata.

An entity whose records hang off one record of *any* entity (activities, documents,
survey responses) names the two fields that say which: an entity name and a record id.
``timeline:`` in its document declares that pair; the engine then checks on every write
that the pair names a live record, and ``GET /api/v1/ENTITY/ID/timeline`` lists, newest
first, every such record pointing at ``ENTITY/ID`` (``engine.storage.timeline``)::

    timeline:
      entity_field: related_entity   # default
      id_field: related_id           # default
      at: due_at                     # datetime an entry is sorted by; empty -> created_at (default)
      via: [account, attendees]      # link/links fields that also put an entry on a timeline
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.meta.model import SYSTEM_FIELDS, EntityDef
from engine.meta.problems import Problems

if TYPE_CHECKING:
    from engine.meta.catalog import Catalog


@dataclass(frozen=True)
class TimelineDef:
    entity_field: str = "related_entity"
    id_field: str = "related_id"
    at: str = "created_at"
    via: tuple[str, ...] = ()


def timeline_from_document(data: dict[str, Any]) -> TimelineDef | None:
    spec = data.get("timeline")
    if not spec:
        return None
    spec = spec if isinstance(spec, dict) else {}
    return TimelineDef(
        spec.get("entity_field", "related_entity"),
        spec.get("id_field", "related_id"),
        spec.get("at", "created_at"),
        tuple(spec.get("via", ())),
    )


def check_timeline(entity: EntityDef, problems: Problems) -> None:
    """The reference fields are stored text, ``at`` a date or datetime, ``via`` links."""
    spec = entity.timeline
    if spec is None:
        return
    where = str(entity.origin)
    for name in (spec.entity_field, spec.id_field):
        fd = entity.fields.get(name)
        if fd is None or fd.type not in ("string", "enum") or not fd.has_column:
            problems.add(where, f"{entity.name}: timeline field {name!r} must be a stored string field")
    if spec.at not in SYSTEM_FIELDS:
        fd = entity.fields.get(spec.at)
        if fd is None or fd.type != "datetime" or not fd.has_column:
            problems.add(where, f"{entity.name}: timeline 'at' {spec.at!r} must be a stored datetime field")
    elif spec.at not in ("created_at", "updated_at"):
        problems.add(where, f"{entity.name}: timeline 'at' {spec.at!r} must be a datetime field")
    for name in spec.via:
        fd = entity.fields.get(name)
        if fd is None or fd.type not in ("link", "links", "user", "team"):
            problems.add(where, f"{entity.name}: timeline 'via' {name!r} must be a link or links field")


def timeline_entities(catalog: Catalog) -> list[EntityDef]:
    """Entities whose records appear on timelines."""
    return [e for e in catalog.entities.values() if e.timeline is not None and not e.child]
