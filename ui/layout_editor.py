"""The form layout editor of the admin area: ``/admin/layouts/ENTITY``.

A form layout (``engine.layouts``) is an automation document of kind ``layout``. Admins could
always edit it as YAML in the document editor; this page shows it as sections holding field
cards instead. With JavaScript (``static/js/layout-editor.js``) the cards are dragged between
and within sections; without it, every card has a section select and an order number, and
every section a name, a position and a "remove" box. Both post the same form, which the
server turns into one ``layout`` document.

"Check" runs ``engine.overlays.set_document`` with ``dry_run`` (the checker's errors, or the
YAML that would be stored, and nothing written); "Save" stores the layout that was checked
as an overlay, exactly as ``PUT /api/v1/meta/documents/layout/NAME`` does, so a pack's
layout of the same name is replaced, not edited in place (a save of anything not checked yet
is a check first). "Back to the pack's layout" drops that overlay again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from flask import abort, flash, redirect, request, url_for
from werkzeug.datastructures import MultiDict

from engine import overlays
from engine.api.context import actor, workspace
from engine.errors import NotFound, TesseraError
from engine.layouts import layout_of
from engine.meta.model import EntityDef, FieldDef
from ui.admin import admin_page, dump_yaml, problems
from ui.pages import bp, render_page, text

#: empty sections offered by the form without JavaScript (the script adds them on demand)
BLANK_SECTIONS = 2
#: the layout schema's limit (engine/meta/schemas/layout.json)
MAX_SECTIONS = 30
_SECTION_KEY = re.compile(r"^section-(\d{1,3})-label$")
_DEFAULT_SECTION = "Details"


@dataclass
class EditorSection:
    """One section as the editor shows it. ``original`` is the label as stored: a label
    translated by locale (``{en: Customer, de: Kunde}``) stays so unless it is renamed."""

    key: int
    label: str
    original: Any = None
    fields: list[FieldDef] = field(default_factory=list)
    blank: bool = False


def _entity(name: str) -> EntityDef:
    entity = workspace().snapshot().catalog.entities.get(name)
    if entity is None or entity.child:
        abort(404)
    return entity


def placeable(entity: EntityDef) -> list[FieldDef]:
    """The fields a layout may name (child tables have their own part of the form)."""
    return [fd for fd in entity.fields.values() if fd.type != "table"]


def _add_rest(entity: EntityDef, sections: list[EditorSection]) -> list[EditorSection]:
    """The fields no section holds, appended as the record pages show them: under their own
    ``section:`` option (joining a section of that name), else under "Details"."""
    placed = {fd.name for s in sections for fd in s.fields}
    by_label = {s.label: s for s in sections}
    for fd in placeable(entity):
        if fd.name in placed:
            continue
        option = fd.opt("section")
        label = text(option) if option else _DEFAULT_SECTION
        if label not in by_label:
            by_label[label] = EditorSection(max((s.key for s in sections), default=-1) + 1, label, option)
            sections.append(by_label[label])
        by_label[label].fields.append(fd)
    return sections


def current_sections(entity: EntityDef) -> list[EditorSection]:
    """The layout in force (or the default grouping), every placeable field in it once."""
    layout = layout_of(workspace().snapshot(), entity.name)
    sections: list[EditorSection] = []
    seen: set[str] = set()
    for part in layout.sections if layout is not None else ():
        names = [n for n in part.fields if n in entity.fields and n not in seen and entity.fields[n].type != "table"]
        seen.update(names)
        sections.append(EditorSection(len(sections), text(part.label), part.label, [entity.fields[n] for n in names]))
    return _add_rest(entity, sections)


def layout_name(entity: EntityDef) -> tuple[str, dict[str, Any] | None]:
    """The name of the entity's layout document and how the document editor sees it (its
    ``source`` pack and the ``document``; None: the entity has no layout yet, and the new one
    is named after the entity, unless another entity's layout is)."""
    ws, who = workspace(), actor()
    layout = layout_of(ws.snapshot(), entity.name)
    if layout is not None:
        return layout.name, overlays.get_document(ws, who, "layout", layout.name)
    taken = {d["name"] for d in overlays.list_documents(ws, who, "layout")}
    name = entity.name if entity.name not in taken else f"{entity.name}_form_layout"
    return name, None


def _int(raw: str | None) -> int | None:
    try:
        return int((raw or "").strip())
    except ValueError:
        return None


def _original(raw: str | None) -> Any:
    try:
        value = json.loads(raw or "null")
    except ValueError:
        return None
    return value if isinstance(value, (str, dict)) else None


