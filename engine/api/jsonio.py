"""JSON in and out: decimals stay exact on input, dates and decimals serialise plainly."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from flask.json.provider import DefaultJSONProvider


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class TesseraJSONProvider(DefaultJSONProvider):
    sort_keys = False
    ensure_ascii = False

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, Decimal):
            return int(o) if o == o.to_integral_value() and abs(o) < 2**53 else float(o)
        if isinstance(o, dt.datetime):
            return o.isoformat()
        if isinstance(o, dt.date):
            return o.isoformat()
        return DefaultJSONProvider.default(o)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return json.loads(s, parse_float=Decimal, parse_constant=_reject_constant, **kwargs)
        except RecursionError:  # Flask's get_json only turns ValueError into "not JSON"
            raise ValueError("JSON nested too deeply") from None
