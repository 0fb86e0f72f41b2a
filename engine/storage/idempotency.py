"""Idempotency keys: a create retried with the same ``Idempotency-Key`` answers with the
record the first request made, and a key reused for a different request is refused."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.errors import FieldError, ValidationError
from engine.storage import system_tables as st


def request_hash(entity: str, data: Any) -> str:
    """What identifies a request body: the entity and the submitted data, canonically."""
    return hashlib.sha256(json.dumps([entity, data], sort_keys=True, default=str).encode()).hexdigest()


def replayed(conn: Connection, actor: Actor, entity: str, key: str, digest: str) -> tuple[str, str] | None:
    """``(entity, record id)`` of the earlier request with this key by this principal, if any."""
    i = st.idempotency
    row = conn.execute(sa.select(i).where(i.c.key == key, i.c.principal == actor.principal)).first()
    if row is None:
        return None
    if row.entity != entity or row.request_hash != digest:
        raise ValidationError(
            "This Idempotency-Key was already used for a different request",
            [FieldError("Idempotency-Key", "Reused with a different request body.")],
        )
    return row.entity, row.record_id


def remember(
    conn: Connection, actor: Actor, key: str, entity: str, record_id: str, digest: str, now: dt.datetime
) -> None:
    """Record the key in the creating transaction (a concurrent twin then fails on the key)."""
    conn.execute(
        st.idempotency.insert(),
        {
            "key": key,
            "principal": actor.principal,
            "entity": entity,
            "record_id": record_id,
            "request_hash": digest,
            "created_at": now,
        },
    )
