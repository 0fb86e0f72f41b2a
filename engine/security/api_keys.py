"""Long-lived API keys for integrations: shown once, stored hashed, scoped to roles.

A key acts as the user who created it, with at most the roles named on the key (and
never more than the user holds when the key is used), until it expires or is revoked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from engine.actor import Actor
from engine.errors import AuthenticationRequired, BadRequest, FieldError, NotFound, PermissionDenied, ValidationError
from engine.security.identity import load_actor
from engine.storage import system_tables as st
from engine.storage.database import read_transaction, write_transaction
from engine.storage.ids import new_id
from engine.storage.writing import record_audit

PREFIX = "tsk_"


def is_api_key(token: str) -> bool:
    return token.startswith(PREFIX)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "user": row.user_id,
        "roles": row.roles,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at and row.expires_at.isoformat(),
        "revoked_at": row.revoked_at and row.revoked_at.isoformat(),
        "last_used_at": row.last_used_at and row.last_used_at.isoformat(),
    }


def create_key(ws: Any, actor: Actor, body: Any) -> dict[str, Any]:
    if actor.user_id is None:
        raise BadRequest("API keys belong to a user; sign in as one")
    if actor.impersonator is not None:  # a support session is not made into lasting access
        raise PermissionDenied("Only the user themself can create API keys, not an impersonation session")
    if not isinstance(body, dict) or set(body) - {"name", "roles", "expires_at"}:
        raise BadRequest('Send {"name": ..., "roles": [...] (optional), "expires_at": ISO datetime (optional)}')
    name, roles, expires = body.get("name"), body.get("roles"), body.get("expires_at")
    errors = []
    if not isinstance(name, str) or not 1 <= len(name) <= 120:
        errors.append(FieldError("name", "Must be 1 to 120 characters."))
    if roles is not None and (
        not isinstance(roles, list) or not all(isinstance(r, str) for r in roles) or not set(roles) <= actor.roles
    ):
        errors.append(FieldError("roles", f"Must be a list of your own roles: {', '.join(sorted(actor.roles))}."))
    expires_at = None
    if expires is not None:
        try:
            expires_at = dt.datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
            if expires_at.tzinfo is None or expires_at <= dt.datetime.now(dt.UTC):
                raise ValueError
            expires_at = expires_at.astimezone(dt.UTC)  # OverflowError past the year 9999 in UTC
        except (ValueError, OverflowError):
            errors.append(FieldError("expires_at", "Must be a future ISO 8601 datetime with offset."))
    if errors:
        raise ValidationError("The API key is not valid", errors)
    if roles is None and actor.limited:
        roles = sorted(actor.roles)  # never more roles than the key that makes it
    key = PREFIX + secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC)
    key_id = new_id()
    with write_transaction(ws.db) as conn:
        conn.execute(
            st.api_key.insert(),
            {
                "id": key_id,
                "name": name,
                "key_hash": _digest(key),
                "prefix": key[:12],
                "user_id": actor.user_id,
                "roles": sorted(set(roles)) if roles is not None else None,
                "created_at": now,
                "created_by": actor.user_id,
                "expires_at": expires_at,
            },
        )
        record_audit(conn, actor, "api_key", key_id, "create", {"name": [None, name], "roles": [None, roles]}, now)
        row = conn.execute(sa.select(st.api_key).where(st.api_key.c.id == key_id)).one()
    return {**_public(row), "key": key}  # the only time the key is shown


def list_keys(ws: Any, actor: Actor) -> list[dict[str, Any]]:
    k = st.api_key
    query = sa.select(k).order_by(k.c.created_at.desc())
    if not actor.is_admin:
        query = query.where(k.c.user_id == actor.user_id)
    with read_transaction(ws.db) as conn:
        return [_public(row) for row in conn.execute(query)]


def revoke_key(ws: Any, actor: Actor, key_id: str) -> None:
    k = st.api_key
    now = dt.datetime.now(dt.UTC)
    with write_transaction(ws.db) as conn:
        row = conn.execute(sa.select(k).where(k.c.id == key_id)).first()
        if row is None or (row.user_id != actor.user_id and not actor.is_admin):
            raise NotFound(f"No API key {key_id!r}")
        conn.execute(k.update().where(k.c.id == key_id, k.c.revoked_at.is_(None)).values(revoked_at=now))
        record_audit(conn, actor, "api_key", key_id, "revoke", None, now)


def resolve_key(ws: Any, key: str, source: str) -> Actor:
    k = st.api_key
    now = dt.datetime.now(dt.UTC)
    with read_transaction(ws.db) as conn:
        row = conn.execute(sa.select(k).where(k.c.key_hash == _digest(key))).first()
        if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
            raise AuthenticationRequired("The API key is unknown, expired or revoked")
        actor = load_actor(conn, ws.snapshot(), row.user_id, source)
    if actor is None:
        raise AuthenticationRequired("The key's user is inactive")
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        with write_transaction(ws.db) as conn:  # at most once a minute: reads stay reads
            conn.execute(k.update().where(k.c.id == row.id).values(last_used_at=now))
    if row.roles is not None:
        actor = replace(actor, roles=actor.roles & frozenset(row.roles), limited=True)
    return actor
