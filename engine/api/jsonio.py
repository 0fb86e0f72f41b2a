"""JSON in and out: decimals stay exact both ways, dates serialise as ISO 8601."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import simplejson
from flask.json.provider import DefaultJSONProvider


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _default(o: Any) -> Any:
    if isinstance(o, dt.datetime | dt.date):
        return o.isoformat()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


class TesseraJSONProvider(DefaultJSONProvider):
    """Decimals are written as exact JSON numbers (simplejson), never through a float."""

    sort_keys = False
    ensure_ascii = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return simplejson.dumps(obj, use_decimal=True, default=_default, ensure_ascii=False)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        # Flask's get_json only turns ValueError into "not JSON": bodies that are not UTF-8
        # (RFC 8259), nest too deeply or hold lone surrogates (no database stores them) are not
        text = s.decode("utf-8") if isinstance(s, bytes | bytearray) else s
        try:
            data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant, **kwargs)
            if "\\ud" in text or "\\uD" in text:  # an escaped surrogate must be half of a pair
                simplejson.dumps(data, use_decimal=True, ensure_ascii=False).encode("utf-8")
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        return data
