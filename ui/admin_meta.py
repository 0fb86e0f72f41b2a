"""The metadata designers of the administration area: custom fields and new entities, and the
editors of the automation documents (rules, workflows, SLA definitions, calendars, record
actions, forms, hooks, dashboards: ``engine.automation.definitions.KINDS``).

Changes go through ``engine.overlays``, as ``/api/v1/meta`` does: "Check" runs the same call
with ``dry_run`` (the checker's errors, or the schema steps it would apply, and nothing
stored), "Save" stores it. A rule's preview lists the records its ``when`` matches now,
through the data-access layer with the admin's permissions.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for

from engine import overlays
from engine.api.context import actor, workspace
from engine.automation.definitions import KINDS, NAME_KEYS
from engine.errors import BadRequest, NotFound, TesseraError
from engine.meta.model import FIELD_TYPES, EntityDef
from ui.admin import admin_page, dump_yaml, load_yaml, problems
from ui.pages import bp, catalog, render_page

#: field types offered by the quick form (tables, files, secrets and the like need the YAML box)
QUICK_TYPES = tuple(t for t in FIELD_TYPES if t not in ("links", "table", "json", "file", "secret", "autonumber"))
PREVIEW_LIMIT = "20"


# --- entities and custom fields ------------------------------------------------------------------
def _designer(status: int = 200, **context: Any) -> Any:
    entities = sorted(catalog().api_entities(), key=lambda e: e.name)
    context.setdefault("field_form", {})
    context.setdefault("entity_source", "")
    return render_page("admin/entities.html", status, entities=entities, field_types=QUICK_TYPES, **context)


@bp.get("/admin/entities")
@admin_page
def admin_entities() -> Any:
    return _designer(field_form={"entity": request.args.get("entity", "")})


def _field_document(form: Any) -> dict[str, Any]:
    """The field definition from the quick form, with the YAML box's extra keys merged in."""
    extra = load_yaml(form.get("extra", "")) if form.get("extra", "").strip() else {}
    if not isinstance(extra, dict):
        raise BadRequest("The extra definition must be a YAML mapping, e.g. 'max_length: 40'")
    document: dict[str, Any] = {"name": form.get("name", "").strip(), "type": form.get("type", "string")}
    if form.get("label", "").strip():
        document["label"] = form["label"].strip()
    if form.get("required") == "on":
        document["required"] = True
    if form.get("to", "").strip():
        document["to"] = form["to"].strip()
    options = [o.strip() for o in form.get("options", "").split(",") if o.strip()]
    if options:
        document["options"] = options
    return {**document, **extra}


@bp.post("/admin/entities/fields")
@admin_page
def admin_add_field() -> Any:
    form = request.form
    entity = form.get("entity", "")
    dry_run = form.get("step") != "apply"
    try:
        described = overlays.add_field(workspace(), actor(), entity, _field_document(form), dry_run=dry_run)
    except TesseraError as exc:
        return _designer(422, field_form=form, field_problems=problems(exc))
    if dry_run:
        return _designer(field_form=form, field_plan=described["plan"], checked=True)
    flash(f"The field {entity}.{form.get('name')} was added.", "success")
    return redirect(url_for("ui.admin_entities", entity=entity))


@bp.post("/admin/entities/new")
@admin_page
def admin_add_entity() -> Any:
    source = request.form.get("document", "")
    dry_run = request.form.get("step") != "apply"
    try:
        described = overlays.add_entity(workspace(), actor(), load_yaml(source), dry_run=dry_run)
    except TesseraError as exc:
        return _designer(422, entity_source=source, entity_problems=problems(exc))
    if dry_run:
        return _designer(entity_source=source, entity_plan=described["plan"], entity_checked=True)
    flash(f"The entity {described['name']} was added.", "success")
    return redirect(url_for("ui.list_view", entity_name=described["name"]))


# --- automation documents ------------------------------------------------------------------------
def _kind(kind: str) -> str:
    if kind not in KINDS:
        abort(404)
    return kind


@bp.get("/admin/documents")
@admin_page
def admin_documents() -> Any:
    kind = request.args.get("kind", "rule")
    documents = overlays.list_documents(workspace(), actor(), _kind(kind))
    return render_page("admin/documents.html", kinds=list(KINDS), kind=kind, documents=documents)


