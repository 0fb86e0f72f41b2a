"""Users as SPEC section 8 has them: passwords and role names on the generic ``user`` API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from engine.api.context import actor, json_body, workspace
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


@bp.post("/auth/password")
def change_password() -> Any:
    change_own_password(workspace(), actor(), json_body())
    return Response(status=204)
