"""Single sign-on routes: ``/api/v1/auth/oidc/login`` and ``/api/v1/auth/oidc/callback``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, request, url_for

from engine.api.context import workspace
from engine.errors import NotFound
from engine.security.oidc import OidcClient, provision, settings_from_config

bp = Blueprint("oidc", __name__, url_prefix="/api/v1/auth/oidc")


def _client() -> OidcClient:
    client = current_app.extensions.get("tessera.oidc")
    if client is None:
        settings = settings_from_config(workspace().config)
        if settings is None:
            raise NotFound("Single sign-on is not configured")
        client = current_app.extensions["tessera.oidc"] = OidcClient(settings, current_app.config["SECRET_KEY"])
    return client


@bp.get("/login")
def login() -> Any:
    return redirect(_client().authorization_url(url_for("oidc.callback", _external=True)))


@bp.get("/callback")
def callback() -> Any:
    client = _client()
    claims = client.claims(request.args.get("code"), request.args.get("state"))
    ws = workspace()
    user_id = provision(ws, client.settings, claims)
    token, expires = ws.auth.issue_token_for(user_id, request.remote_addr or "", "login_sso")
    return jsonify({"token": token, "expires_at": expires.isoformat()})
