"""The shell: sign-in and sign-out, the home page, global search, notifications, profile."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, session, url_for

from engine import dashboards
from engine.api.context import actor, csrf_token, workspace
from engine.api.notifications import ENTITY as NOTIFICATION
from engine.errors import AuthenticationRequired, BadRequest, PermissionDenied, RateLimited, ValidationError
from engine.security.users import change_own_password
from ui.dashboards import dashboard
from ui.pages import bp, catalog, form_ok, render_page, safe_target, signed_in
from ui.search import search_records
from ui.settings import profile_page


def _safe_next(target: str | None) -> str:
    return safe_target(target, url_for("ui.home"))


@bp.get("/")
@signed_in
def home() -> Any:
    """The user's home dashboard (by role), with links to everything else below it."""
    ws, who = workspace(), actor()
    mine = dashboards.home(ws, who)
    if mine is not None and not request.args.get("menu"):
        return dashboard(mine.name)
    return render_page("home.html", dashboards=dashboards.visible(ws, who))


@bp.get("/login")
def login() -> Any:
    return render_template("login.html", csrf_token=csrf_token(), error=None, next=request.args.get("next", ""))


@bp.post("/login")
def login_submit() -> Any:
    form = request.form
    target = form.get("next") or ""
    if not form_ok():
        page = render_template("login.html", csrf_token=csrf_token(), error="The form expired; try again.", next=target)
        return page, 400
    try:
        current_app.extensions["tessera.sign_in_throttle"].hit("sign-in", request.remote_addr or "?")
        token, _expires = workspace().auth.issue_token(
            form.get("email"), form.get("password"), request.remote_addr or "", form.get("otp") or None
        )
    except (AuthenticationRequired, ValidationError, RateLimited) as exc:
        status = 429 if isinstance(exc, RateLimited) else 401
        return render_template("login.html", csrf_token=csrf_token(), error=exc.detail, next=target), status
    session.clear()  # a new session on sign-in: no fixation
    session["token"] = token
    csrf_token()
    return redirect(_safe_next(target))


@bp.post("/logout")
def logout() -> Any:
    token = session.get("token")
    if token and form_ok():
        workspace().auth.revoke(str(token))
        session.clear()
    return redirect(url_for("ui.login"))


@bp.get("/app/search")
@signed_in
def search() -> Any:
    query = request.args.get("q", "").strip()
    groups = search_records(workspace(), actor(), catalog(), query) if query else []
    return render_page("search.html", query=query, groups=groups)


@bp.get("/app/notifications")
@signed_in
def notifications() -> Any:
    ws, who = workspace(), actor()
    items: list[dict[str, Any]] = []
    if NOTIFICATION in catalog().entities:
        items = ws.records.list(
            who, NOTIFICATION, {"user": who.user_id or "", "sort": "-created_at", "limit": "50"}
        ).data
    return render_page("notifications.html", items=items)


@bp.post("/app/notifications/read")
@signed_in
def notifications_read() -> Any:
    if not form_ok():
        raise BadRequest("The form expired; reload the page and try again.")
    ws, who = workspace(), actor()
    ids = request.form.getlist("id")
    unread = ws.records.list(who, NOTIFICATION, {"user": who.user_id or "", "read_at": "null", "limit": "500"}).data
    now = ws.records.clock().isoformat()
    for item in unread:
        if not ids or item["id"] in ids:
            ws.records.update(who, NOTIFICATION, item["id"], {"read_at": now})
    return redirect(url_for("ui.notifications"))


@bp.get("/app/profile")
@signed_in
def profile() -> Any:
    return profile_page()


@bp.post("/app/profile/password")
@signed_in
def change_password() -> Any:
    if not form_ok():
        raise BadRequest("The form expired; reload the page and try again.")
    form = request.form
    if form.get("new_password") != form.get("repeat_password"):
        return profile_page(422, error="The two new passwords differ.")
    try:
        body = {"current_password": form.get("current_password"), "new_password": form.get("new_password")}
        change_own_password(workspace(), actor(), body)
    except (ValidationError, AuthenticationRequired, PermissionDenied) as exc:
        return profile_page(422, error=exc.detail)
    flash("Your password was changed.", "success")
    return redirect(url_for("ui.profile"))
