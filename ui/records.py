"""Record pages: ``/app/ENTITY/ID`` (sections, child tables, related lists, the activity
timeline with quick add, history, workflow and approval buttons, attachments) and the
create/edit forms ``/app/ENTITY/new`` and ``/app/ENTITY/ID/edit``.

Forms post plain HTML; the values are converted by field type (datetimes are read and
shown in the time zone of the user's profile) and written through
``records.create``/``records.update`` as the signed-in user, so the messages next to the
fields are the API's validation messages, and a stale version is explained, not lost.
Record actions with inputs get a small form on the record page, run by ``run_action``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import abort, flash, jsonify, redirect, request, url_for

from engine.api.context import actor, workspace
from engine.automation.record_actions import (
    action_inputs,
    approval_history,
    has_approvals,
    offered_actions,
    run_action,
)
from engine.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    TesseraError,
    ValidationError,
)
from engine.files.attach import Upload, attach_file
from engine.layouts import layout_of
from engine.meta.model import EntityDef, FieldDef
from engine.plugins import render_panels
from engine.storage.timeline import timeline
from ui.lists import entity_or_404
from ui.pages import bp, catalog, flash_refusal, form_ok, render_page, signed_in, text
from ui.record_forms import NO_FORM, child_entity, field_errors, form_values, form_zone, local_text, unchanged_datetimes
from ui.values import choices, list_columns, reference_titles, titles

#: rows of a related list on a record page (the list view has the rest)
RELATED_ROWS = 10
RELATED_COUNT_LIMIT = 1_000  # "1000+" beyond: a key account may have tens of thousands of activities
#: empty lines offered at the end of a child table in a form
BLANK_LINES = 3
#: link pickers list at most this many records; beyond, the id can be typed (JS adds search)
PICKER_LIMIT = 200
_STALE = (
    "Someone changed this record after you opened it. Your changes were not saved: "
    "reload the record to see theirs, then make yours again."
)


@dataclass
class Section:
    label: str
    fields: list[FieldDef] = field(default_factory=list)


def sections(entity: EntityDef, editable_only: bool = False) -> list[Section]:
    """Fields grouped as the entity's layout says (engine.layouts), then the rest by their
    ``section:`` option, in definition order; fields the user may not read are not there."""

    def shown(fd: FieldDef) -> bool:
        return fd.type != "table" and not (editable_only and (fd.readonly or fd.type in NO_FORM))

    out: dict[str, Section] = {}
    placed: set[str] = set()
    layout = layout_of(workspace().snapshot(), entity.name)
    for part in layout.sections if layout is not None else ():
        label = text(part.label)
        placed.update(part.fields)
        fields = [entity.fields[n] for n in part.fields if n in entity.fields and shown(entity.fields[n])]
        if fields:
            out.setdefault(label, Section(label)).fields.extend(fields)
    for fd in entity.fields.values():
        if fd.name in placed or not shown(fd):
            continue
        label = text(fd.opt("section")) if fd.opt("section") else "Details"
        out.setdefault(label, Section(label)).fields.append(fd)
    return list(out.values())


def picker_options(entity: EntityDef, fields: list[FieldDef]) -> dict[str, list[tuple[str, str]]]:
    """``{field: [(id, title)...]}`` for link, user and team fields, when few enough."""
    ws, who, cat = workspace(), actor(), catalog()
    out: dict[str, list[tuple[str, str]]] = {}
    for fd in fields:
        target = fd.target if fd.type in ("link", "user", "team") else None
        found = choices(ws, who, cat, target, PICKER_LIMIT) if target else None
        if found is not None:
            out[fd.name] = found
    return out


# --- pages ---------------------------------------------------------------------------------
def _related(entity: EntityDef, record_id: str) -> list[dict[str, Any]]:
    ws, who, cat = workspace(), actor(), catalog()
    targets = {}
    for link in entity.related:
        if link == "timeline":
            continue
        target_name = (
            link.partition(".")[0] if "." in link else (entity.fields[link].target if link in entity.fields else None)
        )
        if target_name in cat.entities:
            targets[link] = cat.entities[target_name]
    params = {"limit": str(RELATED_ROWS), "count_limit": str(RELATED_COUNT_LIMIT)}
    try:
        pages = ws.records.related_lists(who, entity.name, record_id, targets, params)
    except (NotFound, PermissionDenied, BadRequest):
        return []
    lists = []
    for link, target in targets.items():
        page = pages[link]
        if isinstance(page, TesseraError):
            continue
        back = link.partition(".")[2]
        columns = [c for c in list_columns(target) if c.name != back][:5]  # every row links to this record
        refs = reference_titles(ws, who, cat, target, page.data, [c.name for c in columns])
        lists.append(
            {
                "link": link,
                "entity": target,
                "rows": page.data,
                "total": page.total,
                "capped": page.total_capped,
                "columns": columns,
                "refs": refs,
                "filter": f'{back} == "{record_id}"' if back else None,
            }
        )
    return lists


def _timeline(entity: EntityDef, record_id: str) -> tuple[list[dict[str, Any]], list[EntityDef]]:
    """The record's timeline entries and the entities a quick add can create on it."""
    cat = catalog()
    sources = [e for e in cat.entities.values() if e.timeline is not None]
    if not sources or "timeline" not in entity.related:
        return [], []
    try:
        entries = timeline(workspace().records, actor(), entity.name, record_id, {"limit": "20"}).data
    except TesseraError:
        entries = []
    creatable = [e for e in sources if workspace().records.can(actor(), e.name, "create")]
    return entries, creatable


