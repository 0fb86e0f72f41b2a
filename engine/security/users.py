"""Creating users and roles from the CLI and installation (``tessera init``, ``user add``)."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

import sqlalchemy as sa

from engine.actor import SYSTEM, Actor
from engine.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationError
from engine.security.auth import check_password_policy
from engine.storage.database import read_transaction, write_transaction

#: the demo roles of PACKS.md "Default grants"; ``admin`` may do everything
DEFAULT_ROLES = {
    "admin": "Administrator",
    "sales_rep": "Sales representative",
    "sales_manager": "Sales manager",
    "director": "Director",
    "presales": "Presales engineer",
    "support_agent": "Support agent",
    "support_lead": "Support lead",
    "technician": "Technician",
    "finance": "Finance",
    "executive": "Executive",
    "advertising_manager": "Advertising manager",
    "customer": "Portal customer",
}


def ensure_roles(ws: Any, names: dict[str, str] | None = None) -> dict[str, str]:
    """Create missing roles; return name -> id for all roles."""
    names = names or DEFAULT_ROLES
    existing = role_ids(ws)
    missing = [{"name": name, "label": label} for name, label in names.items() if name not in existing]
    if missing:
        existing.update({r["name"]: r["id"] for r in ws.records.bulk(SYSTEM, "role", missing)})
    return existing


def role_ids(ws: Any) -> dict[str, str]:
    table = ws.snapshot().tables.main("role")
    with read_transaction(ws.db) as conn:
        return dict(conn.execute(sa.select(table.c.name, table.c.id).where(table.c.deleted_at.is_(None))).all())


def find_user(ws: Any, email: str) -> dict[str, Any] | None:
    users = ws.snapshot().tables.main("user")
    with read_transaction(ws.db) as conn:
        user_id = conn.execute(
            sa.select(users.c.id).where(
                sa.func.lower(users.c.email) == email.strip().lower(), users.c.deleted_at.is_(None)
            )
        ).scalar()
    return None if user_id is None else ws.records.get(SYSTEM, "user", user_id)


def create_user(
    ws: Any, email: str, full_name: str, password: str | None, roles: list[str], actor: Actor = SYSTEM, **fields: Any
) -> dict[str, Any]:
    if find_user(ws, email) is not None:
        raise Conflict(f"A user with email {email} already exists", [FieldError("email", "Must be unique.")])
    if password is not None:
        check_password_policy(password)
    ids = role_ids(ws)
    unknown = [r for r in roles if r not in ids]
    if unknown:
        raise ValidationError(f"Unknown role(s): {', '.join(unknown)}", [FieldError("roles", "Unknown role.")])
    user = ws.records.create(
        actor, "user", {"email": email, "full_name": full_name, "roles": [ids[r] for r in roles], **fields}
    )
    if password is not None:
        set_password(ws, user["id"], password)
    return user


def set_password(ws: Any, user_id: str, password: str) -> None:
    with write_transaction(ws.db) as conn:
        ws.auth.set_password(conn, user_id, password)


def set_roles(ws: Any, email: str, roles: list[str]) -> dict[str, Any]:
    user = find_user(ws, email)
    if user is None:
        raise NotFound(f"No user with email {email}")
    ids = role_ids(ws)
    unknown = [r for r in roles if r not in ids]
    if unknown:
        raise ValidationError(f"Unknown role(s): {', '.join(unknown)}", [FieldError("roles", "Unknown role.")])
    return ws.records.update(SYSTEM, "user", user["id"], {"roles": [ids[r] for r in roles]})


def _role_values(ws: Any, roles: Any) -> list[str]:
    """Role names or ids, as ids (the API accepts either)."""
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise ValidationError("roles must be a list", [FieldError("roles", "Must be a list of role names or ids.")])
    ids = role_ids(ws)
    known_ids = set(ids.values())
    unknown = [r for r in roles if r not in ids and r not in known_ids]
    if unknown:
        raise ValidationError(f"Unknown role(s): {', '.join(unknown)}", [FieldError("roles", "Unknown role.")])
    return [str(ids.get(r, r)) for r in roles]


def user_from_api(ws: Any, actor: Actor, body: Any, user_id: str | None = None) -> dict[str, Any]:
    """``POST /api/v1/user`` and ``PATCH /api/v1/user/ID`` as SPEC section 8 has them:
    a ``password`` (never stored in the record, never returned) and ``roles`` by name."""
    if not actor.is_admin:
        raise PermissionDenied("Only administrators may change users")
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object", [FieldError("(body)", "Must be a JSON object.")])
    data = dict(body)
    password = data.pop("password", None)
    if password is not None:
        check_password_policy(password)
    if "roles" in data:
        data["roles"] = _role_values(ws, data["roles"])
    if user_id is None:
        user = ws.records.create(actor, "user", data)
    else:
        user = ws.records.update(actor, "user", user_id, data) if data else ws.records.get(actor, "user", user_id)
    if password is not None:
        set_password(ws, user["id"], password)
    return user


def change_own_password(ws: Any, actor: Actor, body: Any) -> None:
    if actor.user_id is None or not isinstance(body, dict):
        raise ValidationError("Send current and new password", [FieldError("(body)", "Must be a JSON object.")])
    user = ws.records.get(SYSTEM, "user", actor.user_id)
    ws.auth.verify_password(user["email"], body.get("current_password"))
    new = body.get("new_password")
    try:
        check_password_policy(new)
    except ValidationError as exc:
        raise ValidationError(exc.detail, [FieldError("new_password", e.message) for e in exc.errors]) from None
    set_password(ws, actor.user_id, str(new))


#: the fields of their own user record people may change themselves (when the user entity
#: has them): never roles, teams, manager, active or the address they sign in with
OWN_PROFILE_FIELDS = ("full_name", "locale", "timezone", "phone", "notify_email")
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def own_profile(ws: Any, actor: Actor) -> dict[str, Any]:
    """The signed-in user's record: email and the fields they may change themselves."""
    if actor.user_id is None:
        raise PermissionDenied("Only a signed-in user has a profile")
    user = ws.records.get(SYSTEM, "user", actor.user_id)
    fields = ws.snapshot().catalog.entities["user"].fields
    return {"id": user["id"], "email": user["email"], **{k: user.get(k) for k in OWN_PROFILE_FIELDS if k in fields}}


