"""Invitations and password resets: single-use, expiring links sent by e-mail.

A link carries a random token; only its SHA-256 is stored, with its purpose, user and
expiry, and it is marked used by the first successful redemption. The e-mail itself is
written to the transactional outbox in the same transaction (the automation issue adds
the dispatcher that sends it). Asking for a reset answers the same whether or not the
address exists, so the endpoint does not reveal who has an account.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

import sqlalchemy as sa

from engine.actor import SYSTEM, Actor
from engine.errors import BadRequest, FieldError, ValidationError
from engine.security.auth import check_password_policy
from engine.security.users import user_from_api
from engine.storage import system_tables as st
from engine.storage.database import write_transaction
from engine.storage.ids import new_id
from engine.storage.writing import record_audit

LIFETIMES = {"invitation": dt.timedelta(days=7), "password_reset": dt.timedelta(hours=1)}
# e-mail subjects (bandit reads "password" in a key as a credential)
SUBJECTS = {"invitation": "You are invited to Tessera", "password_reset": "Reset your Tessera password"}  # nosec B105


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue(conn: sa.Connection, purpose: str, user_id: str, email: str, base_url: str, now: dt.datetime) -> None:
    token = secrets.token_urlsafe(32)
    conn.execute(
        st.action_token.insert(),
        {
            "token_hash": _digest(token),
            "purpose": purpose,
            "user_id": user_id,
            "created_at": now,
            "expires_at": now + LIFETIMES[purpose],
        },
    )
    path = "invite" if purpose == "invitation" else "reset-password"
    conn.execute(
        st.outbox.insert(),
        {
            "id": new_id(),
            "channel": "email",
            "state": "pending",
            "attempts": 0,
            "created_at": now,
            "payload": {
                "to": email,
                "subject": SUBJECTS[purpose],
                "template": purpose,
                "link": f"{base_url.rstrip('/')}/{path}/{token}",
                "expires_at": (now + LIFETIMES[purpose]).isoformat(),
            },
        },
    )


def invite(ws: Any, actor: Actor, body: Any, base_url: str) -> dict[str, Any]:
    """Create the user without a password and e-mail them a link to choose one (admins)."""
    if not isinstance(body, dict) or not isinstance(body.get("email"), str):
        raise BadRequest('Send {"email": ..., "full_name": ..., "roles": [...]}')
    if "password" in body:
        raise BadRequest("An invited user chooses their own password")
    body = {"full_name": body["email"].split("@")[0], **body}
    user = user_from_api(ws, actor, body)
    now = dt.datetime.now(dt.UTC)
    with write_transaction(ws.db) as conn:
        _issue(conn, "invitation", user["id"], user["email"], base_url, now)
        record_audit(conn, actor, "auth", user["id"], "invite", {"email": [None, user["email"]]}, now)
    return user


def request_reset(ws: Any, body: Any, base_url: str, source: str) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("email"), str):
        raise BadRequest('Send {"email": ...}')
    email = body["email"].strip().lower()
    users = ws.snapshot().tables.main("user")
    now = dt.datetime.now(dt.UTC)
    with write_transaction(ws.db) as conn:
        user = conn.execute(
            sa.select(users.c.id, users.c.email).where(
                sa.func.lower(users.c.email) == email, users.c.deleted_at.is_(None), users.c.active.is_(True)
            )
        ).first()
        if user is not None:
            _issue(conn, "password_reset", user.id, user.email, base_url, now)
            record_audit(conn, Actor(None, source=source), "auth", user.id, "password_reset_requested", None, now)


def redeem(ws: Any, purpose: str, body: Any) -> None:
    """Set the password chosen through a link; the link works once, before it expires."""
    if not isinstance(body, dict) or not isinstance(body.get("token"), str):
        raise BadRequest('Send {"token": ..., "password": ...}')
    check_password_policy(body.get("password"))
    t = st.action_token
    now = dt.datetime.now(dt.UTC)
    with write_transaction(ws.db) as conn:
        used = conn.execute(
            t.update()
            .where(
                t.c.token_hash == _digest(body["token"]),
                t.c.purpose == purpose,
                t.c.used_at.is_(None),
                t.c.expires_at > now,
            )
            .values(used_at=now)
            .returning(t.c.user_id)
        ).first()
        if used is None:
            raise ValidationError("The link is invalid, used or expired", [FieldError("token", "Ask for a new link.")])
        ws.auth.set_password(conn, used.user_id, body["password"])
        record_audit(conn, SYSTEM, "auth", used.user_id, f"{purpose}_redeemed", None, now)
