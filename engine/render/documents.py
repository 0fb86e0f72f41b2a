"""Rendering one record with one of its entity's document templates, as HTML or PDF."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import jinja2

from engine.actor import Actor
from engine.errors import BadRequest, NotFound, TesseraError
from engine.render.context import read_record
from engine.render.formatting import Labels
from engine.render.pdf import PdfFailed, html_to_pdf
from engine.render.templates import document_templates
from engine.storage.derivation import label_text

FORMATS = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


class TemplateFailed(TesseraError):
    """A pack's template broke while rendering (a fault of the pack, not of the request)."""

    status = 500
    title = "Template failed"


@dataclass
class Rendered:
    content: bytes
    mimetype: str
    #: a file name for the download: the record's title, made safe
    filename: str


def render_record(
    records: Any, actor: Actor, entity_name: str, record_id: str, template_name: str, fmt: str = "html"
) -> Rendered:
    """``record_id`` rendered with the template ``template_name`` of its entity, for ``actor``.

    404 when the caller may not read the entity or the record or the entity has no such
    template (checked in that order, so nothing leaks about records one may not see)."""
    if fmt not in FORMATS:
        raise BadRequest(f"format must be one of: {', '.join(FORMATS)}")
    record = read_record(records, actor, entity_name, record_id)
    snap = records.ws.snapshot()
    entity = snap.api_entity(entity_name)
    template = entity.templates.get(template_name)
    if template is None:
        names = ", ".join(sorted(entity.templates)) or "none"
        raise NotFound(f"{entity.name} has no template {template_name!r} (templates: {names})")
    templates = document_templates(snap)
    labels = Labels(snap.catalog, entity, actor.locale)
    now = records.clock()
    context = {
        "record": record,
        "entity": {"name": entity.name, "label": label_text(entity.label, actor.locale)},
        "template": {"name": template.name, "label": label_text(template.label, actor.locale)},
        "title": _title(entity.title_field, record),
        "locale": actor.locale,
        "now": now,
        "today": now.astimezone(dt.UTC).date(),
        "user": _user(actor),
        "label": labels.label,
        "option": labels.option,
    }
    try:
        html = templates.load(template).render(context)
    except jinja2.TemplateError as exc:
        raise TemplateFailed(f"The template {template.file} failed: {exc}") from None
    filename = f"{_safe(context['title']) or entity.name}.{fmt}"
    if fmt == "html":
        return Rendered(html.encode("utf-8"), FORMATS["html"], filename)
    try:
        pdf = html_to_pdf(html, templates.dirs)
    except PdfFailed as exc:
        raise TemplateFailed(
            f"The template {template.file} gave HTML that could not be turned into PDF: {exc}"
        ) from None
    return Rendered(pdf, FORMATS["pdf"], filename)


def _user(actor: Actor) -> dict[str, Any]:
    return {"id": actor.user_id, "roles": sorted(actor.roles), "locale": actor.locale}


def _title(field: str, record: dict[str, Any]) -> str:
    value = record.get(field)
    if isinstance(value, dict):  # an expanded link as the title
        value = value.get("id")
    return "" if value is None else str(value)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:100]
