"""Plugins' field types (``tessera_field_types``) in entity definitions.

A field declared ``type: iban`` where a plugin defines ``FieldType("iban", "string",
clean=...)`` is, everywhere in the engine, a field of its ``base`` type: the catalog
builds its :class:`~engine.meta.model.FieldDef` with ``type = base`` (the declared name
stays in ``options["type"]``), so storage columns, DSL typing, forms, list cells and the
OpenAPI document need nothing new. Pack validation checks the field's options against
the base type's JSON schema, and the input schema runs the plugin's ``clean`` after the
base type's own checks: a ``ValueError`` becomes a 422 error on that field.
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError as MarshmallowError
from marshmallow import fields as mm

from engine.hookspecs import FieldType
from engine.meta.model import FIELD_TYPES, FieldDef


def declared_types() -> dict[str, FieldType]:
    from engine.plugins import field_types

    return field_types()


def storage_type(declared: Any) -> Any:
    """The built-in type a declared field type is stored and typed as (itself if built in)."""
    if not isinstance(declared, str) or declared in FIELD_TYPES:
        return declared
    found = declared_types().get(declared)
    return found.base if found is not None else declared


def known_types() -> list[str]:
    return [*FIELD_TYPES, *declared_types()]


def plugin_type(fd: FieldDef) -> FieldType | None:
    """The plugin field type a field was declared with, if any."""
    declared = fd.options.get("type")
    if not isinstance(declared, str) or declared == fd.type:
        return None
    return declared_types().get(declared)


class PluginValue(mm.Field):
    """The base type's input field, then the plugin's ``clean``."""

    def __init__(self, inner: mm.Field, field_type: FieldType, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.inner = inner
        self.field_type = field_type

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        value = self.inner.deserialize(value, attr, data)
        if value is None or self.field_type.clean is None:
            return value
        try:
            return self.field_type.clean(value)
        except ValueError as exc:
            raise MarshmallowError(str(exc) or f"Not a valid {self.field_type.name}.") from exc


def input_field(fd: FieldDef, inner: mm.Field) -> mm.Field:
    """``inner`` (the base type's input field), wrapped to run a plugin type's ``clean``."""
    found = plugin_type(fd)
    if found is None or found.clean is None:
        return inner
    return PluginValue(inner, found, allow_none=True, required=False)
