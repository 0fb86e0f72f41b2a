"""The first-run setup wizard, ``/setup``: company name, the first administrator, the packs
this installation runs, and sample data or an empty start (then import).

It exists only while the workspace has no users at all (``tessera init`` without an admin,
or a fresh ``tessera serve``); once the administrator is created the page is gone (404),
so nobody can run it again to make themselves an administrator. It reuses what
``tessera init`` and ``tessera demo`` use: ``ensure_roles``, ``create_user``, ``load_seed``.
Sample data names its people (``@user:sales.rep@demo.tessera.dev`` ...): the wizard creates
them as inactive users without a password, so the records have owners but nobody can sign
in as them.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for

from engine.actor import SYSTEM
from engine.api.context import csrf_token, workspace
from engine.demo import demo_logins
from engine.errors import Conflict, TesseraError, ValidationError
from engine.security.auth import check_password_policy
from engine.security.users import DEFAULT_ROLES, create_user, ensure_roles, find_user
from engine.seed import load_seed
from engine.storage.derivation import label_text
from ui.pages import bp, form_ok

#: the singleton whose ``company_name`` the wizard sets (when an installed pack defines it)
SETTINGS = "crm_setting"


def setup_open(ws: Any) -> bool:
    """The wizard runs only while no user exists (not even an inactive one)."""
    return not ws.records.list(SYSTEM, "user", {"limit": "1"}).data


def _page(status: int = 200, errors: dict[str, str] | None = None, error: str | None = None) -> Any:
    ws = workspace()
    packs = [
        (p.name, label_text(p.label) if p.label else p.name.replace("_", " ").title(), p.version)
        for p in ws.snapshot().catalog.packs
        if p.name != "system"  # the engine's own users, teams and roles
    ]
    has_seed = any((p.root / "seed").is_dir() for p in ws.packs)
    context = {
        "csrf_token": csrf_token(),
        "packs": packs,
        "has_seed": has_seed,
        "has_settings": SETTINGS in ws.snapshot().catalog.entities,
        "errors": errors or {},
        "error": error,
        "form": request.form,
    }
    return render_template("setup/wizard.html", **context), status


@bp.get("/setup")
def setup() -> Any:
    if not setup_open(workspace()):
        abort(404)
    return _page()


def _checked_form() -> dict[str, str]:
    form = request.form
    errors: dict[str, str] = {}
    if not (form.get("company") or "").strip():
        errors["company"] = "Enter your company's name."
    if not (form.get("full_name") or "").strip():
        errors["full_name"] = "Enter the administrator's name."
    if "@" not in (form.get("email") or ""):
        errors["email"] = "Enter an e-mail address."
    try:
        check_password_policy(form.get("password"))
    except ValidationError as exc:
        errors["password"] = exc.errors[0].message if exc.errors else exc.detail
    if not errors.get("password") and form.get("password") != form.get("repeat_password"):
        errors["repeat_password"] = "The two passwords differ."  # nosec B105 - a message, not a password
    if form.get("data") not in ("sample", "empty"):
        errors["data"] = "Choose sample data or an empty start."
    return errors


def _sample_people(ws: Any) -> None:
    """The people sample data names, inactive and without a password."""
    for email, _password, role in demo_logins():
        if find_user(ws, email) is None:
            create_user(ws, email, f"Sample {DEFAULT_ROLES[role]}", None, [role], active=False)


def _company(ws: Any, name: str) -> None:
    if SETTINGS not in ws.snapshot().catalog.entities:
        return
    existing = ws.records.list(SYSTEM, SETTINGS, {"sort": "created_at", "limit": "1"}).data
    if existing:
        ws.records.update(SYSTEM, SETTINGS, existing[0]["id"], {"company_name": name})
    else:
        ws.records.create(SYSTEM, SETTINGS, {"company_name": name})


@bp.post("/setup")
def setup_submit() -> Any:
    ws = workspace()
    if not setup_open(ws):
        abort(404)
    if not form_ok():
        return _page(400, error="The form expired; try again.")
    errors = _checked_form()
    if errors:
        return _page(422, errors=errors)
    form = request.form
    ensure_roles(ws)
    try:
        admin = create_user(ws, form["email"].strip(), form["full_name"].strip(), form["password"], ["admin"])
    except (ValidationError, Conflict) as exc:
        fields = {e.field: e.message for e in exc.errors} or {"email": exc.detail}
        return _page(422, errors=fields)
    try:
        if form["data"] == "sample":
            _sample_people(ws)
            load_seed(ws)
        _company(ws, form["company"].strip())
    except TesseraError as exc:  # the administrator exists: sign in and fix it from there
        current_app.logger.warning("setup: %s", exc.detail)
        flash(f"Your administrator account is ready, but setting up the data failed: {exc.detail}", "error")
    token, _expires = ws.auth.issue_token_for(admin["id"], request.remote_addr or "", "setup")
    session.clear()  # a new session: the administrator is signed in
    session["token"] = token
    csrf_token()
    if form["data"] == "empty":
        flash("Your workspace is ready. Import your records with the bulk API, described in this guide.", "success")
        return redirect(url_for("ui.help_page", name="api"))
    flash("Your workspace is ready, with sample data.", "success")
    return redirect(url_for("ui.home"))


@bp.before_request
def _first_run() -> Any:
    """A new workspace's sign-in page leads to the wizard (nobody could sign in yet)."""
    if request.endpoint == "ui.login" and request.method == "GET" and setup_open(workspace()):
        return redirect(url_for("ui.setup"))
    return None