@bp.get("/app/<entity_name>/<record_id>")
@signed_in
def record_view(entity_name: str, record_id: str) -> Any:
    return _record_page(entity_or_404(entity_name), record_id)


def _record_page(entity: EntityDef, record_id: str, status: int = 200, attempt: dict[str, Any] | None = None) -> Any:
    """The record page; ``attempt`` is an action form sent back with its messages (``name``,
    ``values`` as typed, ``errors``, ``message``), shown open."""
    ws, who, cat = workspace(), actor(), catalog()
    try:
        record = ws.records.get(who, entity.name, record_id)
    except (NotFound, BadRequest):
        abort(404)
    names = [f.name for f in entity.fields.values()] + ["owner", "created_by", "updated_by"]
    refs = reference_titles(ws, who, cat, entity, [record], names)
    children = {}
    for fd in entity.fields.values():
        child = child_entity(fd)
        if child is not None:
            rows = record.get(fd.name) or []
            children[fd.name] = (child, rows, reference_titles(ws, who, cat, child, rows, list(child.fields)))
    entries, quick_add = _timeline(entity, record_id)
    try:
        history = ws.records.history(who, entity.name, record_id, {"limit": "20"}).data
    except TesseraError:
        history = []
    approvals = (
        approval_history(ws.records, who, entity.name, record_id) if has_approvals(ws.snapshot(), entity.name) else []
    )
    users = titles(ws, who, cat, "user", {h.get("actor") for h in history if isinstance(h.get("actor"), str)})
    return render_page(
        "record.html",
        status=status,
        entity=entity,
        record=record,
        refs=refs,
        sections=sections(entity),
        children=children,
        related=_related(entity, record_id),
        entries=entries,
        quick_add=quick_add,
        history=history,
        users=users,
        approvals=approvals,
        actions=offered_actions(ws.records, who, entity.name, record),
        attempt=attempt or {},
        time_zone=form_zone().key,
        local_time=lambda value: value,  # action forms show what was typed
        files=[f for f in entity.fields.values() if f.type == "file"],
        can_update=ws.records.can(who, entity.name, "update"),
        can_delete=ws.records.can(who, entity.name, "delete"),
        panels=render_panels(ws, who, entity.name, record),  # plugins' panels (tessera_ui_panels)
    )


