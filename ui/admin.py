"""The administration area (``/admin``): people, roles and grants, the job queue, the audit
trail and the workspace settings, for admins (everyone else gets a 403 page).

Every page calls the same engine functions as the REST API (``engine.security``,
``engine.overlays``, ``engine.automation.outbox``), so checks, audit and errors are theirs.
The metadata designers (entities, fields, rules ...) are in ``ui.admin_meta``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from flask import abort, flash, redirect, request, url_for

from engine import overlays
from engine.actor import Actor
from engine.api.context import actor, workspace
from engine.automation import outbox
from engine.errors import BadRequest, TesseraError
from engine.meta.source import SourceError, parse_text
from engine.security import links, totp
from engine.security.audit_search import FILTERS as AUDIT_FILTERS
from engine.security.audit_search import search_audit
from engine.security.users import user_from_api
from ui.pages import bp, catalog, flash_refusal, form_ok, render_page, signed_in

F = TypeVar("F", bound=Callable[..., Any])

#: the singleton record of workspace settings (phone region, lead reassignment, badges ...)
SETTINGS_ENTITY = "crm_setting"


def admin_page(view: F) -> F:
    """Signed in, an administrator, and (for a POST) the session's form token."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not actor().is_admin:
            abort(403)
        if request.method == "POST" and not form_ok():
            raise BadRequest("The form expired; reload the page and try again.")
        return view(*args, **kwargs)

    return cast(F, signed_in(cast(F, guarded)))


def problems(exc: TesseraError) -> dict[str, Any]:
    """An engine error as the pages show it: the summary and the checker's messages."""
    return {"detail": exc.detail, "errors": [{"field": e.field, "message": e.message} for e in exc.errors]}


def load_yaml(source: str) -> Any:
    """A YAML document typed into a text area, read as pack files are (``on:`` is a key, not
    a boolean); a syntax error is a 400 with its line and column."""
    try:
        return parse_text(source, Path("(editor)")).data
    except SourceError as exc:
        raise BadRequest(f"The YAML does not parse: line {exc.line}, column {exc.col}: {exc.message}") from None


class _Dumper(yaml.SafeDumper):
    """Writes what pack files read: ``on``, ``yes`` and ``no`` stay unquoted words."""


_Dumper.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()
}
_Dumper.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def dump_yaml(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)


# --- home ------------------------------------------------------------------------------------
@bp.get("/admin")
@admin_page
def admin_home() -> Any:
    ws, who = workspace(), actor()
    failed = outbox.list_jobs(ws, who, {"state": "failed", "limit": "20"})["data"]
    return render_page("admin.html", metrics=outbox.job_metrics(ws, who), failed=failed, settings=_settings_link(who))


def _settings_link(who: Actor) -> str | None:
    """The edit page of the settings record (or the page creating it), when the pack is installed."""
    if SETTINGS_ENTITY not in catalog().entities:
        return None
    found = workspace().records.list(who, SETTINGS_ENTITY, {"limit": "1"}).data
    if found:
        return url_for("ui.record_edit", entity_name=SETTINGS_ENTITY, record_id=found[0]["id"])
    return url_for("ui.record_new", entity_name=SETTINGS_ENTITY)


# --- users, teams and roles --------------------------------------------------------------------
def _roles(who: Actor) -> list[dict[str, Any]]:
    return workspace().records.list(who, "role", {"sort": "name", "limit": "500"}).data


@bp.get("/admin/users")
@admin_page
def admin_users() -> Any:
    ws, who = workspace(), actor()
    users = ws.records.list(who, "user", {"sort": "full_name", "limit": "500"}).data
    teams = ws.records.list(who, "team", {"sort": "name", "limit": "500"}).data
    second_factor = totp.enabled_users(ws, who, [u["id"] for u in users])
    return render_page("admin/users.html", users=users, roles=_roles(who), teams=teams, second_factor=second_factor)


@bp.post("/admin/users/invite")
@admin_page
def admin_invite() -> Any:
    form = request.form
    body: dict[str, Any] = {"email": form.get("email", "").strip(), "roles": form.getlist("roles")}
    if form.get("full_name", "").strip():
        body["full_name"] = form["full_name"].strip()
    ws = workspace()
    try:
        user = links.invite(ws, actor(), body, ws.config.public_url or request.url_root)
    except TesseraError as exc:
        flash_refusal("Not invited", exc)
    else:
        flash(f"{user['email']} is invited; the e-mail with the link is in the job queue.", "success")
    return redirect(url_for("ui.admin_users"))


