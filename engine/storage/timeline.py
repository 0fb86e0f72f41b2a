"""The timeline of a record, and the polymorphic references that build it.

Entities with ``timeline:`` (``engine.meta.timeline``) hang off one record of any entity
through an (entity name, record id) pair. ``check_reference`` keeps that pair honest on
every write, within what the writer may read; ``timeline`` lists, newest first, what points
at one record: through the pair, or through a link named in ``via`` (an activity's
``account``), each entity read with the caller's permissions, so a portal user sees only
what their grants allow (public entries). A via link, or the pair, hidden from the caller
(field permission ``none``) puts nothing on their timelines.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.errors import BadRequest, FieldError
from engine.meta.model import EntityDef
from engine.meta.timeline import timeline_entities
from engine.storage.codec import to_json
from engine.storage.listing import ListQuery
from engine.storage.reading import Page, ReadContext, get_record, list_records

if TYPE_CHECKING:
    from engine.storage.records import Records
    from engine.workspace import Snapshot

DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def check_reference(
    conn: Connection,
    snap: Snapshot,
    entity: EntityDef,
    record: dict[str, Any],
    changed: Iterable[str] | None = None,
    *,
    rc: ReadContext,
) -> list[FieldError]:
    """The (entity, id) pair of a timeline entity must name a live record, or be empty.

    The record must also be one the writer may read (``rc``): a record hidden from them
    gets the answer a made-up id gets, so the check tells nothing about what exists."""
    spec = entity.timeline
    if spec is None or (changed is not None and not {spec.entity_field, spec.id_field} & set(changed)):
        return []
    target_name, record_id = record.get(spec.entity_field), record.get(spec.id_field)
    if target_name in (None, "") and record_id in (None, ""):
        return []
    target = snap.catalog.entities.get(str(target_name or ""))
    if target is None or target.child or (rc.access is not None and not rc.access.can(target, "read")):
        return [FieldError(spec.entity_field, "Must be the name of an entity.")]
    if record_id in (None, ""):
        return [FieldError(spec.id_field, f"Is required with {spec.entity_field}.")]
    if not rc.sees(conn, snap, target, str(record_id)):
        return [FieldError(spec.id_field, f"There is no {target.name} with this id.")]
    return []


def _params(params: Mapping[str, str], snap: Snapshot) -> tuple[int, int, set[str] | None]:
    unknown = set(params) - {"limit", "cursor", "entities"}
    if unknown:
        raise BadRequest(f"Unknown parameter(s): {', '.join(sorted(unknown))}")
    try:
        limit = int(params.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise BadRequest("limit must be a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    offset = 0
    if params.get("cursor"):
        try:
            text = params["cursor"]
            offset = int(json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))["o"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise BadRequest("The cursor is not valid; start again without it") from None
    wanted = {e.strip() for e in params["entities"].split(",") if e.strip()} if params.get("entities") else None
    return limit, offset, wanted


def _pointing_at(
    snap: Snapshot, source: EntityDef, table: sa.Table, entity: str, record_id: str, hidden: set[str]
) -> Any:
    """Rows of ``source`` on the timeline of ``entity/record_id``: the pair, or a ``via`` link;
    only those of them the reader may see (not ``hidden``), else an entry would give away the
    value of a field hidden from them. None when no way is left."""
    spec = source.timeline
    assert spec is not None
    conditions = []
    if not {spec.entity_field, spec.id_field} & hidden:
        conditions.append(sa.and_(table.c[spec.entity_field] == entity, table.c[spec.id_field] == record_id))
    for name in spec.via:
        fd = source.fields[name]
        if fd.target != entity or name in hidden:
            continue
        if fd.type == "links":
            join = snap.tables.entities[source.name].joins[name]
            conditions.append(table.c.id.in_(sa.select(join.c.source_id).where(join.c.target_id == record_id)))
        else:
            conditions.append(table.c[name] == record_id)
    return sa.or_(*conditions) if conditions else None


def timeline(records: Records, actor: Actor, entity_name: str, record_id: str, params: Mapping[str, str]) -> Page:
    """Entries of every timeline entity pointing at one record, newest first.

    Each entry is ``{"entity", "at", "record"}``; ``at`` is the entity's ``at`` field, or
    ``created_at`` where that is empty (or hidden from the caller)."""
    snap = records.ws.snapshot()
    entity = records._entity(snap, actor, entity_name)
    rc = records._rc(actor, snap)
    limit, offset, wanted = _params(params, snap)
    sources = [
        e
        for e in timeline_entities(snap.catalog)
        if (wanted is None or e.name in wanted) and (rc.access is None or rc.access.can(e, "read"))
    ]
    unknown = (wanted or set()) - {e.name for e in timeline_entities(snap.catalog)}
    if unknown:
        raise BadRequest(f"Not timeline entities: {', '.join(sorted(unknown))}")
    with records._reading() as conn:
        get_record(conn, snap, entity, record_id, ["id"], None, rc)  # 404 unless readable
        keys: list[tuple[Any, str, str]] = []  # (at, entity, id)
        for source in sources:
            table = snap.tables.main(source.name)
            spec = source.timeline
            assert spec is not None
            hidden = rc.hidden(source)
            at_field = spec.at if spec.at not in hidden else "created_at"  # the entry shows its `at`
            at = sa.func.coalesce(table.c[at_field], table.c.created_at).label("at")
            pointing = _pointing_at(snap, source, table, entity.name, record_id, hidden)
            if pointing is None:
                continue
            conditions = [pointing, table.c.deleted_at.is_(None)]
            visible = rc.predicate(snap, source, table)
            if visible is not None:
                conditions.append(visible)
            rows = conn.execute(
                sa.select(table.c.id, at)
                .where(*conditions)
                .order_by(at.desc(), table.c.id.desc())
                .limit(offset + limit + 1)
            )
            keys += [(_aware(r.at), source.name, r.id) for r in rows]
        keys.sort(key=lambda k: (k[0], k[2]), reverse=True)
        window = keys[offset : offset + limit]
        shaped = _records(conn, snap, window, rc)
    page = Page([{"entity": name, "at": to_json(at), "record": shaped[(name, i)]} for at, name, i in window])
    if len(keys) > offset + limit:
        payload = json.dumps({"o": offset + limit}).encode()
        page.next_cursor = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return page


def _aware(value: Any) -> Any:
    """SQLite gives coalesce() results as text or naive datetimes; compare them as aware UTC."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def _records(
    conn: Connection, snap: Snapshot, window: list[tuple[Any, str, str]], rc: Any
) -> dict[tuple[str, str], Any]:
    """The chosen entries as records, one query per entity."""
    by_entity: dict[str, list[str]] = {}
    for _, name, record_id in window:
        by_entity.setdefault(name, []).append(record_id)
    out = {}
    for name, ids in by_entity.items():
        source = snap.catalog.entities[name]
        table = snap.tables.main(name)
        page = list_records(conn, snap, source, ListQuery(limit=len(ids)), [table.c.id.in_(ids)], rc=rc)
        out.update({(name, r["id"]): r for r in page.data})
    return out
