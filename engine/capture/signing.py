"""Signing secrets of inbound hooks, and the check of a signed request.

A hook's sender signs each request as Tessera signs its own outgoing webhooks
(``engine.automation.delivery``): ``X-Tessera-Signature: sha256=HEX``, the HMAC-SHA256 of
``TIMESTAMP.BODY`` under the hook's secret, with the Unix time in ``X-Tessera-Timestamp``.
Requests older (or newer) than five minutes are refused, so a captured request cannot be
replayed later. The secret is one an administrator set (stored encrypted like ``secret``
fields), else the environment variable the hook's ``secret_env`` names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
import time
from typing import Any

import sqlalchemy as sa

from engine.actor import Actor
from engine.capture.definitions import Capture
from engine.errors import AuthenticationRequired, BadRequest, Unavailable
from engine.storage import system_tables as st
from engine.storage.database import read_transaction, write_transaction
from engine.storage.encryption import Unopenable
from engine.storage.writing import record_audit

log = logging.getLogger("tessera.security")

#: seconds a signed request stays valid either side of the server's clock
TOLERANCE = 300
MIN_SECRET = 16


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=HEX`` of ``TIMESTAMP.BODY`` (what a sender computes)."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def hook_secret(ws: Any, capture: Capture) -> str | None:
    """The secret an administrator set, else the one in ``secret_env``, else None."""
    with read_transaction(ws.db) as conn:
        stored = conn.execute(sa.select(st.hook_secret.c.secret).where(st.hook_secret.c.name == capture.name)).scalar()
    if stored is not None:
        try:
            return str(ws.records.cipher.open(stored))
        except Unopenable as exc:  # the sender cannot mend this: say "later", tell the administrator why
            log.warning(
                "the signing secret of the hook %r cannot be opened (%s): set the TESSERA_SECRET_KEY it was sealed"
                " under in TESSERA_SECRET_KEY_PREVIOUS, or set the hook's secret again",
                capture.name,
                exc,
            )
            raise Unavailable(f"The hook {capture.name!r} cannot check signatures now; try again later") from None
    return os.environ.get(capture.secret_env) if capture.secret_env else None


def verify(ws: Any, capture: Capture, timestamp: str, signature: str, body: bytes, now: float | None = None) -> None:
    """Refuse (401) a request whose signature (``X-Tessera-Signature``) or timestamp
    (``X-Tessera-Timestamp``) does not hold."""
    secret = hook_secret(ws, capture)
    if not secret:
        raise AuthenticationRequired(f"The hook {capture.name!r} has no signing secret yet; an administrator sets one")
    if not timestamp.isdigit() or not signature:
        raise AuthenticationRequired("Sign the request: X-Tessera-Timestamp and X-Tessera-Signature headers")
    if abs((now if now is not None else time.time()) - int(timestamp)) > TOLERANCE:
        raise AuthenticationRequired("The request's timestamp is too old or too far ahead; sign it again")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        raise AuthenticationRequired("The signature does not match the body and the hook's secret")


def set_secret(ws: Any, actor: Actor, capture: Capture, secret: str | None) -> str:
    """Store (encrypted) the hook's secret, generating one when none is given; audited."""
    if secret is None:
        secret = secrets.token_urlsafe(32)
    if not isinstance(secret, str) or len(secret) < MIN_SECRET:
        raise BadRequest(f"A hook secret needs at least {MIN_SECRET} characters (or send none to get one)")
    now = dt.datetime.now(dt.UTC)
    table = st.hook_secret
    with write_transaction(ws.db) as conn:
        conn.execute(table.delete().where(table.c.name == capture.name))
        conn.execute(
            table.insert(),
            {"name": capture.name, "secret": ws.records.cipher.seal(secret), "set_at": now, "set_by": actor.user_id},
        )
        record_audit(conn, actor, "tessera_hook", capture.name, "set_secret", None, now)
    return secret


def remove_secret(ws: Any, actor: Actor, capture: Capture) -> None:
    now = dt.datetime.now(dt.UTC)
    with write_transaction(ws.db) as conn:
        conn.execute(st.hook_secret.delete().where(st.hook_secret.c.name == capture.name))
        record_audit(conn, actor, "tessera_hook", capture.name, "remove_secret", None, now)
