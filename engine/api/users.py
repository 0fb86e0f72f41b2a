"""Users as SPEC section 8 has them: passwords and role names on the generic ``user`` API,
and an administrator's reset of a user's second factor."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from engine.api.context import actor, json_body, workspace
from engine.security import links, totp
from engine.security.users import change_own_password, user_from_api

bp = Blueprint("users", __name__, url_prefix="/api/v1")


@bp.post("/user")
def create_user() -> Any:
    response = jsonify(user_from_api(workspace(), actor(), json_body()))
    response.status_code = 201
    return response


@bp.patch("/user/<user_id>")
def update_user(user_id: str) -> Any:
    return jsonify(user_from_api(workspace(), actor(), json_body(), user_id))


@bp.delete("/user/<user_id>/totp")
def reset_totp(user_id: str) -> Any:
    """An administrator switches a user's second factor off (a lost authenticator)."""
    totp.reset(workspace(), actor(), user_id)
    return Response(status=204)


@bp.post("/auth/invitations")
def invite() -> Any:
    response = jsonify(links.invite(workspace(), actor(), json_body(), _base_url()))
    response.status_code = 201
    return response


@bp.post("/auth/invitations/accept")
def accept_invitation() -> Any:
    links.redeem(workspace(), "invitation", json_body())
    return Response(status=204)


@bp.post("/auth/password-reset")
def request_password_reset() -> Any:
    current_app.extensions["tessera.sign_in_throttle"].hit("reset", request.remote_addr or "?")
    links.request_reset(workspace(), json_body(), _base_url(), request.remote_addr or "")
    return Response(status=202)  # the same answer whether or not the address has an account


@bp.post("/auth/password-reset/confirm")
def confirm_password_reset() -> Any:
    links.redeem(workspace(), "password_reset", json_body())
    return Response(status=204)


@bp.post("/auth/password")
def change_password() -> Any:
    change_own_password(workspace(), actor(), json_body())
    return Response(status=204)


def _base_url() -> str:
    """Where the links in invitation and reset e-mails point: the configured public address
    (``TESSERA_PUBLIC_URL``), else the address this request came in at."""
    return workspace().config.public_url or request.url_root
