"""Finding, checking and loading the document templates entities declare.

A document template is an HTML file in a pack's ``templates/`` folder, named by an entity's
``templates:`` key. The files share the folder, the lookup order (a pack overrides the
files of the packs it depends on) and the Jinja2 sandbox with the message templates of
:mod:`engine.automation.templates`; this module adds the formatting filters of
:mod:`engine.render.formatting` on an overlay of that environment, so notifications are
not affected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from engine.automation.templates import MessageTemplates, templates_for
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, TemplateDef
from engine.meta.problems import Problems
from engine.render.formatting import FILTERS


class DocumentTemplates:
    """The document templates of one metadata snapshot."""

    def __init__(self, messages: MessageTemplates):
        self.dirs: tuple[Path, ...] = messages.dirs
        env = messages.env.overlay(finalize=_blank_none)
        # an overlay shares its parent's filter and global dicts: copy before adding
        env.filters = {**messages.env.filters, **FILTERS}
        env.globals = dict(messages.env.globals)
        self.env: SandboxedEnvironment = env

    def file(self, template: TemplateDef) -> Path | None:
        """The file that serves ``template`` (the last pack that ships it wins)."""
        for folder in self.dirs:
            path = folder / template.file
            if path.is_file():
                return path
        return None

    def load(self, template: TemplateDef) -> jinja2.Template:
        return self.env.get_template(template.file)


def _blank_none(value: Any) -> Any:
    """An empty field prints as nothing (Jinja2 would print "None")."""
    return "" if value is None else value


def document_templates(snap: Any) -> DocumentTemplates:
    """The document templates of a workspace snapshot, made once per metadata version."""
    cached = snap.cache.get("document_templates")
    if cached is None:
        cached = snap.cache["document_templates"] = DocumentTemplates(templates_for(snap))
    return cached


def check_render_templates(catalog: Catalog, problems: Problems) -> None:
    """Every declared template exists and parses; child entities have none (no API to render them)."""
    templates: DocumentTemplates | None = None
    for entity in catalog.entities.values():
        if not entity.templates:
            continue
        templates = templates or DocumentTemplates(MessageTemplates(catalog))
        _check_entity(entity, templates, problems)


def _check_entity(entity: EntityDef, templates: DocumentTemplates, problems: Problems) -> None:
    for template in entity.templates.values():
        where = str(template.origin)
        if entity.child:
            problems.add(where, f"{entity.name} is a child-row entity: its rows are rendered with their parent")
            continue
        path = templates.file(template)
        if path is None:
            problems.add(
                where,
                f"template {entity.name}.{template.name}: no file {template.file!r} in any pack's templates/ folder",
            )
            continue
        try:
            templates.env.parse(path.read_text(encoding="utf-8"), name=template.file, filename=str(path))
        except jinja2.TemplateSyntaxError as exc:
            problems.add(f"{path}:{exc.lineno}:1", f"template error: {exc.message}")
        except UnicodeDecodeError:
            problems.add(f"{path}:1:1", "template error: the file is not UTF-8 text")
