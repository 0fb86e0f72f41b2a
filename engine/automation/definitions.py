"""Automation documents of the packs and their run-time overlays, ready to compile.

Each kind lives in a pack folder (``rules/``, ``workflows/``, ``sla/``, ``calendars/``) and
can be stored as an overlay of the same kind. An overlay with the name of a pack's
definition replaces it (an admin changes a shipped rule); ``enabled: false`` switches a
definition off without deleting it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.meta.catalog import Catalog, overlay_document, report_schema_errors
from engine.meta.problems import Problems
from engine.meta.source import Document, format_path

#: overlay kind -> pack folder; every kind has a JSON Schema of the same name
KINDS = {"rule": "rules", "workflow": "workflows", "sla": "sla", "calendar": "calendars"}
#: the key naming a definition inside its document (rules are items of a ``rules:`` list)
NAME_KEYS = {"rule": "name", "workflow": "workflow", "sla": "sla", "calendar": "calendar"}


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
        if kind == "rule":
            if report_schema_errors(doc, "rules", problems):
                continue
            items: list[tuple[tuple[Any, ...], Any]] = [(("rules", i), r) for i, r in enumerate(doc.data["rules"])]
        else:
            if report_schema_errors(doc, kind, problems):
                continue
            items = [((), doc.data)]
        for path, data in items:
            definition = Definition(kind, data[name_key], data, doc, path, pack.name)
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
        if report_schema_errors(doc, kind, problems):
            continue
        found[overlay.target] = Definition(kind, overlay.target, overlay.document, doc, (), "overlay")
    return [d for d in found.values() if include_disabled or d.enabled]
