"""Delivering a queued push: the ``connector_push`` outbox channel.

The outbox row (written in the transaction of the local change, see
:mod:`engine.connectors.component`) names the connector and the record. Delivery reads the
record as it is *now* (a later change supersedes an earlier one, so sending the current
values is idempotent), builds the body from the mapping's ``push.fields`` and creates or
updates the remote row. A created row's remote id is stored in the record's external-key
field, written with the connector's own actor source, so that write is not pushed again.

408, 429, 5xx and no answer are retried by the outbox with backoff; any other refusal fails
the row at once and lands in the dead-letter entity (direction ``push``) with the body that
was refused. Credentials are never part of an error.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.actor import SYSTEM, Actor
from engine.automation.channels import Delivery, register_channel
from engine.connectors import kinds
from engine.connectors.component import CHANNEL
from engine.connectors.mapping import put
from engine.connectors.store import load_config, store_of, unopenable
from engine.connectors.sync import dead_letter, origin, prepare
from engine.errors import NotFound, TesseraError
from engine.storage.codec import to_json
from engine.storage.database import write_transaction


def body_of(record: dict[str, Any], pairs: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The remote body: each remote path gets its local field's JSON value."""
    body: dict[str, Any] = {}
    for remote, local in pairs:
        put(body, remote, to_json(record.get(local)))
    return body


def deliver_push(ws: Any, row: dict[str, Any]) -> Delivery:
    """The channel: push one record's current values to the connector's peer."""
    payload = row.get("payload") or {}
    now = dt.datetime.now(dt.UTC)
    try:
        values = load_config(ws, str(payload.get("config")))
    except NotFound:
        return Delivery(True, note="the connector was deleted; nothing sent")
    if not values.get("active") or values.get("direction") not in ("push", "both"):
        return Delivery(True, note="the connector no longer pushes; nothing sent")
    sealed = unopenable(values)
    if sealed:
        return Delivery(False, error=sealed, retry=False)
    try:
        entity, mapping = prepare(ws, values)
        record = ws.records.get(SYSTEM, entity.name, str(payload.get("record_id")))
    except NotFound:
        return Delivery(True, note="the record is gone; nothing sent")
    except TesseraError as exc:
        return Delivery(False, error=exc.detail, retry=False)
    if not mapping.push:
        return Delivery(True, note="the mapping has no push fields; nothing sent")
    key = str(values["local_key"])
    item = {
        "remote_id": record.get(key),
        "body": body_of(record, mapping.push),
        "create": mapping.create_method,
        "update": mapping.update_method,
        "resource": mapping.push_resource,
        "id_path": mapping.push_id_path,
    }
    kind = kinds().get(str(values.get("kind")))
    if kind is None:
        return Delivery(False, error=f"there is no connector kind {values.get('kind')!r}", retry=False)
    result = kind.factory(ws, values).push([item])[0]
    if not result.ok:
        if not result.retry:
            dead_letter(
                ws,
                store_of(ws.snapshot()),
                values["id"],
                None,
                None if item["remote_id"] is None else str(item["remote_id"]),
                item["body"],
                str(result.error),
                now,
                direction="push",
                record_id=record["id"],
            )
        return Delivery(False, error=result.error, retry=result.retry)
    if not record.get(key) and result.remote_id:
        _store_remote_id(ws, values, entity.name, record["id"], key, result.remote_id, now)
    return Delivery(True, note=f"sent to {values['name']}" + (f" as {result.remote_id}" if result.remote_id else ""))


def _store_remote_id(
    ws: Any, values: dict[str, Any], entity: str, record_id: str, key: str, remote_id: str, now: dt.datetime
) -> None:
    """Remember the peer's id for the record, as the connector (so it is not pushed again)."""
    source = origin(str(values["name"]))
    with write_transaction(ws.db) as conn:
        run = ws.records._run(conn, ws.snapshot(), Actor(None, SYSTEM.roles, source), now)
        run.update(entity, record_id, {key: remote_id}, source)


register_channel(CHANNEL, deliver_push)
