"""Sign-in for API clients: bearer tokens."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from engine.actor import SYSTEM
from engine.api.context import actor, bearer_token, json_body, workspace
from engine.errors import BadRequest
from engine.security import api_keys, totp

bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


@bp.post("/token")
def token() -> Any:
    body = json_body()
    if not isinstance(body, dict) or set(body) - {"email", "password", "otp"}:
        raise BadRequest('Send {"email": ..., "password": ..., "otp": ... (with a second factor)}')
    current_app.extensions["tessera.sign_in_throttle"].hit("sign-in", request.remote_addr or "?")
    value, expires = workspace().auth.issue_token(
        body.get("email"), body.get("password"), request.remote_addr or "", body.get("otp")
    )
    return jsonify({"token": value, "expires_at": expires.isoformat()})


@bp.post("/logout")
def logout() -> Any:
    actor()
    workspace().auth.revoke(bearer_token() or "")
    return Response(status=204)


@bp.post("/keys")
def create_key() -> Any:
    response = jsonify(api_keys.create_key(workspace(), actor(), json_body()))
    response.status_code = 201
    return response


@bp.get("/keys")
def list_keys() -> Any:
    return jsonify({"data": api_keys.list_keys(workspace(), actor())})


@bp.delete("/keys/<key_id>")
def revoke_key(key_id: str) -> Any:
    api_keys.revoke_key(workspace(), actor(), key_id)
    return Response(status=204)


@bp.post("/impersonate")
def impersonate() -> Any:
    body = json_body()
    if not isinstance(body, dict) or set(body) != {"user"}:
        raise BadRequest('Send {"user": USER_ID}')
    value, expires = workspace().auth.impersonate(actor(), body["user"])
    return jsonify({"token": value, "expires_at": expires.isoformat(), "user": body["user"]})


@bp.post("/totp")
def totp_start() -> Any:
    who = actor()
    user = workspace().records.get(SYSTEM, "user", who.user_id or "")
    return jsonify(totp.start(workspace(), who, user["email"]))


@bp.post("/totp/confirm")
def totp_confirm() -> Any:
    totp.confirm(workspace(), actor(), json_body())
    return Response(status=204)


@bp.delete("/totp")
def totp_disable() -> Any:
    totp.disable(workspace(), actor(), json_body())
    return Response(status=204)


@bp.get("/me")
def me() -> Any:
    who = actor()
    user = workspace().records.get(SYSTEM, "user", who.user_id or "")
    return jsonify({**user, "role_names": sorted(who.roles), "impersonator": who.impersonator})
