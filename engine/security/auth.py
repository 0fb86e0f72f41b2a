"""Passwords (argon2) and bearer tokens.

Users are records of the engine's ``user`` entity; their password hashes live apart, in
``tessera_credential``, so no generic read path can ever return one. Tokens are random
strings shown once; only their SHA-256 is stored, so a copy of the database does not
hold usable tokens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from dataclasses import replace
from functools import cache
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from engine.actor import Actor
from engine.errors import AuthenticationRequired, FieldError, PermissionDenied, RateLimited, ValidationError
from engine.security.identity import load_actor
from engine.security.throttle import Throttle
from engine.security.totp import use_code
from engine.storage import system_tables as st
from engine.storage.database import read_transaction, write_transaction
from engine.storage.ids import new_id
from engine.storage.writing import record_audit

_HASHERS = {"strong": PasswordHasher(), "fast": PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)}
MIN_PASSWORD = 10
#: seconds a resolved token stays cached in this process (revocation elsewhere lags by this)
TOKEN_CACHE_SECONDS = 5.0


def check_password_policy(password: Any) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValidationError(
            "The password is too weak", [FieldError("password", f"Must be at least {MIN_PASSWORD} characters.")]
        )
    if password.isdigit() or (password.lower() == password and password.isalpha()):
        raise ValidationError(
            "The password is too weak", [FieldError("password", "Mix letters with digits, capitals or symbols.")]
        )


def hash_password(password: str, profile: str = "strong") -> str:
    return _HASHERS[profile].hash(password)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Authenticator:
    """Signs users in and resolves bearer tokens to ``Actor`` values for one workspace."""

    def __init__(self, workspace: Any, ttl_seconds: int):
        self.ws = workspace
        self.ttl = ttl_seconds
        self.profile = workspace.config.password_hashing
        self.hasher = _HASHERS[self.profile]
        self.lockout = Throttle(workspace.config.login_lockout, workspace.config.redis_url)
        self._cache: dict[str, tuple[float, Actor, dt.datetime]] = {}
        self._lock = threading.Lock()

    def set_password(self, conn: sa.Connection, user_id: str, password: str) -> None:
        check_password_policy(password)
        c = st.credential
        now = dt.datetime.now(dt.UTC)
        values = {"password_hash": self.hasher.hash(password), "changed_at": now}
        if conn.execute(c.update().where(c.c.user_id == user_id).values(**values)).rowcount == 0:
            conn.execute(c.insert().values(user_id=user_id, **values))  # a second factor stays as it is

    def _user_table(self) -> sa.Table:
        return self.ws.snapshot().tables.main("user")

    def _actor(self, conn: sa.Connection, user_id: str, source: str) -> Actor | None:
        return load_actor(conn, self.ws.snapshot(), user_id, source)

    def issue_token(self, email: Any, password: Any, source: str = "", otp: Any = None) -> tuple[str, dt.datetime]:
        """A bearer token for a correct email and password.

        Every attempt is audited; repeated failures lock the account for a while
        (``Config.login_lockout``), whatever address they come from.
        """
        if not isinstance(email, str) or not isinstance(password, str):
            raise ValidationError(
                "email and password are required",
                [FieldError("email", "Is required."), FieldError("password", "Is required.")],
            )
        key = email.strip().lower()
        if self.lockout.locked("login", key):
            raise RateLimited("This account is locked for a while after repeated failed sign-ins", retry_after=300)
        users = self._user_table()
        token = secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC)
        expires = now + dt.timedelta(seconds=self.ttl)
        with write_transaction(self.ws.db) as conn:
            user = conn.execute(
                sa.select(users.c.id, users.c.active).where(
                    sa.func.lower(users.c.email) == key, users.c.deleted_at.is_(None)
                )
            ).first()
            stored, credential = None, None
            if user is not None:
                credential = conn.execute(sa.select(st.credential).where(st.credential.c.user_id == user.id)).first()
                stored = credential.password_hash if credential is not None else None
            try:  # the same cost whether or not the user exists
                self.hasher.verify(stored or _dummy_hash(self.profile), password)
                ok = user is not None and stored is not None and bool(user.active)
            except (VerificationError, InvalidHashError):
                ok = False
            needs_code = ok and credential is not None and bool(credential.totp_enabled)
            if needs_code and otp is None:  # right password: ask for the second factor, count nothing
                raise AuthenticationRequired("A one-time code is required", [FieldError("otp", "Is required.")])
            if needs_code and credential is not None:
                ok = use_code(conn, self.ws.records.cipher, credential, otp)
            who = Actor(user.id if user is not None else None, source=source)
            record_audit(
                conn,
                who,
                "auth",
                user.id if user is not None else new_id(),
                "login" if ok else "login_failed",
                {"email": [None, key]},
                now,
            )
            if ok and user is not None:
                conn.execute(
                    st.token.insert(),
                    {"token_hash": _digest(token), "user_id": user.id, "created_at": now, "expires_at": expires},
                )
        if not ok:
            self.lockout.hit("login", key)
            raise AuthenticationRequired("Unknown email or wrong password")
        return token, expires

    def issue_token_for(self, user_id: str, source: str, how: str) -> tuple[str, dt.datetime]:
        """A token for a user the caller has already authenticated (single sign-on)."""
        token = secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC)
        expires = now + dt.timedelta(seconds=self.ttl)
        with write_transaction(self.ws.db) as conn:
            if self._actor(conn, user_id, source) is None:
                raise AuthenticationRequired("The user is inactive")
            conn.execute(
                st.token.insert(),
                {"token_hash": _digest(token), "user_id": user_id, "created_at": now, "expires_at": expires},
            )
            record_audit(conn, Actor(user_id, source=source), "auth", user_id, how, None, now)
        return token, expires

    def impersonate(self, admin: Actor, user_id: Any) -> tuple[str, dt.datetime]:
        """A short-lived token acting as ``user_id``; every change made with it names the admin."""
        if not admin.is_admin or admin.user_id is None:
            raise PermissionDenied("Only administrators may act as another user")
        if admin.impersonator is not None:
            raise PermissionDenied("Stop impersonating before impersonating someone else")
        token = secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC)
        expires = now + dt.timedelta(hours=1)
        with write_transaction(self.ws.db) as conn:
            if not isinstance(user_id, str) or self._actor(conn, user_id, admin.source) is None:
                raise ValidationError("No such active user", [FieldError("user", "Not an active user.")])
            conn.execute(
                st.token.insert(),
                {
                    "token_hash": _digest(token),
                    "user_id": user_id,
                    "created_at": now,
                    "expires_at": expires,
                    "impersonator": admin.user_id,
                },
            )
            record_audit(conn, admin, "auth", user_id, "impersonate", None, now)
        return token, expires

    def verify_password(self, email: str, password: Any) -> None:
        """Raise unless ``password`` is the current password of ``email`` (no token issued)."""
        users = self._user_table()
        with read_transaction(self.ws.db) as conn:
            user_id = conn.execute(sa.select(users.c.id).where(sa.func.lower(users.c.email) == email.lower())).scalar()
            stored = (
                conn.execute(
                    sa.select(st.credential.c.password_hash).where(st.credential.c.user_id == user_id)
                ).scalar()
                if user_id
                else None
            )
        try:
            self.hasher.verify(stored or _dummy_hash(self.profile), password if isinstance(password, str) else "")
        except (VerificationError, InvalidHashError):
            raise ValidationError(
                "The current password is wrong", [FieldError("current_password", "Wrong password.")]
            ) from None
        if stored is None:
            raise ValidationError("The current password is wrong", [FieldError("current_password", "Wrong password.")])

    def resolve(self, token: str, source: str = "") -> Actor:
        digest = _digest(token)
        now_mono = time.monotonic()
        cached = self._cache.get(digest)
        if cached and now_mono - cached[0] < TOKEN_CACHE_SECONDS and cached[2] > dt.datetime.now(dt.UTC):
            actor = cached[1]
            return actor if actor.source == source else replace(actor, source=source)
        t = st.token
        with read_transaction(self.ws.db) as conn:
            row = conn.execute(sa.select(t).where(t.c.token_hash == digest)).first()
            if row is None or row.revoked_at is not None or row.expires_at <= dt.datetime.now(dt.UTC):
                raise AuthenticationRequired("The token is unknown, expired or revoked")
            found = self._actor(conn, row.user_id, source)
        if found is None:
            raise AuthenticationRequired("The user is inactive")
        actor = replace(found, impersonator=row.impersonator) if row.impersonator else found
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now_mono, actor, row.expires_at)
        return actor

    def forget_user(self, user_id: str) -> None:
        """Drop this process's cached actors of a user (their profile or rights changed);
        other processes see the change when their cache entries expire."""
        with self._lock:
            for digest in [d for d, (_, cached, _) in self._cache.items() if cached.user_id == user_id]:
                del self._cache[digest]

    def revoke(self, token: str) -> None:
        digest = _digest(token)
        with self._lock:
            self._cache.pop(digest, None)
        with write_transaction(self.ws.db) as conn:
            conn.execute(
                st.token.update()
                .where(st.token.c.token_hash == digest, st.token.c.revoked_at.is_(None))
                .values(revoked_at=dt.datetime.now(dt.UTC))
            )


@cache
def _dummy_hash(profile: str) -> str:
    return hash_password(secrets.token_urlsafe(16), profile)
