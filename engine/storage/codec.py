"""Converting between stored values and the JSON shapes of the API.

Output is built straight from rows (no marshmallow on the read path: it would dominate
the cost of a list). Input goes through ``engine.storage.validation``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from engine.errors import BadRequest
from engine.meta.model import FieldDef
from engine.storage import fields as f
from engine.storage.ids import is_id

SECRET_MASK = "********"


def to_json(value: Any) -> Any:
    """A JSON-ready version of a stored value (for audit entries and cursors)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat() if value.tzinfo else value.replace(tzinfo=dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def output_value(fd: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    if fd.type == "secret":
        return SECRET_MASK
    if fd.type == "bool":
        return bool(value)
    if fd.type in ("decimal", "money", "percent"):
        return to_json(Decimal(value).quantize(Decimal(1).scaleb(-fd.scale)))
    return to_json(value)


_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def parse_query_value(fd: FieldDef | None, name: str, text: str) -> Any:
    """A ``?field=value`` query value, typed by the field; ``null`` means no value."""
    t = fd.type if fd else "string"
    if text == "null" and t not in ("string", "text"):
        return None
    try:
        if t in ("int", "rating"):
            return int(text)
        if t == "duration":
            seconds = f.parse_duration(text) if not text.isdigit() else int(text)
            if seconds is None:
                raise ValueError
            return seconds
        if t in ("decimal", "money", "percent"):
            number = Decimal(text)
            if not number.is_finite():
                raise ValueError
            return number
        if t == "bool":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if t == "date":
            return dt.date.fromisoformat(text)
        if t == "datetime":
            value = dt.datetime.fromisoformat(text)
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if t in ("link", "user", "team") or name in ("id", "owner", "created_by", "updated_by"):
            if not is_id(text):
                raise ValueError
            return text
        if t == "enum" and fd is not None:
            values = [o.value for o in fd.enum_options]
            if text not in values:
                raise BadRequest(f"{name} must be one of: {', '.join(values)}")
    except (ValueError, ArithmeticError):
        raise BadRequest(f"{text!r} is not a valid value for {name} ({t})") from None
    return text


def cursor_value(fd_type: str, value: Any) -> Any:
    """Decode a value stored in a pagination cursor back to its Python type."""
    if value is None:
        return None
    if fd_type in ("decimal", "money", "percent"):
        return Decimal(str(value))
    if fd_type == "date":
        return dt.date.fromisoformat(value)
    if fd_type == "datetime":
        return dt.datetime.fromisoformat(value)
    if fd_type in ("int", "rating", "duration", "version"):
        return int(value)
    if fd_type == "bool":
        return bool(value)
    return value