def read_form(entity: EntityDef, form: MultiDict[str, str]) -> tuple[list[EditorSection], dict[str, str]]:
    """The arrangement a submitted editor stands for, and messages by input name.

    Sections are ordered by their position, fields by their order number (ties keep the
    order of the form). A field the form does not mention (added since the page was drawn)
    is left out, to the default grouping, as ``engine.layouts`` does with fields a layout
    omits (the page draws it again with ``_add_rest``)."""
    errors: dict[str, str] = {}
    keys = sorted({int(m.group(1)) for k in form if (m := _SECTION_KEY.match(k))})
    sections: dict[int, EditorSection] = {}
    positions: dict[int, int] = {}
    removed: set[int] = set()
    for key in keys:
        label = form.get(f"section-{key}-label", "").strip()
        sections[key] = EditorSection(key, label, _original(form.get(f"section-{key}-original")))
        position = _int(form.get(f"section-{key}-position"))
        positions[key] = position if position is not None else key
        if form.get(f"section-{key}-remove") == "on":
            removed.add(key)
    orders: dict[str, tuple[int, int]] = {}
    for index, fd in enumerate(placeable(entity)):
        raw = form.get(f"field-{fd.name}-section")
        if raw is None:
            continue
        chosen = _int(raw)
        if chosen is None or chosen not in sections:
            errors[f"field-{fd.name}-section"] = "Choose one of the sections."
            continue
        order = _int(form.get(f"field-{fd.name}-order", str(index + 1)))
        if order is None:
            errors[f"field-{fd.name}-order"] = "A whole number, e.g. 1 for the first field of the section."
            order = index + 1
        orders[fd.name] = (order, index)
        sections[chosen].fields.append(fd)
    for s in sections.values():
        s.fields.sort(key=lambda fd: orders[fd.name])
        if s.key in removed and s.fields:
            names = ", ".join(text(fd.label) for fd in s.fields)
            errors[f"section-{s.key}-remove"] = f"Move its fields to another section first ({names})."
        elif s.fields and not s.label:
            errors[f"section-{s.key}-label"] = "A section with fields needs a name."
    kept = [s for s in sections.values() if not (s.key in removed and not s.fields)]
    kept.sort(key=lambda s: (positions[s.key], s.key))
    if not any(s.fields for s in kept):
        errors["sections"] = "Put at least one field in a section."
    if sum(1 for s in kept if s.fields) > MAX_SECTIONS:
        errors["sections"] = f"A layout has at most {MAX_SECTIONS} sections."
    return kept, errors


def layout_document(
    entity: EntityDef, name: str, sections: list[EditorSection], current: dict[str, Any] | None
) -> dict[str, Any]:
    """The ``layout`` document of an arrangement; sections without fields are left out."""
    parts = []
    for s in sections:
        if not s.fields:
            continue
        unchanged = s.original is not None and text(s.original) == s.label
        parts.append({"label": s.original if unchanged else s.label, "fields": [fd.name for fd in s.fields]})
    document: dict[str, Any] = {"layout": name, "entity": entity.name}
    description = (current or {}).get("document", {}).get("description")
    if isinstance(description, str):
        document["description"] = description
    document["sections"] = parts
    return document


def _page(entity: EntityDef, sections: list[EditorSection], status: int = 200, **context: Any) -> Any:
    name, current = layout_name(entity)
    sections = _add_rest(entity, [s for s in sections if s.fields or s.label])  # blank ones are offered anew
    start = max((s.key for s in sections), default=-1) + 1
    blanks = [EditorSection(start + i, "", blank=True) for i in range(BLANK_SECTIONS)]
    context.setdefault("errors", {})
    return render_page(
        "admin/layout_editor.html",
        status,
        entity=entity,
        layout_name=name,
        source=current["source"] if current else None,
        sections=sections + blanks,
        **context,
    )


@bp.get("/admin/layouts/<entity_name>")
@admin_page
def admin_layout(entity_name: str) -> Any:
    entity = _entity(entity_name)
    return _page(entity, current_sections(entity))


@bp.post("/admin/layouts/<entity_name>")
@admin_page
def admin_layout_save(entity_name: str) -> Any:
    """ "Check" (a dry run: the checker's errors, or the document it would store) or "Save".

    A save stores only a layout the admin has seen checked: the page of a passed check
    carries the digest of its document, and a "Save" of anything else (the first one, or
    after more changes) is a check again."""
    entity = _entity(entity_name)
    sections, errors = read_form(entity, request.form)
    if errors:
        detail = {"detail": "The layout was not checked: correct the marked entries.", "errors": []}
        return _page(entity, sections, 422, errors=errors, layout_problems=detail)
    name, current = layout_name(entity)
    document = layout_document(entity, name, sections, current)
    digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    changed = request.form.get("checked") != digest
    dry_run = request.form.get("step") != "save" or changed
    try:
        overlays.set_document(workspace(), actor(), "layout", name, document, dry_run=dry_run)
    except TesseraError as exc:
        return _page(entity, sections, 422, layout_problems=problems(exc))
    if dry_run:
        again = {"changed": True} if request.form.get("step") == "save" and request.form.get("checked") else {}
        return _page(entity, sections, checked=dump_yaml(document), digest=digest, **again)
    flash(f"The layout of {text(entity.label)} was saved.", "success")
    return redirect(url_for("ui.admin_layout", entity_name=entity.name))


@bp.post("/admin/layouts/<entity_name>/reset")
@admin_page
def admin_layout_reset(entity_name: str) -> Any:
    """Drop the overlay: the pack's layout (or the fields' own sections) applies again."""
    entity = _entity(entity_name)
    name, _ = layout_name(entity)
    try:
        overlays.remove_document(workspace(), actor(), "layout", name)
    except NotFound:
        flash("There is no saved change to drop: the layout is the pack's own (or the default).", "info")
    except TesseraError as exc:
        return _page(entity, current_sections(entity), 422, layout_problems=problems(exc))
    else:
        flash(f"The layout of {text(entity.label)} is the pack's again.", "success")
    return redirect(url_for("ui.admin_layout", entity_name=entity.name))