def _form(
    entity: EntityDef,
    record: dict[str, Any] | None,
    errors: dict[str, str],
    status: int = 200,
    message: str | None = None,
) -> Any:
    editable = sections(entity, editable_only=True)
    fields = [fd for s in editable for fd in s.fields]
    tables = {}
    for fd in entity.fields.values():
        child = child_entity(fd)
        if child is not None and not fd.readonly:
            tables[fd.name] = (fd, child, [c for c in child.fields.values() if c.type not in NO_FORM])
    pickers = picker_options(entity, fields + [c for _, _, cols in tables.values() for c in cols])
    record = record or {}
    editing = bool(record.get("id"))
    body = {} if editing else {k: v for k, v in record.items() if k in entity.fields and not entity.fields[k].readonly}
    state = _state(entity, body, record["id"] if editing else None)
    if not editing and status == 200:  # a fresh form shows the defaults a save would apply
        defaults = {k: v for k, v in state["values"].items() if k in entity.fields and not entity.fields[k].readonly}
        record = {**defaults, **record}
    computed = [f for f in entity.fields.values() if (f.is_computed or f.is_rollup) and f.type != "table"]
    zone = form_zone()
    return render_page(
        "form.html",
        status=status,
        entity=entity,
        record=record,
        editing=editing,
        state=state,
        computed=computed,
        sections=editable,
        tables=tables,
        pickers=pickers,
        errors=errors,
        message=message,
        blank_lines=BLANK_LINES,
        time_zone=zone.key,
        local_time=lambda value: local_text(value, zone),
    )


def _state(entity: EntityDef, body: dict[str, Any], record_id: str | None) -> dict[str, Any]:
    """Hidden and frozen fields and derived values for a form (``records.preview``)."""
    try:
        return workspace().records.preview(actor(), entity.name, body, record_id)
    except TesseraError:
        return {"values": {}, "hidden": [], "readonly": [], "errors": []}


@bp.post("/app/<entity_name>/preview")
@signed_in
def record_preview(entity_name: str) -> Any:
    """What the form being typed would become (live totals, visible_if, readonly_if), as
    JSON for ``form.js``; nothing is written."""
    entity = entity_or_404(entity_name)
    if not form_ok():
        raise BadRequest("The form expired; reload the page and try again.")
    record_id = request.form.get("id") or None
    body = form_values(entity.fields.values(), request.form, record_id is not None, form_zone())
    return jsonify(_state(entity, body, record_id))


@bp.get("/app/<entity_name>/new")
@signed_in
def record_new(entity_name: str) -> Any:
    entity = entity_or_404(entity_name)
    if not workspace().records.can(actor(), entity.name, "create"):
        abort(403)
    prefill: dict[str, Any] = {k: v for k, v in request.args.items() if k in entity.fields}  # "new contact for..."
    for name in [k for k in prefill if entity.fields[k].type == "multi_enum"]:
        prefill[name] = request.args.getlist(name)  # several options: ?tags=a&tags=b
    return _form(entity, prefill, {})


@bp.post("/app/<entity_name>/new")
@signed_in
def record_create(entity_name: str) -> Any:
    entity = entity_or_404(entity_name)
    if not form_ok():
        raise BadRequest("The form expired; reload the page and try again.")
    body = form_values(entity.fields.values(), request.form, False, form_zone())
    try:
        created = workspace().records.create(actor(), entity.name, body)
    except (ValidationError, Conflict, BadRequest, PermissionDenied) as exc:
        return _form(entity, body, field_errors(exc), 422, exc.detail)
    return _saved(entity, created, "created")


@bp.get("/app/<entity_name>/<record_id>/edit")
@signed_in
def record_edit(entity_name: str, record_id: str) -> Any:
    entity = entity_or_404(entity_name)
    try:
        record = workspace().records.get(actor(), entity.name, record_id)
    except (NotFound, BadRequest):
        abort(404)
    return _form(entity, record, {})


@bp.post("/app/<entity_name>/<record_id>/edit")
@signed_in
def record_update(entity_name: str, record_id: str) -> Any:
    entity = entity_or_404(entity_name)
    if not form_ok():
        raise BadRequest("The form expired; reload the page and try again.")
    zone = form_zone()
    body = form_values(entity.fields.values(), request.form, True, zone)
    unchanged = unchanged_datetimes(entity, record_id, body, zone)
    version_text = request.form.get("version", "")
    version = int(version_text) if version_text.isdigit() else None
    try:
        changes = {k: v for k, v in body.items() if k not in unchanged}
        saved = workspace().records.update(actor(), entity.name, record_id, changes, if_match=version)
    except PreconditionFailed:
        return _form(entity, {**body, "id": record_id, "version": version}, {}, 409, _STALE)
    except (ValidationError, Conflict, BadRequest, PermissionDenied) as exc:
        return _form(entity, {**body, "id": record_id, "version": version}, field_errors(exc), 422, exc.detail)
    return _saved(entity, saved, "saved")


