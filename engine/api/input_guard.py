"""Refuse text no database can store: a NUL character anywhere in an API request.

PostgreSQL text cannot hold U+0000 (SQLite would store it and compare it differently), so a
NUL in the path, the query string, a form field or a JSON body is refused with one clear 400
before any view runs, instead of failing deep in a driver with a 500. Record bodies are left
to the record validation, which names the field (422).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from engine.errors import BadRequest

_REFUSAL = "The request contains a NUL character (U+0000), which no text field can hold"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def register(app: Flask) -> None:
    @app.before_request
    def refuse_nul() -> None:
        if not request.path.startswith("/api/"):
            return
        if "\x00" in request.path or b"%00" in request.query_string or b"\x00" in request.query_string:
            raise BadRequest(_REFUSAL)
        if request.blueprint == "records":
            return  # record writes name the field that holds the NUL (422), as for any bad value
        if request.is_json:
            if _has_nul(request.get_json(silent=True)):
                raise BadRequest(_REFUSAL)
        elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            if any(_has_nul(v) for v in request.form.listvalues()):
                raise BadRequest(_REFUSAL)