def update_own_profile(ws: Any, actor: Actor, body: Any) -> dict[str, Any]:
    """Change the signed-in user's own profile fields (``OWN_PROFILE_FIELDS``) and nothing
    else: the write runs with full rights but in the user's name, so the audit shows who."""
    if actor.user_id is None or actor.impersonator is not None:
        raise PermissionDenied("Only the user themself can change their profile")
    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object", [FieldError("(body)", "Must be a JSON object.")])
    fields = ws.snapshot().catalog.entities["user"].fields
    allowed = [k for k in OWN_PROFILE_FIELDS if k in fields]
    errors = [FieldError(k, "You cannot change this field yourself.") for k in body if k not in allowed]
    locale = body.get("locale")
    if "locale" in body and not (isinstance(locale, str) and _LOCALE.match(locale)):
        errors.append(FieldError("locale", "A language tag such as en, de or pt-BR."))
    zone = body.get("timezone")
    if "timezone" in body and not (isinstance(zone, str) and zone in zoneinfo.available_timezones()):
        errors.append(FieldError("timezone", "An IANA time zone such as Europe/Berlin."))
    if errors:
        raise ValidationError("Some profile fields cannot be changed", errors)
    if not body:
        return own_profile(ws, actor)
    as_self = Actor(actor.user_id, frozenset({"admin"}), actor.source or "profile", actor.locale)
    ws.records.update(as_self, "user", actor.user_id, dict(body))
    ws.auth.forget_user(actor.user_id)  # the next request sees the new language
    return own_profile(ws, actor)