def _saved(entity: Any, record: dict[str, Any], done: str) -> Any:
    """After a create or an edit: the record's page, or its list when the record went to an
    owner outside what the user may read (written all the same)."""
    if record.get("_readable") is False:
        flash(f"{text(entity.label)} {done}. It is outside the records you may open, so it is not shown.", "success")
        return redirect(url_for("ui.list_view", entity_name=entity.name))
    flash(f"{text(entity.label)} {done}.", "success")
    return redirect(url_for("ui.record_view", entity_name=entity.name, record_id=record["id"]))


@bp.post("/app/<entity_name>/<record_id>/delete")
@signed_in
def record_delete(entity_name: str, record_id: str) -> Any:
    entity = entity_or_404(entity_name)
    if not form_ok():
        raise BadRequest("The form expired; reload the page and try again.")
    try:
        workspace().records.delete(actor(), entity.name, record_id)
    except TesseraError as exc:
        flash(f"Not deleted: {exc.detail}", "error")
        return redirect(url_for("ui.record_view", entity_name=entity.name, record_id=record_id))
    flash(f"{text(entity.label)} moved to the trash.", "success")
    return redirect(url_for("ui.list_view", entity_name=entity.name))


@bp.post("/app/<entity_name>/<record_id>/actions/<name>")
@signed_in
def record_action(entity_name: str, record_id: str, name: str) -> Any:
    """A workflow button, an approval decision (with its comment) or an action's form: its
    inputs (``action_inputs``) are read like a record form's fields and given to
    ``run_action`` as the API's JSON body would be. Refused input comes back as the record
    page with the form open, the messages next to the fields and what was typed."""
    entity = entity_or_404(entity_name)
    if not form_ok():
        raise BadRequest("The form expired; reload the page and try again.")
    inputs = action_inputs(workspace().snapshot(), entity, name)
    body = form_values(inputs, request.form, False, form_zone())
    if request.form.get("comment"):
        body["comment"] = request.form["comment"]
    label = name.replace("_", " ").capitalize()
    try:
        run_action(workspace().records, actor(), entity.name, record_id, name, body)
        flash(f"{label}: done.", "success")
    except ValidationError as exc:
        if not inputs:
            flash_refusal(f"{label} refused", exc)
        else:
            attempt = {"name": name, "values": request.form, "errors": field_errors(exc), "message": exc.detail}
            return _record_page(entity, record_id, 422, attempt)
    except TesseraError as exc:
        flash_refusal(f"{label} refused", exc)
    return redirect(url_for("ui.record_view", entity_name=entity.name, record_id=record_id))


@bp.post("/app/<entity_name>/<record_id>/timeline/<source>")
@signed_in
def quick_add(entity_name: str, record_id: str, source: str) -> Any:
    """Quick add of a call, e-mail, meeting, note or task on the record's timeline."""
    entity = entity_or_404(entity_name)
    target = catalog().entities.get(source)
    if target is None or target.timeline is None:
        abort(404)
    if not form_ok():
        raise BadRequest("The form expired; reload the page and try again.")
    body = form_values(target.fields.values(), request.form, False, form_zone())
    body[target.timeline.entity_field] = entity.name
    body[target.timeline.id_field] = record_id
    try:
        workspace().records.create(actor(), target.name, body)
        flash(f"{text(target.label)} added.", "success")
    except TesseraError as exc:
        flash_refusal("Not added", exc)
    return redirect(url_for("ui.record_view", entity_name=entity.name, record_id=record_id) + "#timeline")


@bp.post("/app/<entity_name>/<record_id>/files/<field_name>")
@signed_in
def upload_file(entity_name: str, record_id: str, field_name: str) -> Any:
    """Attach a file from the record page (the same checks as ``PUT .../files/FIELD``)."""
    entity = entity_or_404(entity_name)
    if not form_ok():
        raise BadRequest("The form expired; reload the page and try again.")
    part = request.files.get("file")
    back = url_for("ui.record_view", entity_name=entity.name, record_id=record_id)
    if part is None or not part.filename:
        flash("Choose a file first.", "warning")
        return redirect(back)
    try:
        upload = Upload(part.filename, part.mimetype or None, part.stream)
        attach_file(workspace().records, actor(), entity.name, record_id, field_name, upload, None)
        flash(f"{part.filename} attached.", "success")
    except TesseraError as exc:
        flash_refusal("Not attached", exc)
    return redirect(back)