def _editor(kind: str, name: str | None, source: str, status: int = 200, **context: Any) -> Any:
    """The YAML editor of one document (``name`` None: a new one)."""
    current = None
    if name is not None:
        try:
            current = overlays.get_document(workspace(), actor(), kind, name)
        except NotFound:
            current = None
    return render_page("admin/document.html", status, kind=kind, name=name, source=source, current=current, **context)


@bp.get("/admin/documents/<kind>/new")
@admin_page
def admin_document_new(kind: str) -> Any:
    return _editor(_kind(kind), None, dump_yaml({NAME_KEYS[kind]: ""}))


@bp.get("/admin/documents/<kind>/<name>")
@admin_page
def admin_document(kind: str, name: str) -> Any:
    found = overlays.get_document(workspace(), actor(), _kind(kind), name)
    context: dict[str, Any] = {}
    if kind == "rule" and request.args.get("preview"):
        try:
            context["preview"] = _preview(found["document"])
        except TesseraError as exc:
            context["document_problems"] = problems(exc)
    return _editor(kind, name, dump_yaml(found["document"]), **context)


@bp.post("/admin/documents/<kind>")
@admin_page
def admin_document_create(kind: str) -> Any:
    return _save(_kind(kind), None)


@bp.post("/admin/documents/<kind>/<name>")
@admin_page
def admin_document_save(kind: str, name: str) -> Any:
    return _save(_kind(kind), name)


def _save(kind: str, name: str | None) -> Any:
    """Check (dry run), preview (a rule's condition) or save the YAML of the editor."""
    source = request.form.get("document", "")
    step = request.form.get("step", "check")
    ws, who = workspace(), actor()
    try:
        document = load_yaml(source)
        if step == "preview":
            return _editor(kind, name, source, preview=_preview(document))
        dry_run = step != "save"
        if name is None:
            saved = overlays.add_document(ws, who, kind, document, dry_run=dry_run)
        else:
            saved = overlays.set_document(ws, who, kind, name, document, dry_run=dry_run)
    except TesseraError as exc:
        return _editor(kind, name, source, 422, document_problems=problems(exc))
    if dry_run:
        return _editor(kind, name, source, checked=True)
    flash(f"The {kind} {saved['name']} was saved.", "success")
    return redirect(url_for("ui.admin_document", kind=kind, name=saved["name"]))


@bp.post("/admin/documents/<kind>/<name>/enabled")
@admin_page
def admin_document_toggle(kind: str, name: str) -> Any:
    """Switch a definition off (or on again) at run time: a PUT with ``enabled`` changed."""
    ws, who = workspace(), actor()
    found = overlays.get_document(ws, who, _kind(kind), name)
    enabled = request.form.get("enabled") == "true"
    document = {**found["document"], "enabled": enabled}
    if enabled:
        document.pop("enabled")  # on is the default: keep the document as the pack has it
    try:
        overlays.set_document(ws, who, kind, name, document)
    except TesseraError as exc:
        return _editor(kind, name, dump_yaml(found["document"]), 422, document_problems=problems(exc))
    flash(f"The {kind} {name} is {'on' if enabled else 'off'}.", "success")
    return redirect(url_for("ui.admin_documents", kind=kind))


@bp.post("/admin/documents/<kind>/<name>/delete")
@admin_page
def admin_document_delete(kind: str, name: str) -> Any:
    try:
        overlays.remove_document(workspace(), actor(), _kind(kind), name)
    except TesseraError as exc:
        found = overlays.get_document(workspace(), actor(), kind, name)
        return _editor(kind, name, dump_yaml(found["document"]), 422, document_problems=problems(exc))
    flash(f"The run-time {kind} {name} was removed.", "success")
    return redirect(url_for("ui.admin_documents", kind=kind))


def _preview(document: Any) -> dict[str, Any]:
    """How many and which records of the rule's entity its ``when`` matches now (a rule
    without ``when`` matches every record)."""
    if not isinstance(document, dict) or not isinstance(document.get("entity"), str):
        raise BadRequest("The rule names no entity: add 'entity: NAME'")
    entity: EntityDef | None = catalog().entities.get(document["entity"])
    if entity is None or entity.child:
        raise BadRequest(f"There is no entity {document['entity']!r}")
    when = document.get("when")
    params = {"limit": PREVIEW_LIMIT, "count": "true"}
    if when:
        params["filter"] = str(when)
    page = workspace().records.list(actor(), entity.name, params)
    return {"entity": entity, "when": when, "total": page.total, "records": page.data}
