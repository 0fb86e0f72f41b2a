"""marshmallow schemas generated from entity definitions: what a client may write.

One schema per entity validates types, lengths, ranges, options and formats; ``required``
and defaults are applied by the data-access layer afterwards, because a PATCH may omit a
required field and a default may fill one in.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, validate
from marshmallow import ValidationError as MarshmallowError
from marshmallow import fields as mm

from engine.errors import FieldError, ValidationError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef
from engine.plugin_fields import input_field
from engine.storage import fields as f

#: system fields a client may send back unchanged (ignored); ``owner`` is writable
IGNORED_SYSTEM_FIELDS = frozenset({"id", "version", "created_at", "created_by", "updated_at", "updated_by"})


def _range(fd: FieldDef) -> list[Any]:
    lo, hi = fd.opt("min"), fd.opt("max")
    if fd.type == "percent":
        lo = 0 if lo is None else lo
        hi = 100 if hi is None else hi
    if fd.type == "rating":
        lo, hi = 0, fd.opt("max", 5)
    if lo is None and hi is None:
        return []
    return [validate.Range(min=lo, max=hi)]


def marshmallow_field(fd: FieldDef, catalog: Catalog) -> mm.Field:
    kw: dict[str, Any] = {"allow_none": True, "required": False}
    t = fd.type
    if t in ("string", "text", "email", "phone", "url", "secret", "file"):
        checks: list[Any] = []
        if fd.max_length:
            checks.append(validate.Length(max=fd.max_length))
        if t == "email":
            checks.append(f.email_validator)
        elif t == "url":
            checks.append(f.url_validator)
        elif t == "phone":
            checks.append(f.phone_validator)
        elif t == "string" and fd.opt("pattern"):
            checks.append(validate.Regexp(re.compile(fd.opt("pattern")), error="Does not match the expected format."))
        return f.StrictString(single_line=t not in ("text", "secret"), validate=checks, **kw)
    if t == "int":
        return f.StrictInteger(validate=_range(fd), **kw)
    if t == "rating":
        return f.StrictInteger(validate=_range(fd), **kw)
    if t in ("decimal", "money", "percent"):
        return f.DecimalValue(scale=fd.scale, digits=9 if t == "percent" else 18, validate=_range(fd), **kw)
    if t == "bool":
        return f.StrictBoolean(**kw)
    if t == "date":
        return f.DateValue(**kw)
    if t == "datetime":
        return f.DateTimeValue(**kw)
    if t == "duration":
        return f.DurationValue(validate=_range(fd), **kw)
    if t == "enum":
        values = [o.value for o in fd.enum_options]
        return f.StrictString(validate=validate.OneOf(values, error=f"Must be one of: {', '.join(values)}."), **kw)
    if t == "multi_enum":
        return f.EnumList(choices=[o.value for o in fd.enum_options], **kw)
    if t in ("link", "user", "team"):
        return f.RecordId(**kw)
    if t == "links":
        return f.IdList(**kw)
    if t == "json":
        return f.JsonValue(**kw)
    if t == "table":
        child = catalog.entities[fd.opt("of")]
        return mm.List(mm.Nested(build_schema(child, catalog, child_row=True)), **kw)
    raise ValueError(f"no input field for type {t!r}")


def build_schema(entity: EntityDef, catalog: Catalog, child_row: bool = False, system: bool = False) -> Schema:
    """The input schema of ``entity``: every writable field, unknown keys rejected.

    ``system`` (automation) may also write read-only fields that are not computed or rolled up."""
    declared: dict[str, mm.Field] = {}
    for fd in entity.fields.values():
        if fd.readonly and not (system and not fd.is_computed and not fd.is_rollup and fd.type != "autonumber"):
            continue
        declared[fd.name] = input_field(fd, marshmallow_field(fd, catalog))  # + a plugin type's clean
    if child_row:
        declared["id"] = f.RecordId(allow_none=True, required=False)
    else:
        declared["owner"] = f.RecordId(allow_none=True, required=False)
    schema_cls = Schema.from_dict(declared, name=f"{entity.name.title()}Input")
    return schema_cls(unknown=RAISE)


def _flatten(messages: Any, prefix: str = "") -> list[FieldError]:
    out: list[FieldError] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            out += _flatten(value, name)
    elif isinstance(messages, list):
        for message in messages:
            if isinstance(message, (dict, list)):
                out += _flatten(message, prefix)
            else:
                text = "Unknown field." if message == "Unknown field." else str(message)
                out.append(FieldError(prefix or "(body)", text))
    else:
        out.append(FieldError(prefix or "(body)", str(messages)))
    return out


def _load_fields(schema: Schema, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``schema.load(data)`` (every field optional, no defaults, unknown keys refused), field
    by field: the values given, and the messages per field in the schema's order, then the
    unknown keys'. Only the fields present are visited (marshmallow visits every field of
    the schema, which for a wide entity costs more than the values)."""
    fields = schema.load_fields
    loaded: dict[str, Any] = {}
    refused: dict[str, Any] = {}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            refused[key] = ["Unknown field."]
            continue
        try:
            loaded[key] = field.deserialize(value, key, data)
        except MarshmallowError as exc:
            refused[key] = exc.messages
    if not refused:
        return loaded, refused
    messages = {k: refused.pop(k) for k in fields if k in refused}
    return loaded, {**messages, **refused}


def load_input(schema: Schema, entity: EntityDef, data: Any, system: bool = False) -> dict[str, Any]:
    """Validate a client document; raise ``ValidationError`` listing every bad field.

    ``system`` writes (rules, workflows, SLA clocks) may set read-only fields, never computed ones."""
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object", [FieldError("(body)", "Must be a JSON object.")])
    if not IGNORED_SYSTEM_FIELDS.isdisjoint(data):
        data = {k: v for k, v in data.items() if k not in IGNORED_SYSTEM_FIELDS}
    errors = []
    if not entity.readonly_names.isdisjoint(data):
        readonly = [
            k
            for k in data
            if k in entity.readonly_names
            and not (
                system and not (fd := entity.fields[k]).is_computed and not fd.is_rollup and fd.type != "autonumber"
            )
        ]
        errors = [FieldError(k, "Is read-only.") for k in readonly]
        data = {k: v for k, v in data.items() if k not in readonly}
    loaded, messages = _load_fields(schema, data)
    if messages:
        errors += _flatten(messages)
    if errors:
        raise ValidationError(f"The {entity.name} is not valid", errors)
    return loaded
