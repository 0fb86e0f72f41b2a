"""Searching the audit trail (administrators): who did what, when, from where."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from engine.actor import Actor
from engine.errors import BadRequest, PermissionDenied
from engine.storage import system_tables as st
from engine.storage.codec import to_json
from engine.storage.database import read_transaction
from engine.storage.ids import is_id

#: the furthest page an offset reaches (narrow the search with since/until instead)
MAX_OFFSET = 1_000_000
FILTERS = ("entity", "record_id", "actor", "action", "since", "until", "limit", "offset")


def _time(params: Mapping[str, str], name: str) -> dt.datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 datetime") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def search_audit(ws: Any, actor: Actor, params: Mapping[str, str]) -> dict[str, Any]:
    if not actor.is_admin:
        raise PermissionDenied("Only administrators may search the audit trail")
    unknown = set(params) - set(FILTERS)
    if unknown:
        raise BadRequest(f"Unknown parameter(s): {', '.join(sorted(unknown))}; use {', '.join(FILTERS)}")
    if any("\x00" in value for value in params.values()):
        raise BadRequest("Parameters may not contain NUL characters")
    a = st.audit
    conditions = []
    for name in ("entity", "action"):
        if params.get(name):
            conditions.append(a.c[name] == params[name])
    for name in ("record_id", "actor"):
        if params.get(name):
            if not is_id(params[name]):
                raise BadRequest(f"{name} must be a record id")
            conditions.append(a.c[name] == params[name])
    since, until = _time(params, "since"), _time(params, "until")
    if since:
        conditions.append(a.c.at >= since)
    if until:
        conditions.append(a.c.at < until)
    try:
        limit = min(int(params.get("limit", 100)), 1000)
        offset = int(params.get("offset", 0))
        if limit < 1 or not 0 <= offset <= MAX_OFFSET:
            raise ValueError
    except ValueError:
        raise BadRequest(f"limit must be 1 to 1000 and offset 0 to {MAX_OFFSET}") from None
    with read_transaction(ws.db) as conn:
        rows = conn.execute(
            sa.select(a).where(*conditions).order_by(a.c.at.desc(), a.c.id.desc()).limit(limit).offset(offset)
        ).all()
    return {
        "data": [
            {
                "id": r.id,
                "at": to_json(r.at),
                "actor": r.actor,
                "impersonator": r.impersonator,
                "action": r.action,
                "entity": r.entity,
                "record_id": r.record_id,
                "changes": r.changes or {},
                "source": r.source,
            }
            for r in rows
        ]
    }
