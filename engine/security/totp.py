"""Optional second factor: time-based one-time codes (TOTP, RFC 6238, with pyotp).

Enrolment is two steps so nobody locks themselves out: ``start`` returns a new secret
(and the otpauth:// URI for authenticator apps), ``confirm`` with a valid code switches it
on. The secret is stored encrypted, like ``secret`` fields. Someone who lost their
authenticator cannot turn it off themself: an administrator ``reset``s it (audited), and
they sign in with their password alone until they set it up again.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from collections.abc import Iterable
from typing import Any

import pyotp
import sqlalchemy as sa

from engine.actor import Actor
from engine.errors import BadRequest, FieldError, NotFound, PermissionDenied, ValidationError
from engine.storage import system_tables as st
from engine.storage.database import read_transaction, write_transaction
from engine.storage.writing import record_audit

ISSUER = "Tessera"
log = logging.getLogger("tessera.security")


def totp_step(cipher: Any, sealed: str | None, code: Any, after: int | None = None) -> int | None:
    """The time step ``code`` is the code of (the current one, or the one before or after it
    for clock drift), if it is later than ``after`` (the step of the last code used: a code
    signs in once); None when it is no such code. A secret that does not open (sealed under
    another TESSERA_SECRET_KEY, e.g. after a restore) matches no code: the check fails, with
    a log line saying why, rather than the sign-in failing with an error."""
    if not sealed or not isinstance(code, str) or not code.isdigit():
        return None
    try:
        secret = cipher.open(sealed)
    except ValueError as exc:
        log.warning(
            "a TOTP secret cannot be opened (%s): no code can match it; set the TESSERA_SECRET_KEY it was made"
            " under (or add it to TESSERA_SECRET_KEY_PREVIOUS)",
            exc,
        )
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(dt.datetime.now(dt.UTC))
    for step in (now - 1, now, now + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def totp_matches(cipher: Any, sealed: str | None, code: Any) -> bool:
    """Whether ``code`` is a current code of the sealed secret (setting up, switching off)."""
    return totp_step(cipher, sealed, code) is not None


def use_code(conn: sa.Connection, cipher: Any, credential: Any, code: Any) -> bool:
    """Sign-in: whether ``code`` is good for ``credential`` and was not used before; its step
    is recorded, once (of two sign-ins racing with one code, one wins)."""
    step = totp_step(cipher, credential.totp_secret, code, credential.totp_step)
    if step is None:
        return False
    c = st.credential.c
    newer = sa.or_(c.totp_step.is_(None), c.totp_step < step)
    used = conn.execute(st.credential.update().where(c.user_id == credential.user_id, newer).values(totp_step=step))
    return used.rowcount == 1


def _credential(conn: sa.Connection, actor: Actor) -> Any:
    if actor.user_id is None or actor.impersonator is not None:
        raise BadRequest("Only the user themself can change their second factor")
    row = conn.execute(sa.select(st.credential).where(st.credential.c.user_id == actor.user_id)).first()
    if row is None:
        raise BadRequest("Set a password first")
    return row


def _code(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        raise BadRequest('Send {"code": "123456"}')
    return body["code"]


def start(ws: Any, actor: Actor, email: str) -> dict[str, str]:
    secret = pyotp.random_base32()
    with write_transaction(ws.db) as conn:
        row = _credential(conn, actor)
        if row.totp_enabled:
            raise BadRequest("A second factor is already on; turn it off first")
        conn.execute(
            st.credential.update()
            .where(st.credential.c.user_id == actor.user_id)
            .values(totp_secret=ws.records.cipher.seal(secret), totp_step=None)
        )
    return {"secret": secret, "otpauth_uri": pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)}


def confirm(ws: Any, actor: Actor, body: Any) -> None:
    code = _code(body)
    with write_transaction(ws.db) as conn:
        row = _credential(conn, actor)
        if not totp_matches(ws.records.cipher, row.totp_secret, code):
            raise ValidationError("The code does not match", [FieldError("code", "Wrong or expired code.")])
        conn.execute(st.credential.update().where(st.credential.c.user_id == actor.user_id).values(totp_enabled=True))


def disable(ws: Any, actor: Actor, body: Any) -> None:
    code = _code(body)
    with write_transaction(ws.db) as conn:
        row = _credential(conn, actor)
        if not row.totp_enabled or not totp_matches(ws.records.cipher, row.totp_secret, code):
            raise ValidationError("The code does not match", [FieldError("code", "Wrong or expired code.")])
        conn.execute(
            st.credential.update()
            .where(st.credential.c.user_id == actor.user_id)
            .values(totp_enabled=False, totp_secret=None, totp_step=None)
        )


def is_enabled(ws: Any, actor: Actor) -> bool:
    """Whether the user's second factor is on (the profile page shows it)."""
    if actor.user_id is None:
        return False
    with read_transaction(ws.db) as conn:
        on = conn.execute(
            sa.select(st.credential.c.totp_enabled).where(st.credential.c.user_id == actor.user_id)
        ).scalar()
    return bool(on)


def _admin(actor: Actor) -> None:
    """Administrators only, and never through an impersonation token (whoever acts as an
    administrator must not switch off someone's second factor in their name)."""
    if not actor.is_admin:
        raise PermissionDenied("Only administrators may reset a second factor")
    if actor.impersonator is not None:
        raise PermissionDenied("Stop impersonating before resetting a second factor")


def enabled_users(ws: Any, actor: Actor, user_ids: Iterable[str]) -> set[str]:
    """Which of ``user_ids`` have their second factor on (the administrators' users page;
    reading it is fine through an impersonation token, resetting it is not)."""
    if not actor.is_admin:
        raise PermissionDenied("Only administrators may see whose second factor is on")
    wanted = list(user_ids)
    if not wanted:
        return set()
    with read_transaction(ws.db) as conn:
        rows = conn.execute(
            sa.select(st.credential.c.user_id).where(st.credential.c.user_id.in_(wanted), st.credential.c.totp_enabled)
        ).scalars()
        return set(rows)


def reset(ws: Any, actor: Actor, user_id: str) -> None:
    """Switch a user's second factor off without a code, for someone who lost their
    authenticator or whose secret no longer opens (restored under another
    TESSERA_SECRET_KEY). A pending, unconfirmed secret goes too. Administrators only;
    ``tessera user reset-totp`` acts as SYSTEM, for an administrator locked out themself."""
    _admin(actor)
    users = ws.snapshot().tables.main("user")
    now = dt.datetime.now(dt.UTC)
    with write_transaction(ws.db) as conn:
        email = conn.execute(
            sa.select(users.c.email).where(users.c.id == user_id, users.c.deleted_at.is_(None))
        ).scalar()
        if email is None:
            raise NotFound(f"No user with id {user_id!r}")
        row = conn.execute(sa.select(st.credential).where(st.credential.c.user_id == user_id)).first()
        if row is None or (not row.totp_enabled and row.totp_secret is None):
            raise BadRequest(f"{email} has no second factor to reset")
        conn.execute(
            st.credential.update()
            .where(st.credential.c.user_id == user_id)
            .values(totp_enabled=False, totp_secret=None, totp_step=None)
        )
        record_audit(conn, actor, "auth", user_id, "totp_reset", None, now)
    log.info("the second factor of %s (user %s) was reset by %s", email, user_id, actor.user_id or actor.source)
