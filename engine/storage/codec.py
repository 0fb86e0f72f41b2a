"""Converting between stored values and the JSON shapes of the API.

Output is built straight from rows (no marshmallow on the read path: it would dominate
the cost of a list). Input goes through ``engine.storage.validation``.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from engine.errors import BadRequest
from engine.meta.model import FieldDef
from engine.storage import fields as f
from engine.storage.ids import is_id

# shown instead of a secret value (not a secret itself)
SECRET_MASK = "********"  # nosec B105


_AS_IS = frozenset({str, int, bool, float})


def to_json(value: Any) -> Any:
    """A JSON-ready version of a stored value (for audit entries and cursors)."""
    if value is None or type(value) in _AS_IS:
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat() if value.tzinfo else value.replace(tzinfo=dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def output_value(fd: FieldDef, value: Any) -> Any:
    """The API value of a stored field: decimals stay Decimal (written as exact JSON numbers)."""
    if value is None:
        return None
    if fd.type == "secret":
        return SECRET_MASK
    if fd.type == "bool":
        return bool(value)
    if fd.type in ("decimal", "money", "percent"):
        return at_scale(value, fd.scale)
    return to_json(value)


def at_scale(value: Any, scale: int, rounding: str = ROUND_HALF_EVEN) -> Decimal | None:
    """A number rounded to ``scale`` places, however many digits it has (a virtual computed
    value has no column to fit; the default 28 digits made rounding a larger one raise);
    None for an infinite one or NaN, which no field shows."""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    if not number.is_finite():
        return None
    digits = number.adjusted() + scale + 2  # a context of its own only when the default's 28 do not do
    return number.quantize(Decimal(1).scaleb(-scale), rounding, Context(prec=digits) if digits > 28 else None)


def _identity(value: Any) -> Any:
    return value


def iso_or_none(value: Any) -> Any:
    return None if value is None else value.isoformat()


def converter(fd: FieldDef) -> Any:
    """A function turning stored values of ``fd`` into API values (chosen once per field)."""
    if fd.type == "secret":
        return lambda v: None if v is None else SECRET_MASK
    if fd.type == "bool":
        return lambda v: None if v is None else bool(v)
    if fd.type in ("decimal", "money", "percent"):
        quantum = Decimal(1).scaleb(-fd.scale)
        return lambda v: None if v is None else Decimal(str(v)).quantize(quantum)
    if fd.type in ("date", "datetime"):
        return iso_or_none  # datetimes come back aware (UTC) from the column type
    return _identity


_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
_SYSTEM_QUERY_TYPES = {
    "version": "int",
    "created_at": "datetime",
    "updated_at": "datetime",
    "owner": "user",
    "created_by": "user",
    "updated_by": "user",
}


def parse_query_value(fd: FieldDef | None, name: str, text: str) -> Any:
    """A ``?field=value`` query value, typed by the field; ``null`` means no value."""
    t = fd.type if fd else _SYSTEM_QUERY_TYPES.get(name, "string")
    if "\x00" in text:
        raise BadRequest(f"The value of {name} must not contain NUL characters")
    if text == "null" and t not in ("string", "text"):
        return None
    try:
        if t in ("int", "rating"):
            return _in_range(int(text), t)
        if t == "duration":
            seconds = f.parse_duration(text) if not text.isdigit() else int(text)
            if seconds is None:
                raise ValueError
            return _in_range(seconds, t)
        if t in ("decimal", "money", "percent") and fd is not None:
            number = Decimal(text)
            if not number.is_finite():
                raise ValueError
            scaled = number.quantize(Decimal(1).scaleb(-fd.scale))  # InvalidOperation when too large
            if scaled != number or len(scaled.as_tuple().digits) > 18:
                raise ValueError  # more decimals or digits than the column holds
            return scaled
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
            return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)  # may overflow
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


_INT_RANGES = {"rating": (-(2**15), 2**15 - 1), "duration": (0, 2**63 - 1)}


def _in_range(number: int, fd_type: str) -> int:
    """Integers outside the column's range can match nothing and would fail to bind."""
    lo, hi = _INT_RANGES.get(fd_type, (-(2**63) + 1, 2**63 - 1))
    if not lo <= number <= hi:
        raise ValueError(f"{number} is out of range")
    return number


def cursor_value(fd_type: str, value: Any) -> Any:
    """Decode a value stored in a pagination cursor back to its Python type.

    A cursor comes from the client, so every value is checked against the column's type:
    a string compared with an integer column fails on PostgreSQL. Raises ValueError."""
    if value is None:
        return None
    if fd_type in ("int", "rating", "duration", "version"):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("not an integer")
        return _in_range(value, fd_type)
    if fd_type == "bool":
        if not isinstance(value, bool):
            raise ValueError("not a boolean")
        return value
    if fd_type in ("decimal", "money", "percent"):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("not a number")
        try:
            number = Decimal(str(value))
        except ArithmeticError:  # decimal.InvalidOperation
            raise ValueError("not a number") from None
        if not number.is_finite() or (number and not -30 < number.adjusted() < 18):
            raise ValueError("not a storable number")
        return number
    if not isinstance(value, str) or "\x00" in value:
        raise ValueError("not a string")
    if fd_type == "date":
        return dt.date.fromisoformat(value)
    if fd_type == "datetime":
        moment = dt.datetime.fromisoformat(value)
        try:
            return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        except OverflowError:
            raise ValueError("out of range") from None
    if fd_type in ("id", "link", "user", "team") and not is_id(value):
        raise ValueError("not an id")
    return value
