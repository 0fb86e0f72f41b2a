"""Generic record routes: ``/api/v1/<entity>`` for every entity of the live metadata."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine.api.context import actor, if_match, json_body, workspace
from engine.automation.record_actions import approval_history, run_action
from engine.errors import BadRequest

bp = Blueprint("records", __name__, url_prefix="/api/v1")


def _params() -> dict[str, str]:
    params: dict[str, str] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if len(values) > 1:
            raise BadRequest(f"Parameter {key!r} is given more than once")
        params[key] = values[0]
    return params


def _allow_duplicates() -> bool:
    """``?allow_duplicates=true``: write a record duplicate rules would block (needs the rule's role)."""
    value = request.args.get("allow_duplicates")
    if value is None:
        return False
    if value not in ("true", "false"):
        raise BadRequest("allow_duplicates must be true or false")
    return value == "true"


def _record_response(record: dict[str, Any], status: int = 200) -> Response:
    response = jsonify(record)
    response.status_code = status
    if "version" in record:
        response.headers["ETag"] = f'"{record["version"]}"'
    return response


@bp.get("/<entity>")
def list_records(entity: str) -> Any:
    return jsonify(workspace().records.list(actor(), entity, _params()).as_dict())


@bp.post("/<entity>")
def create_record(entity: str) -> Any:
    key = request.headers.get("Idempotency-Key")
    record = workspace().records.create(
        actor(), entity, json_body(), idempotency_key=key, allow_duplicates=_allow_duplicates()
    )
    response = _record_response(record, 201)
    response.headers["Location"] = f"/api/v1/{entity}/{record['id']}"
    return response


@bp.post("/<entity>/aggregate")
def aggregate(entity: str) -> Any:
    return jsonify(workspace().records.aggregate(actor(), entity, json_body()).as_dict())


@bp.post("/<entity>/bulk")
def bulk(entity: str) -> Any:
    ignored = [name for name in ("Idempotency-Key", "If-Match") if name in request.headers]
    if ignored:  # refused, not ignored: a client sending one counts on what it promises
        raise BadRequest(f"Bulk requests take no {' or '.join(ignored)}; send single requests to use it")
    return jsonify({"data": workspace().records.bulk(actor(), entity, json_body(), _allow_duplicates())})


@bp.get("/<entity>/<record_id>")
def get_record(entity: str, record_id: str) -> Any:
    return _record_response(workspace().records.get(actor(), entity, record_id, _params()))


@bp.patch("/<entity>/<record_id>")
def patch_record(entity: str, record_id: str) -> Any:
    data = json_body()
    records = workspace().records
    return _record_response(records.update(actor(), entity, record_id, data, if_match(), _allow_duplicates()))


@bp.delete("/<entity>/<record_id>")
def delete_record(entity: str, record_id: str) -> Any:
    workspace().records.delete(actor(), entity, record_id, if_match())
    return Response(status=204)


@bp.post("/<entity>/<record_id>/restore")
def restore_record(entity: str, record_id: str) -> Any:
    return _record_response(workspace().records.restore(actor(), entity, record_id))


@bp.get("/<entity>/<record_id>/history")
def history(entity: str, record_id: str) -> Any:
    return jsonify(workspace().records.history(actor(), entity, record_id, _params()).as_dict())


@bp.get("/<entity>/<record_id>/related/<link>")
def related(entity: str, record_id: str, link: str) -> Any:
    return jsonify(workspace().records.related(actor(), entity, record_id, link, _params()).as_dict())


@bp.post("/<entity>/<record_id>/actions/<name>")
def action(entity: str, record_id: str, name: str) -> Any:
    body = json_body() if request.get_data(cache=True) else {}  # the body is optional
    return _record_response(run_action(workspace().records, actor(), entity, record_id, name, body))


@bp.get("/<entity>/<record_id>/approvals")
def approvals(entity: str, record_id: str) -> Any:
    return jsonify({"data": approval_history(workspace().records, actor(), entity, record_id)})
