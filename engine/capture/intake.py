"""One submission of a form or hook, written through the data-access layer.

The writer is the engine itself (``actor.SYSTEM`` with the form or hook and the client
address as its ``source``, which the audit trail records). What the submitter learns is
the same whatever happened (created, merged into an existing record, dropped as a
duplicate or as a bot): a public endpoint must not tell strangers which e-mail addresses
the CRM knows. Only invalid input is answered differently, with the fields to correct.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.actor import SYSTEM, Actor
from engine.capture.definitions import Capture
from engine.errors import FieldError, ValidationError
from engine.storage import writing as w
from engine.storage.database import write_transaction
from engine.storage.duplicates import DuplicateGuard, DuplicateOptions, DuplicateRecord
from engine.storage.evaluation import RecordLoader, make_env

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def dig(payload: Any, path: str) -> Any:
    """The value at ``visitor.email`` or ``messages[0].text`` in a JSON document, or None."""
    value = payload
    for name, index in _STEP.findall(path):
        if name:
            value = value.get(name) if isinstance(value, dict) else None
        else:
            value = value[int(index)] if isinstance(value, list) and int(index) < len(value) else None
        if value is None:
            return None
    return value


def submitted_values(capture: Capture, data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields a submission fills: accepted keys only, blank text counted as empty."""
    if capture.kind == "hook":
        raw = {name: dig(data, path) for name, path in capture.paths.items()}
    else:
        raw = {name: data.get(name) for name in capture.fields}
    values = {k: (v.strip() if isinstance(v, str) else v) for k, v in raw.items()}
    return {k: v for k, v in values.items() if v not in (None, "", [])}


def is_bot(capture: Capture, data: Mapping[str, Any]) -> bool:
    """A honeypot is a field people never see; whatever fills it is a bot."""
    if capture.honeypot is None:
        return False
    value = data.get(capture.honeypot)
    return value not in (None, "", [], False)


def submit(ws: Any, capture: Capture, data: Mapping[str, Any], client: str) -> str:
    """Write one submission; returns what happened: created, updated, skipped or dropped."""
    if is_bot(capture, data):
        return "dropped"
    records = ws.records
    snap = ws.snapshot()
    entity = snap.catalog.entities[capture.entity]
    values = submitted_values(capture, data)
    missing = [FieldError(name, "Is required.") for name in capture.required if name not in values]
    if missing:
        raise ValidationError("Some required fields are empty", missing)
    values = {**capture.defaults, **values, **capture.values}
    actor = dataclasses.replace(SYSTEM, source=f"{capture.kind}:{capture.name} {client}"[:255])
    loaded = records._load(snap, entity, values, actor)  # 422 with the fields to correct

    def write(conn: Connection) -> str:
        now = records.clock()
        match = _existing(conn, records, snap, actor, entity, capture, loaded, now)
        if match is not None and capture.on_duplicate != "create":
            return _on_duplicate(conn, records, snap, actor, entity, capture, loaded, match, now)
        options = DuplicateOptions(allow=match is not None)  # "create": write it anyway (audited)
        records._insert(conn, snap, actor, entity, dict(loaded), now, duplicates=options)
        return "created"

    try:
        return str(records._write(entity, write))
    except DuplicateRecord as exc:  # a block rule outside dedupe.rules: a duplicate all the same
        first = next((m for d in exc.extensions["duplicates"] for m in d["matches"]), None)
        if first is not None:
            with_conn(ws, lambda conn: _audit_duplicate(conn, actor, first["entity"], first["id"], capture, records))
        return "skipped"


def with_conn(ws: Any, fn: Any) -> None:
    with write_transaction(ws.db) as conn:
        fn(conn)


def _existing(
    conn: Connection,
    records: Any,
    snap: Any,
    actor: Actor,
    entity: Any,
    capture: Capture,
    values: dict[str, Any],
    now: Any,
) -> tuple[str, str] | None:
    """The (entity, id) of the oldest live record the submission duplicates, if any."""
    if capture.match is not None:
        table = snap.tables.main(entity.name)
        loader = RecordLoader(conn, snap)
        env = make_env(loader, actor, now, {})
        env.vars = {"input": dict(values)}
        rc = records._rc(actor, snap)
        condition = capture.match.to_sql(snap.tables, dataclasses.replace(rc.sql, outer=env), table)
        row = conn.execute(
            sa.select(table.c.id).where(condition, table.c.deleted_at.is_(None)).order_by(table.c.created_at).limit(1)
        ).first()
        if row is not None:
            return entity.name, str(row.id)
    guard = DuplicateGuard(conn, snap, actor, entity, now, lambda: records._rc(actor, snap))
    record = dict(values)
    w.apply_defaults(entity, record, snap.catalog)  # as the record would be written: `when` may read them
    for rule in entity.duplicates:
        if (capture.rules is not None and rule.name not in capture.rules) or not guard.applies(rule, record):
            continue
        matches = guard.find(rule, record)
        if matches:
            return matches[0].entity, matches[0].id
    return None


def _on_duplicate(
    conn: Connection,
    records: Any,
    snap: Any,
    actor: Actor,
    entity: Any,
    capture: Capture,
    values: dict[str, Any],
    match: tuple[str, str],
    now: Any,
) -> str:
    """``skip``: note the attempt on the existing record; ``update``: also fill its empty
    fields from the submission (only when it is a record of the form's entity)."""
    target, record_id = match
    outcome = "skipped"
    if capture.on_duplicate == "update" and target == entity.name:
        table = snap.tables.main(entity.name)
        current = conn.execute(sa.select(table).where(table.c.id == record_id)).first()
        empty = {
            k: v
            for k, v in values.items()
            if current is not None and k in table.c and current._mapping[k] in (None, "") and k != "owner"
        }
        if empty:
            records._apply_update(conn, snap, actor, entity, record_id, empty, None, now)
            outcome = "updated"
    _audit_duplicate(conn, actor, target, record_id, capture, records)
    return outcome


def _audit_duplicate(
    conn: Connection, actor: Actor, entity: str, record_id: str, capture: Capture, records: Any
) -> None:
    """The record's history shows that someone submitted it again."""
    w.record_audit(
        conn, actor, entity, record_id, "capture_duplicate", {capture.kind: [None, capture.name]}, records.clock()
    )
