"""JSON-strict marshmallow fields, one per Tessera field type.

marshmallow's stock ``Integer`` accepts ``2.59e-42`` and ``"7"``, its ``Boolean`` accepts
``0`` and ``"yes"``: an API that takes those silently stores something the client did not
mean. These fields accept exactly the JSON shapes documented in docs/api.md.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from marshmallow import ValidationError, fields, missing, validate

from engine.storage.ids import is_id

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(w|d|h|m|s)")
_ISO_DURATION = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{1,38}[0-9]$")


class Field(fields.Field):
    """A marshmallow field with a shorter path for a value that passes: marshmallow builds
    a combined validator for every value (an import of many rows pays for it); here the
    validators run one by one, and only a refused value goes through marshmallow's own
    path, which gathers every validator's message."""

    @cached_property
    def _plain(self) -> bool:
        """No load hooks: a value that passes may take the shorter path."""
        return not (getattr(self, "pre_load", None) or getattr(self, "post_load", None))

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        if value is None or value is missing or not self._plain:
            return super().deserialize(value, attr, data, **kwargs)
        output = self._deserialize(value, attr, data, **kwargs)
        self._validate(output)
        return output

    def _validate(self, value: Any) -> None:
        for check in self.validators:
            try:
                passed = check(value) is not False or isinstance(check, validate.Validator)
            except ValidationError:
                passed = False
            if not passed:
                super()._validate(value)  # raises with every validator's message
                return


