"""``GET /api/v1/ENTITY/ID/timeline``: what happened around one record, newest first."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from engine.api.context import actor, workspace
from engine.errors import BadRequest
from engine.storage.timeline import timeline

bp = Blueprint("timeline", __name__, url_prefix="/api/v1")


@bp.get("/<entity>/<record_id>/timeline")
def record_timeline(entity: str, record_id: str) -> Any:
    params = {}
    for key in request.args:
        values = request.args.getlist(key)
        if len(values) > 1:
            raise BadRequest(f"Parameter {key!r} is given more than once")
        params[key] = values[0]
    ws = workspace()
    return jsonify(timeline(ws.records, actor(), entity, record_id, params).as_dict())