@bp.post("/admin/users/<user_id>")
@admin_page
def admin_user_update(user_id: str) -> Any:
    """Set a user's roles (the form lists them all) or switch the account on or off."""
    form = request.form
    body: dict[str, Any] = {}
    if form.get("change") == "roles":
        body["roles"] = form.getlist("roles")
    elif form.get("change") == "active":
        body["active"] = form.get("active") == "true"
    else:
        raise BadRequest("Say what to change: roles or active")
    if body.get("active") is False and user_id == actor().user_id:
        flash("You cannot disable your own account.", "error")
        return redirect(url_for("ui.admin_users"))
    try:
        user = user_from_api(workspace(), actor(), body, user_id)
    except TesseraError as exc:
        flash_refusal("Not saved", exc)
    else:
        flash(f"{user['full_name']}: saved.", "success")
    return redirect(url_for("ui.admin_users"))


@bp.post("/admin/users/<user_id>/totp-reset")
@admin_page
def admin_user_totp_reset(user_id: str) -> Any:
    """Switch a user's second factor off: they lost their authenticator app."""
    ws, who = workspace(), actor()
    try:
        totp.reset(ws, who, user_id)
    except TesseraError as exc:
        flash_refusal("Second factor not reset", exc)
    else:
        name = ws.records.get(who, "user", user_id)["full_name"]
        flash(f"{name}: second factor off; they sign in with their password and may set it up again.", "success")
    return redirect(url_for("ui.admin_users"))


# --- permissions -------------------------------------------------------------------------------
@bp.get("/admin/permissions")
@admin_page
def admin_permissions() -> Any:
    cat = catalog()
    entities = sorted(cat.api_entities(), key=lambda e: e.name)
    name = request.args.get("entity") or (entities[0].name if entities else "")
    entity = cat.entities.get(name)
    if entity is None or entity.child:
        abort(404)
    meta = workspace().snapshot().catalog
    # grants an admin set (overlays): "restore" drops them and the pack's grant applies again
    overridden = {
        role for o in meta.overlays if o.kind == "permission" and o.target == entity.name for role in o.document
    }
    grants = {role: dump_yaml(grant) for role, grant in sorted(meta.entities[name].permissions.items())}
    return render_page(
        "admin/permissions.html",
        entities=entities,
        entity=entity,
        grants=grants,
        overridden=overridden,
        roles=[r["name"] for r in _roles(actor())],
    )


@bp.post("/admin/permissions/<entity_name>")
@admin_page
def admin_permission_set(entity_name: str) -> Any:
    role = request.form.get("role", "").strip()
    back = redirect(url_for("ui.admin_permissions", entity=entity_name) + f"#grant-{role}")
    if not role:
        flash("Choose a role.", "error")
        return back
    try:
        if request.form.get("change") == "restore":
            overlays.remove_permission(workspace(), actor(), entity_name, role)
            flash(f"{role}: the pack's grant applies again.", "success")
        else:
            overlays.set_permission(workspace(), actor(), entity_name, role, load_yaml(request.form.get("grant", "")))
            flash(f"{role}: grant saved.", "success")
    except TesseraError as exc:
        flash_refusal(f"{role}: not saved", exc)
    return back


# --- job queue --------------------------------------------------------------------------------
@bp.get("/admin/jobs")
@admin_page
def admin_jobs() -> Any:
    ws, who = workspace(), actor()
    state = request.args.get("state", "failed")
    params = {"limit": "100", **({"state": state} if state else {})}
    return render_page(
        "admin/jobs.html",
        metrics=outbox.job_metrics(ws, who),
        jobs=outbox.list_jobs(ws, who, params)["data"],
        state=state,
        states=outbox.STATES,
    )


@bp.post("/admin/jobs/<job_id>/<verb>")
@admin_page
def admin_job_action(job_id: str, verb: str) -> Any:
    moves = {"retry": outbox.retry_job, "discard": outbox.discard_job}
    if verb not in moves:
        abort(404)
    try:
        moves[verb](workspace(), actor(), job_id)
    except TesseraError as exc:
        flash_refusal(f"Job {job_id}", exc)
    else:
        flash(f"Job {job_id}: {'queued again' if verb == 'retry' else 'discarded'}.", "success")
    back = request.form.get("next", "")
    return redirect(back if back.startswith("/admin") else url_for("ui.admin_jobs"))


# --- audit search -------------------------------------------------------------------------------
@bp.get("/admin/audit")
@admin_page
def admin_audit() -> Any:
    params = {k: v for k, v in request.args.items() if k in AUDIT_FILTERS and v}
    params.setdefault("limit", "100")
    error = None
    try:
        entries = search_audit(workspace(), actor(), params)["data"]
    except TesseraError as exc:
        entries, error = [], exc.detail
    return render_page("admin/audit.html", entries=entries, params=params, error=error)


from ui import admin_meta  # noqa: E402, F401 - the metadata designers register their routes too
