"""Automation documents of the packs and their run-time overlays, ready to compile.

Each kind lives in a pack folder (``rules/``, ``workflows/``, ``sla/``, ``calendars/``,
``actions/``) and can be stored as an overlay of the same kind. An overlay with the name of a pack's
definition replaces it (an admin changes a shipped rule); ``enabled: false`` switches a
definition off without deleting it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.meta.catalog import Catalog, overlay_document, report_schema_errors
from engine.meta.problems import Problems
from engine.meta.source import Document, format_path

#: overlay kind -> pack folder
KINDS = {"rule": "rules", "workflow": "workflows", "sla": "sla", "calendar": "calendars", "action": "actions"}
KINDS.update(form="forms", hook="hooks")  # public capture (engine.capture)
KINDS.update(dashboard="dashboards", layout="layouts")  # engine.dashboards, engine.layouts
KINDS.update(report="reports")  # engine.reports
#: the key naming a definition inside its document (rules are items of a ``rules:`` list)
NAME_KEYS = {"rule": "name", "workflow": "workflow", "sla": "sla", "calendar": "calendar", "action": "name"}
NAME_KEYS.update(form="form", hook="hook", dashboard="dashboard", layout="layout", report="report")
#: kinds whose pack files hold a list (``rules: [...]``, ``actions: [...]``), one item a definition
LISTS = {"rule": "rules", "action": "actions"}
#: the JSON Schema of one definition, when not named after its kind (``action.json`` is a step)
SCHEMAS = {"action": "record_action"}


def definition_name(kind: str, data: Any) -> str | None:
    """The name a definition is known by: record actions are per entity (``inquiry.convert``)."""
    if not isinstance(data, dict) or not isinstance(data.get(NAME_KEYS[kind]), str):
        return None
    if kind == "action":
        return f"{data.get('entity')}.{data['name']}"
    return str(data[NAME_KEYS[kind]])


@dataclass(frozen=True)
class Definition:
    kind: str
    name: str
    data: dict[str, Any]
    doc: Document
    #: where the definition sits inside ``doc`` (``("rules", 2)`` for the third rule of a file)
    path: tuple[Any, ...]
    pack: str

    def location(self, *sub: Any) -> str:
        if self.pack == "overlay":  # a stored document has no lines: name the place by its path
            return f"{self.doc.path}:{format_path([*self.path, *sub])}"
        return self.doc.location([*self.path, *sub])

    def where(self, *sub: Any) -> str:
        """``rule escalate_p1 do[0].set`` style label for messages inside expressions."""
        return f"{self.kind} {self.name}" + (f" {format_path(list(sub))}" if sub else "")

    @property
    def enabled(self) -> bool:
        return self.data.get("enabled", True) is not False


def collect(catalog: Catalog, kind: str, problems: Problems, include_disabled: bool = False) -> list[Definition]:
    """The definitions of ``kind`` in force: packs first, overlays replacing by name."""
    found: dict[str, Definition] = {}
    name_key = NAME_KEYS[kind]
    for pack, doc in catalog.documents.get(KINDS[kind], []):
        if kind in LISTS:
            key = LISTS[kind]
            if report_schema_errors(doc, key, problems):
                continue
            items: list[tuple[tuple[Any, ...], Any]] = [((key, i), r) for i, r in enumerate(doc.data[key])]
        else:
            if report_schema_errors(doc, kind, problems):
                continue
            items = [((), doc.data)]
        for path, data in items:
            definition = Definition(kind, definition_name(kind, data) or "", data, doc, path, pack.name)
            earlier = found.get(definition.name)
            if earlier is not None:
                problems.add(
                    definition.location(name_key),
                    f"{kind} {definition.name!r} is already defined at {earlier.location(NAME_KEYS[kind])}",
                )
                continue
            found[definition.name] = definition
    for overlay in catalog.overlays:
        if overlay.kind != kind:
            continue
        doc = overlay_document(overlay)
        if report_schema_errors(doc, SCHEMAS.get(kind, kind), problems):
            continue
        found[overlay.target] = Definition(kind, overlay.target, overlay.document, doc, (), "overlay")
    return [d for d in found.values() if include_disabled or d.enabled]
