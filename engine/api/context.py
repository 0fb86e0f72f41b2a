"""Request context: which workspace serves the request and who is calling.

Views call ``workspace()`` and ``actor()``; both are explicit functions over the current
request rather than module globals, so one process can serve several workspaces.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import current_app, g, request, session

from engine.actor import Actor
from engine.errors import AuthenticationRequired, BadRequest, PermissionDenied
from engine.security.api_keys import is_api_key, resolve_key
from engine.workspace import Workspace


def workspace() -> Workspace:
    ws = g.get("tessera_workspace")
    if ws is None:
        router = current_app.extensions["tessera"]
        ws = g.tessera_workspace = router.for_host(request.host)
    return ws


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def session_token() -> str | None:
    """The token of a browser session (signed cookie), after the CSRF check for writes.

    A cookie is sent by the browser whatever page triggered the request, so a request that
    changes something must also carry the session's CSRF token (header ``X-CSRF-Token`` or
    form field ``csrf_token``), which another site cannot read.
    """
    token = session.get("token")
    if not token:
        return None
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token")
        if not sent or not hmac.compare_digest(str(sent), str(session.get("csrf", ""))):
            raise PermissionDenied("The CSRF token is missing or wrong; reload the page")
    return str(token)


def csrf_token() -> str:
    """The session's CSRF token (made on first use), for forms and scripts."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def actor() -> Actor:
    cached = g.get("tessera_actor")
    if cached is not None:
        return cached
    token = bearer_token()
    if token is None:
        token = session_token()
    if token is None:
        raise AuthenticationRequired("Sign in first: POST /api/v1/auth/token, then send 'Authorization: Bearer TOKEN'")
    ws = workspace()
    if is_api_key(token):
        g.tessera_actor = resolve_key(ws, token, request.remote_addr or "")
    else:
        g.tessera_actor = ws.auth.resolve(token, request.remote_addr or "")
    return g.tessera_actor


def require_admin() -> Actor:
    who = actor()
    if not who.is_admin:
        raise PermissionDenied("Only administrators may do this")
    return who


def json_body() -> Any:
    """The request's JSON document; a clear 400 when it is missing or malformed."""
    if not request.is_json:
        raise BadRequest("Send a JSON body with 'Content-Type: application/json'")
    data = request.get_json(silent=True)
    if data is None and request.get_data(cache=True) != b"null":
        raise BadRequest("The body is not valid JSON")
    return data


def if_match() -> int | None:
    """The version an ``If-Match`` header names (a record's ETag), or None without one."""
    header = request.headers.get("If-Match")
    if header is None:
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise BadRequest('If-Match must be the record\'s ETag (its version), e.g. "3"')
    return int(tag)
