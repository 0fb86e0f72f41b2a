"""The web interface (Flask blueprint, Jinja2 templates). It grows with the UI issue; for
now: sign-in and sign-out with a browser session, and a home page pointing to the API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, redirect, render_template, request, session, url_for

from engine.api.context import actor, csrf_token, workspace
from engine.errors import AuthenticationRequired, PermissionDenied, RateLimited, ValidationError

bp = Blueprint("ui", __name__, template_folder="templates", static_folder="static", static_url_path="/static")


def _signed_in() -> bool:
    try:
        actor()
        return True
    except (AuthenticationRequired, PermissionDenied):
        session.pop("token", None)
        return False


@bp.get("/")
def home() -> Any:
    if not _signed_in():
        return redirect(url_for("ui.login"))
    catalog = workspace().records.catalog_for(actor())
    return render_template(
        "landing.html", entities=catalog.api_entities(), packs=catalog.packs, csrf_token=csrf_token(), who=actor()
    )


@bp.get("/login")
def login() -> Any:
    return render_template("login.html", csrf_token=csrf_token(), error=None)


@bp.post("/login")
def login_submit() -> Any:
    form = request.form
    if not form.get("csrf_token") or form.get("csrf_token") != session.get("csrf"):
        return render_template("login.html", csrf_token=csrf_token(), error="The form expired; try again."), 400
    try:
        from flask import current_app

        current_app.extensions["tessera.sign_in_throttle"].hit("sign-in", request.remote_addr or "?")
        token, _expires = workspace().auth.issue_token(
            form.get("email"), form.get("password"), request.remote_addr or "", form.get("otp") or None
        )
    except (AuthenticationRequired, ValidationError, RateLimited) as exc:
        status = 429 if isinstance(exc, RateLimited) else 401
        return render_template("login.html", csrf_token=csrf_token(), error=exc.detail), status
    session.clear()  # a new session on sign-in: no fixation
    session["token"] = token
    csrf_token()
    return redirect(url_for("ui.home"))


@bp.post("/logout")
def logout() -> Any:
    token = session.get("token")
    if token and request.form.get("csrf_token") == session.get("csrf"):
        workspace().auth.revoke(str(token))
        session.clear()
    return redirect(url_for("ui.login"))


def register_ui(app: Flask) -> None:
    app.register_blueprint(bp)
