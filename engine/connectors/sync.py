"""A pull run: fetch the changed rows, apply each through the data-access layer, count.

Each remote row becomes one ``Records.create`` or ``Records.update`` of the connector's
local entity, found by its external key (``local_key`` holds the remote ``remote_key``),
written as the connector's ``run_as`` user (the engine itself when empty): permissions,
validations (types, required fields, DSL rules), audit and automation apply as to any
write. Each row is its own transaction, so a bad row is never half-applied: it goes to the
dead-letter entity with the reason, and the run goes on. Replaying a page changes nothing
(the key finds the record, equal values write nothing).

Writes carry the actor source ``sync:NAME`` (:func:`origin`): the push side
(:mod:`engine.connectors.push`) never sends such a change back to where it came from.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from engine.actor import SYSTEM, Actor
from engine.connectors import kinds
from engine.connectors.mapping import MISSING, FieldMap, Mapping, dig, parse_mapping, remote_value
from engine.connectors.rest import RemoteError
from engine.connectors.store import Store, load_config, store_of, unopenable
from engine.errors import BadRequest, Conflict, DslError, NotFound, TesseraError
from engine.security.identity import load_actor
from engine.storage.database import read_transaction, write_transaction

log = logging.getLogger("tessera.connectors")

#: how many row reasons a run keeps in its ``errors`` text
KEEP_REASONS = 20


def origin(name: str) -> str:
    """The actor source of a connector's writes (what the push side recognises)."""
    return f"sync:{name}"


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    reasons: list[str] = field(default_factory=list)

    def status(self) -> str:
        if self.failed and not (self.created or self.updated or self.unchanged):
            return "failed"
        return "partial" if self.failed else "succeeded"


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.UTC)


def acting_user(ws: Any, values: dict[str, Any]) -> Actor:
    """The connector's ``run_as`` user with source ``sync:NAME``, else the engine itself."""
    source = origin(str(values["name"]))
    if values.get("run_as"):
        snap = ws.snapshot()
        with read_transaction(ws.db) as conn:
            who = load_actor(conn, snap, str(values["run_as"]), source=source)
        if who is None:
            raise Conflict(f"The connector's run-as user is inactive or gone; choose another for {values['name']!r}")
        return who
    return Actor(None, SYSTEM.roles, source)


def prepare(ws: Any, values: dict[str, Any]) -> tuple[Any, Mapping]:
    """The local entity and the compiled mapping of a connector (Conflict when they broke)."""
    snap = ws.snapshot()
    entity = snap.catalog.entities.get(str(values.get("entity")))
    if entity is None or entity.child:
        raise Conflict(f"The connector {values['name']!r} names no entity this workspace has: {values.get('entity')!r}")
    if values.get("local_key") not in entity.fields:
        raise Conflict(f"{entity.name} has no field {values.get('local_key')!r} for the connector's external key")
    try:
        return entity, parse_mapping(values.get("mapping"), entity, snap.catalog, snap.functions)
    except TesseraError as exc:
        raise Conflict(f"The connector {values['name']!r} has a broken mapping: {exc}") from None