class StrictString(Field):
    def __init__(self, *, single_line: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.single_line = single_line

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Must be a string.")
        if "\x00" in value:
            raise ValidationError("Must not contain NUL characters.")
        if self.single_line and ("\n" in value or "\r" in value):
            raise ValidationError("Must be a single line.")
        return value


class StrictInteger(Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError("Must be an integer.")
        if isinstance(value, int):
            number = value
        elif isinstance(value, (float, Decimal)) and math.isfinite(value) and value == int(value):
            number = int(value)
        else:
            raise ValidationError("Must be an integer.")
        if abs(number) > 2**63 - 1:
            raise ValidationError("Must be between -9223372036854775807 and 9223372036854775807.")
        return number


class StrictBoolean(Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


class DecimalValue(Field):
    """A JSON number or a decimal string, with at most ``scale`` decimal places."""

    def __init__(self, *, scale: int, digits: int = 18, **kwargs: Any):
        super().__init__(**kwargs)
        self.scale, self.digits = scale, digits

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
            raise ValidationError("Must be a number or a decimal string.")
        try:
            number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
        except InvalidOperation:
            raise ValidationError("Must be a number or a decimal string.") from None
        if not number.is_finite():
            raise ValidationError("Must be a finite number.")
        if number and number.adjusted() >= self.digits - self.scale:  # before quantize: 1e999999 would overflow it
            raise ValidationError(f"At most {self.digits - self.scale} digits before the decimal point.")
        exponent = number.as_tuple().exponent
        if (
            isinstance(exponent, int)
            and -exponent > self.scale
            and number != number.quantize(Decimal(1).scaleb(-self.scale))
        ):
            raise ValidationError(f"At most {self.scale} decimal places.")
        number = number.quantize(Decimal(1).scaleb(-self.scale))
        if len(number.as_tuple().digits) > self.digits:
            raise ValidationError(f"At most {self.digits - self.scale} digits before the decimal point.")
        return number


class DateValue(Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.date:
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValidationError("Must be a date as YYYY-MM-DD.")
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValidationError("Not a valid calendar date.") from None


class DateTimeValue(Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.datetime:
        if not isinstance(value, str) or len(value) > 40:
            raise ValidationError("Must be an ISO 8601 datetime with offset, e.g. 2026-01-31T09:30:00+01:00.")
        try:
            parsed = dt.datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise ValidationError("Must be an ISO 8601 datetime with offset, e.g. 2026-01-31T09:30:00+01:00.") from None
        if parsed.tzinfo is None:
            raise ValidationError("Needs a time zone offset (e.g. +00:00 or Z).")
        try:
            utc = parsed.astimezone(dt.UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is before year 1 in UTC
            raise ValidationError("Year out of range.") from None
        if not 1 <= utc.year <= 9998:
            raise ValidationError("Year out of range.")
        return utc


def parse_duration(value: str) -> int | None:
    """Seconds of ``"2d 4h"``/``"30m"`` or ISO 8601 ``"PT4H"``; None when not a duration."""
    text = value.strip()
    iso = _ISO_DURATION.match(text)
    if iso and text != "P":
        w, d, h, m, s = (float(g) if g else 0 for g in iso.groups())
        return int(w * 604800 + d * 86400 + h * 3600 + m * 60 + s)
    parts = _DURATION_PART.findall(text)
    if parts and _DURATION_PART.sub("", text).strip() == "":
        return int(sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))
    return None


class DurationValue(Field):
    """Seconds (an integer) or a text duration ``"2d 4h"`` / ``"PT4H"``."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError("Must be a number of seconds or a duration like '2d 4h'.")
        if isinstance(value, int) or (
            isinstance(value, (float, Decimal)) and math.isfinite(value) and value == int(value)
        ):
            seconds = int(value)
        elif isinstance(value, str) and parse_duration(value) is not None:
            seconds = parse_duration(value)  # type: ignore[assignment]
        else:
            raise ValidationError("Must be a number of seconds or a duration like '2d 4h'.")
        if not 0 <= seconds <= 2**62:
            raise ValidationError("Must be a non-negative duration.")
        return seconds


class RecordId(Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if not is_id(value):
            raise ValidationError("Must be a record id.")
        return value


class IdList(Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        if not isinstance(value, list) or not all(is_id(v) for v in value):
            raise ValidationError("Must be a list of record ids.")
        if len(set(value)) != len(value):
            raise ValidationError("Must not repeat an id.")
        if len(value) > 1000:
            raise ValidationError("At most 1000 ids.")
        return value


class EnumList(Field):
    def __init__(self, *, choices: list[str], **kwargs: Any):
        super().__init__(**kwargs)
        self.choices = choices

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValidationError("Must be a list of strings.")
        bad = [v for v in value if v not in self.choices]
        if bad:
            raise ValidationError(f"Must be among: {', '.join(self.choices)}.")
        return list(dict.fromkeys(value))


MAX_JSON_DEPTH = 64


def _plain_json(value: Any, depth: int = 0) -> Any:
    """Request JSON parses fractions as ``Decimal`` (exact for decimal fields); a ``json``
    field stores plain JSON, so they become floats. NUL cannot be stored (PostgreSQL jsonb),
    and the depth is bounded (deep documents exhaust the stack when stored or returned)."""
    if depth > MAX_JSON_DEPTH:
        raise ValidationError(f"Nested too deeply (at most {MAX_JSON_DEPTH} levels).")
    if isinstance(value, Decimal):
        number = float(value)
        if not math.isfinite(number):
            raise ValidationError("Numbers must be finite.")
        return number
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError("Must not contain NUL characters.")
        return value
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        raise ValidationError("Integers must fit in 64 bits.")  # SQLite would keep a bare one as a float
    if isinstance(value, list):
        return [_plain_json(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {_plain_json(k, depth + 1): _plain_json(v, depth + 1) for k, v in value.items()}
    return value


class JsonValue(Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        return _plain_json(value)


def phone_validator(value: str) -> None:
    if not PHONE.match(value) or sum(map(str.isdigit, value)) < 3:
        raise ValidationError("Not a valid phone number.")


email_validator = validate.Email(error="Not a valid email address.")
url_validator = validate.URL(
    relative=False, schemes={"http", "https"}, require_tld=False, error="Not a valid http(s) URL."
)
