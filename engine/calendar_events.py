"""Which records are calendar events, and when: the records of every entity that declares
``calendar:`` (``engine.meta.calendar_view``), read as one user through the data-access layer.

Shared by the staff calendar page (``ui/calendar.py``) and the iCalendar feed
(``engine/calendar_feed.py``), so both show the same records to the same reader: the
permissions of the entity decide what appears; the scope narrows it to the reader's own
records (``mine``), their team's (``team``) or leaves it at everything they may read (``all``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from engine.actor import Actor
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef

SCOPES = ("mine", "team", "all")


@dataclass(frozen=True)
class EventFields:
    """The fields of one entity that make its records events (each one the reader may read)."""

    start: str
    end: str | None
    title: str | None
    color_by: str | None


def calendar_entities(cat: Catalog) -> list[EntityDef]:
    """Entities with ``calendar:`` whose start field is in ``cat`` (the reader's catalog)."""
    return [
        e
        for e in cat.entities.values()
        if e.calendar and not e.child and not e.system and e.calendar["start"] in e.fields
    ]


def event_fields(entity: EntityDef) -> EventFields:
    """The ``calendar:`` fields of ``entity``; those missing from it (hidden from the reader) are None."""
    spec = entity.calendar or {}

    def present(name: Any) -> str | None:
        return name if name in entity.fields else None

    return EventFields(
        spec["start"],
        present(spec.get("end")),
        present(spec.get("title")) or entity.title_field,
        present(spec.get("color_by")),
    )


def scope_condition(entity: EntityDef, scope: str) -> str | None:
    """The DSL condition of ``scope``: ``mine`` is owned by, assigned to (owner fields) or
    attended by (a ``links`` field to users) the reader; ``team`` the same for their team;
    ``all`` no condition."""
    if scope == "all":
        return None
    owners = ["owner", *[f for f in entity.owner_fields if f in entity.fields]]
    if scope == "team":
        return " or ".join(f"is_team_member({f})" for f in owners)
    members = [f.name for f in entity.fields.values() if f.type == "links" and f.target == "user"]
    return " or ".join([f"{f} == $user" for f in owners] + [f"$user in {f}" for f in members])


def _literal(value: dt.date | dt.datetime) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def window_condition(entity: EntityDef, first: dt.date, last: dt.date, zone: ZoneInfo) -> str:
    """The DSL condition of a record being on any day from ``first`` to ``last`` (the
    reader's days in ``zone``): it starts in the window, or started before and ends in it."""
    fields = event_fields(entity)
    start, end = fields.start, fields.end
    lo: dt.date | dt.datetime
    hi: dt.date | dt.datetime
    if entity.fields[start].type == "datetime":
        lo = dt.datetime.combine(first, dt.time(0), zone)
        hi = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), zone)
        before = f"{start} < {_literal(hi)}"
    else:
        lo, hi = first, last
        before = f"{start} <= {_literal(hi)}"
    if end is None:
        return f"{start} >= {_literal(lo)} and {before}"
    return f"{before} and ({start} >= {_literal(lo)} or ({end} != null and {end} >= {_literal(lo)}))"


def event_condition(entity: EntityDef, first: dt.date, last: dt.date, zone: ZoneInfo, scope: str) -> str:
    """The window and scope conditions together (see ``window_condition``, ``scope_condition``)."""
    condition = f"({window_condition(entity, first, last, zone)})"
    scoped = scope_condition(entity, scope)
    return f"{condition} and ({scoped})" if scoped else condition


def read_events(
    ws: Any, who: Actor, entity: EntityDef, condition: str, limit: int
) -> Iterator[tuple[list[dict[str, Any]], bool]]:
    """The records of ``entity`` matching ``condition`` as ``who`` reads them, in start order,
    page by page (at most 500 each): ``(records, more_follow)``, up to ``limit`` records."""
    start = event_fields(entity).start
    params = {"filter": condition, "sort": start, "limit": str(min(limit, 500))}
    read = 0
    while True:
        page = ws.records.list(who, entity.name, params)
        read += len(page.data)
        more = bool(page.next_cursor)
        yield page.data, more
        if not more or read >= limit:
            return
        params = {**params, "cursor": page.next_cursor, "limit": str(min(limit - read, 500))}


def moment(value: Any) -> dt.date | dt.datetime | None:
    """A stored date, or datetime (made aware: UTC when naive), from a record's JSON value."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            if "T" in value:
                value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            else:
                value = dt.date.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value if isinstance(value, dt.date) else None