def run_sync(
    ws: Any,
    name: str,
    trigger: str = "manual",
    full: bool = False,
    rows: list[Any] | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Pull (or, with ``rows``, import the given rows) and return the run's summary.

    A peer that cannot be reached ends the run ``failed`` with the reason (the summary's
    ``retry`` says whether trying later may help); ``full`` ignores the stored cursor."""
    store = store_of(ws.snapshot())
    values = load_config(ws, name)
    if not values.get("active"):
        raise Conflict(f"The connector {values['name']!r} is switched off")
    if rows is None and values.get("direction") == "push":
        raise Conflict(f"The connector {values['name']!r} only pushes; there is nothing to pull")
    entity, mapping = prepare(ws, values)
    cursor = None if full else values.get("cursor")
    run_id = _open_run(ws, store, values, trigger, cursor, _now(now))
    tally, next_cursor, error, retry = Tally(), cursor, None, False
    try:
        sealed = unopenable(values)
        if sealed:
            raise Conflict(sealed)
        if rows is None:
            kind = kinds().get(str(values.get("kind")))
            if kind is None:
                raise RemoteError(f"there is no connector kind {values.get('kind')!r}", retry=False)
            rows, next_cursor = _pull(kind, ws, values, cursor)
        who = acting_user(ws, values)
        for row in rows:
            _apply(ws, store, values, entity, mapping, who, row, run_id, tally, _now(now))
    except RemoteError as exc:
        error, retry = exc.message, exc.retry
    except Conflict as exc:
        error = exc.detail
    status = "failed" if error else tally.status()
    _close_run(ws, store, values, run_id, status, tally, next_cursor if not error else None, error, _now(now))
    log.info("sync %s (%s): %s, %s", values["name"], trigger, status, error or _counts(tally))
    return {
        "id": run_id,
        "name": values["name"],
        "status": status,
        "created": tally.created,
        "updated": tally.updated,
        "unchanged": tally.unchanged,
        "failed": tally.failed,
        "cursor": next_cursor if not error else cursor,
        "error": error,
        "retry": retry,
    }


def _pull(kind: Any, ws: Any, values: dict[str, Any], cursor: Any) -> tuple[list[Any], Any]:
    """The kind's pull; a plugin's unexpected exception fails the run (logged), not the request."""
    try:
        rows, next_cursor = kind.factory(ws, values).pull(cursor)
    except RemoteError:
        raise
    except Exception as exc:  # a plugin's bug: the run records it and a later try may succeed
        log.exception("connector kind %s failed while pulling for %s", kind.name, values["name"])
        raise RemoteError(f"the {kind.name} connector failed: {type(exc).__name__}") from None
    return list(rows or []), next_cursor


def _counts(tally: Tally) -> str:
    return f"{tally.created} created, {tally.updated} updated, {tally.unchanged} unchanged, {tally.failed} failed"


def _apply(
    ws: Any,
    store: Store,
    values: dict[str, Any],
    entity: Any,
    mapping: Mapping,
    who: Actor,
    row: Any,
    run_id: str,
    tally: Tally,
    now: dt.datetime,
) -> None:
    """One row: create or update its record in its own transaction, or dead-letter it."""
    remote_id = dig(row, str(values.get("remote_key") or "id"))
    try:
        if remote_id is None or remote_id == "":
            raise BadRequest(f"The row has no id at {values.get('remote_key') or 'id'!r}")
        remote_id = str(remote_id)
        local = local_values(ws, entity, mapping, who, row, now)
        key = str(values["local_key"])
        existing = find_by_key(ws, who, entity.name, key, remote_id)
        if existing is None:
            ws.records.create(who, entity.name, {**local, key: remote_id}, allow_duplicates=True)
            tally.created += 1
        else:
            after = ws.records.update(who, entity.name, existing["id"], local, allow_duplicates=True)
            if after.get("version") == existing.get("version"):
                tally.unchanged += 1
            else:
                tally.updated += 1
        resolve_failures(ws, store, values["id"], remote_id, now)
    except (TesseraError, DslError, ArithmeticError, TypeError, ValueError) as exc:
        tally.failed += 1
        reason = str(exc) if isinstance(exc, TesseraError) else f"the mapping could not convert the row: {exc}"
        if len(tally.reasons) < KEEP_REASONS:
            tally.reasons.append(f"{remote_id}: {reason}")
        dead_letter(ws, store, values["id"], run_id, None if remote_id is None else str(remote_id), row, reason, now)


def local_values(ws: Any, entity: Any, mapping: Mapping, who: Actor, row: Any, now: dt.datetime) -> dict[str, Any]:
    """The local field values a remote row gives (links looked up by their external key)."""
    out: dict[str, Any] = {}
    for fm in mapping.fields:
        value = remote_value(fm, row, now)
        if value is MISSING:
            continue
        if fm.link is not None and value not in (None, ""):
            value = _resolve_link(ws, entity, who, fm, value)
        out[fm.name] = value
    return out


def _resolve_link(ws: Any, entity: Any, who: Actor, fm: FieldMap, value: Any) -> str:
    fd = entity.fields[fm.name]
    target = str(fd.opt("to") or fd.type)  # user and team fields link to the user and team entities
    found = find_by_key(ws, who, target, str(fm.link), str(value))
    if found is None:
        raise NotFound(f"{fm.name}: there is no {target} with {fm.link} {value!r}")
    return str(found["id"])


def find_by_key(ws: Any, who: Actor, entity_name: str, key: str, value: str) -> dict[str, Any] | None:
    """The record whose ``key`` field equals ``value``, as ``who`` sees it (None: none)."""
    page = ws.records.list(who, entity_name, {key: value, "limit": "2"})
    if len(page.data) > 1:
        raise Conflict(f"Two {entity_name} records have {key} {value!r}; make the field unique")
    return page.data[0] if page.data else None


# --- bookkeeping: runs, dead letters, the connector's cursor -----------------------------------


def _open_run(ws: Any, store: Store, values: dict[str, Any], trigger: str, cursor: Any, now: dt.datetime) -> str:
    snap = ws.snapshot()
    with write_transaction(ws.db) as conn:
        run = ws.records._run(conn, snap, Actor(None, SYSTEM.roles, origin(values["name"])), now)
        data = {store.run_link: values["id"], "trigger": trigger, "status": "running", "started_at": now}
        if "cursor_before" in snap.catalog.entities[store.runs].fields:
            data["cursor_before"] = cursor
        return str(run.create(store.runs, data, origin(values["name"])))


def _close_run(
    ws: Any,
    store: Store,
    values: dict[str, Any],
    run_id: str,
    status: str,
    tally: Tally,
    cursor: Any,
    error: str | None,
    now: dt.datetime,
) -> None:
    snap = ws.snapshot()
    source = origin(values["name"])
    errors = "\n".join([*([error] if error else []), *tally.reasons]) or None
    with write_transaction(ws.db) as conn:
        run = ws.records._run(conn, snap, Actor(None, SYSTEM.roles, source), now)
        data: dict[str, Any] = {
            "status": status,
            "finished_at": now,
            "created": tally.created,
            "updated": tally.updated,
            "unchanged": tally.unchanged,
            "failed": tally.failed,
            "errors": errors[:100_000] if errors else None,
        }
        if cursor is not None and "cursor_after" in snap.catalog.entities[store.runs].fields:
            data["cursor_after"] = cursor
        run.update(store.runs, run_id, data, source)
        fields = snap.catalog.entities[store.configs].fields
        mark = {k: v for k, v in {"last_run_at": now, "last_status": status}.items() if k in fields}
        if cursor is not None and cursor != values.get("cursor") and "cursor" in fields:
            mark["cursor"] = cursor
        if mark:
            run.update(store.configs, values["id"], mark, source)


def dead_letter(
    ws: Any,
    store: Store,
    config_id: str,
    run_id: str | None,
    remote_id: str | None,
    payload: Any,
    reason: str,
    now: dt.datetime,
    direction: str = "pull",
    record_id: str | None = None,
) -> None:
    """Keep a row that could not be applied (or sent), with the reason; one open entry per row."""
    snap = ws.snapshot()
    table = snap.tables.main(store.failures)
    fields = snap.catalog.entities[store.failures].fields
    data: dict[str, Any] = {store.failure_link: config_id, "payload": payload, "reason": reason[:10_000]}
    if store.failure_run and run_id:
        data[store.failure_run] = run_id
    if remote_id is not None:
        data["remote_id"] = remote_id[:200]
    for key, value in (("direction", direction), ("record_id", record_id)):
        if key in fields and value is not None:
            data[key] = value
    with write_transaction(ws.db) as conn:
        run = ws.records._run(conn, snap, SYSTEM, now)
        link = getattr(table.c, store.failure_link)
        open_one = None
        if remote_id is not None:
            open_one = conn.execute(
                sa.select(table.c.id).where(
                    link == config_id,
                    table.c.remote_id == data.get("remote_id"),
                    table.c.resolved.is_(False),
                    table.c.deleted_at.is_(None),
                )
            ).scalar()
        if open_one is None:
            run.create(store.failures, data, "sync dead letter")
        else:
            run.update(store.failures, open_one, data, "sync dead letter")


def resolve_failures(ws: Any, store: Store, config_id: str, remote_id: str, now: dt.datetime) -> None:
    """A row that applied: its open dead letters are resolved."""
    snap = ws.snapshot()
    table = snap.tables.main(store.failures)
    link = getattr(table.c, store.failure_link)
    query = sa.select(table.c.id).where(
        link == config_id,
        table.c.remote_id == remote_id[:200],
        table.c.resolved.is_(False),
        table.c.deleted_at.is_(None),
    )
    with read_transaction(ws.db) as conn:
        if conn.execute(query.limit(1)).first() is None:
            return
    with write_transaction(ws.db) as conn:
        run = ws.records._run(conn, snap, SYSTEM, now)
        for failure_id in list(conn.execute(query).scalars()):
            run.update(store.failures, failure_id, {"resolved": True}, "sync resolved")
