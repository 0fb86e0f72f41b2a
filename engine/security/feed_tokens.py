"""The secret token in the address of a user's iCalendar feed (``engine.calendar_feed``).

Calendar programs (Outlook, Google Calendar, Apple Calendar) subscribe to a plain URL and
cannot send a bearer token, so the URL itself carries one: a random token per user that
reads that user's calendar and nothing else. It is found by its SHA-256 hash and kept
sealed like ``secret`` fields, so the settings page can show it again; making a new one
(``issue``) or ``revoke`` ends the old address at once. A token sealed under another key (a
restore under another ``TESSERA_SECRET_KEY``) still works but cannot be shown: ``current``
gives its date without it, and a new address replaces it. A token of an inactive or deleted
user, or an unknown one, is a plain 404: the answer never tells whether a user exists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from typing import Any

import sqlalchemy as sa

from engine.actor import Actor
from engine.errors import NotFound, PermissionDenied
from engine.security.identity import load_actor
from engine.storage import system_tables as st
from engine.storage.database import read_transaction, write_transaction
from engine.storage.encryption import Unopenable
from engine.storage.writing import record_audit

PREFIX = "tcf_"
#: what the audit log names these tokens
AUDIT_ENTITY = "calendar_feed"
UNKNOWN = "No such calendar feed"
log = logging.getLogger("tessera.security")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _owner(who: Actor) -> str:
    if who.user_id is None or who.impersonator is not None:
        raise PermissionDenied("Only the user themself can see or change their calendar feed")
    return who.user_id


def current(ws: Any, who: Actor) -> dict[str, Any] | None:
    """The caller's token and when it was made, or None before they have one."""
    user_id = _owner(who)
    with read_transaction(ws.db) as conn:
        row = conn.execute(sa.select(st.calendar_feed).where(st.calendar_feed.c.user_id == user_id)).first()
    if row is None:
        return None
    try:
        token: str | None = ws.records.cipher.open(row.token)
    except Unopenable as exc:  # the address still works (found by its hash): it cannot be shown again
        log.warning("the calendar feed token of user %s cannot be opened (%s): it is not shown", user_id, exc)
        token = None
    return {"token": token, "created_at": row.created_at}


def issue(ws: Any, who: Actor) -> dict[str, Any]:
    """A new token for the caller; the previous one, if any, stops working."""
    user_id = _owner(who)
    token = PREFIX + secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC)
    feeds = st.calendar_feed
    with write_transaction(ws.db) as conn:
        conn.execute(feeds.delete().where(feeds.c.user_id == user_id))
        conn.execute(
            feeds.insert(),
            {
                "user_id": user_id,
                "token_hash": _digest(token),
                "token": ws.records.cipher.seal(token),
                "created_at": now,
            },
        )
        record_audit(conn, who, AUDIT_ENTITY, user_id, "create", None, now)
    return {"token": token, "created_at": now}


def revoke(ws: Any, who: Actor) -> None:
    """End the caller's feed address (nothing to do without one)."""
    user_id = _owner(who)
    now = dt.datetime.now(dt.UTC)
    with write_transaction(ws.db) as conn:
        gone = conn.execute(st.calendar_feed.delete().where(st.calendar_feed.c.user_id == user_id)).rowcount
        if gone:
            record_audit(conn, who, AUDIT_ENTITY, user_id, "revoke", None, now)


def resolve(ws: Any, token: str, source: str = "calendar feed") -> Actor:
    """The user a feed token reads as (NotFound for anything but a live token of an active user)."""
    if not token.startswith(PREFIX) or len(token) > 100:
        raise NotFound(UNKNOWN)
    with read_transaction(ws.db) as conn:
        user_id = conn.execute(
            sa.select(st.calendar_feed.c.user_id).where(st.calendar_feed.c.token_hash == _digest(token))
        ).scalar()
        who = load_actor(conn, ws.snapshot(), user_id, source) if user_id else None
    if who is None:
        raise NotFound(UNKNOWN)
    return who
