"""Record links (``/api/v1/public/respond/TOKEN``): answer a form about one record, no login.

``GET`` describes the form (fields, labels, scale) and the record's title; ``POST`` takes
the answer once (``engine.capture.record_links``). Both are counted against the client
address like the other public endpoints.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from engine.api.capture import DEFAULT_MESSAGE, _locale, _throttle, describe_fields
from engine.api.context import json_body, workspace
from engine.capture.record_links import open_link, respond
from engine.errors import BadRequest
from engine.storage.derivation import label_text

bp = Blueprint("respond", __name__, url_prefix="/api/v1/public/respond")


@bp.get("/<token>")
def describe(token: str) -> Any:
    form, record = open_link(workspace(), token)
    _throttle(form)
    entity = workspace().snapshot().catalog.entities[form.entity]
    locale = _locale()
    title = record.get(entity.title) if entity.title else None
    label = label_text(form.label or form.name.replace("_", " ").capitalize(), locale)
    return jsonify({"form": form.name, "label": label, "record": title, "fields": describe_fields(form, locale)})


@bp.post("/<token>")
def answer(token: str) -> Any:
    data = json_body() if request.is_json else request.form.to_dict()
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object of field values")
    form, _ = open_link(workspace(), token)
    _throttle(form)
    respond(workspace(), token, data, request.remote_addr or "?")
    response = jsonify({"status": "received", "message": label_text(form.message or DEFAULT_MESSAGE, _locale())})
    response.status_code = 200
    return response
