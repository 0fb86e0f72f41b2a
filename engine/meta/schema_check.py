"""JSON Schema validation of pack documents, one schema per document kind and field type.

Schemas live in ``engine/meta/schemas`` and ship with the engine, so third-party pack
authors can point their editors at them. A field is validated against the schema of its
declared type only, which keeps messages precise ("'to' is a required property" rather
than a dozen ``oneOf`` branches failing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema import ValidationError as SchemaError
from referencing import Registry, Resource

from engine.meta.model import FIELD_TYPES
from engine.plugin_fields import known_types, storage_type

_BASE = "https://tessera.dev/schemas/"
#: automation document kinds (engine.automation.definitions)
AUTOMATION_SCHEMAS = ("rules", "rule", "action", "workflow", "sla", "calendar", "actions", "record_action")
#: public capture document kinds (engine.capture): web forms and inbound hooks
CAPTURE_SCHEMAS = ("form", "hook")
#: other document kinds of later layers (engine.dashboards, engine.layouts, engine.reports)
VIEW_SCHEMAS = ("dashboard", "layout", "report")


@cache
def _registry() -> Registry:
    root = resources.files("engine.meta") / "schemas"
    resources_: list[tuple[str, Resource]] = []
    documents = ("common", "pack", "entity", "extension", "duplicates")
    for name in (*documents, *AUTOMATION_SCHEMAS, *CAPTURE_SCHEMAS, *VIEW_SCHEMAS):
        doc = json.loads((root / f"{name}.json").read_text())
        resources_.append((_BASE + f"{name}.json", Resource.from_contents(doc)))
    for type_name in FIELD_TYPES:
        doc = json.loads((root / "fields" / f"{type_name}.json").read_text())
        resources_.append((_BASE + f"fields/{type_name}.json", Resource.from_contents(doc)))
    return Registry().with_resources(resources_)


@cache
def validator(kind: str) -> Draft202012Validator:
    """Validator for ``pack``, ``entity``, ``extension`` or ``fields/<type>``."""
    schema = _registry().contents(_BASE + f"{kind}.json")
    return Draft202012Validator(schema, registry=_registry())


def _unexpected_key(error: SchemaError) -> str | None:
    match = re.search(r"\('([^']+)' (?:was|were) unexpected\)", error.message)
    return match.group(1) if match else None


def _message(error: SchemaError) -> str:
    key = _unexpected_key(error)
    if key:
        return f"unknown key {key!r}"
    if error.validator == "oneOf" and error.context:
        # the least deep branch failure is usually the helpful one
        best = min(error.context, key=lambda e: len(e.path))
        return best.message
    return error.message


def iter_errors(kind: str, data: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield ``(path inside the document, message)`` for every schema violation.

    For entity and extension documents each field is checked against its own type's
    schema as well.
    """
    for error in sorted(validator(kind).iter_errors(data), key=lambda e: list(map(str, e.path))):
        path = tuple(error.absolute_path)
        key = _unexpected_key(error)
        yield ((*path, key) if key else path), _message(error)
    if kind in ("entity", "extension") and isinstance(data, dict) and isinstance(data.get("fields"), dict):
        for name, spec in data["fields"].items():
            if not isinstance(spec, dict) or "type" not in spec:
                continue
            type_name = storage_type(spec["type"])  # a plugin's field type: its base type's options
            if type_name not in FIELD_TYPES:
                yield (
                    ("fields", name, "type"),
                    (f"unknown field type {spec['type']!r}; known types: {', '.join(known_types())}"),
                )
                continue
            for path, message in iter_errors(f"fields/{type_name}", spec):
                yield ("fields", name, *path), message
