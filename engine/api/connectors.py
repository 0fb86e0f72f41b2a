"""Connectors over HTTP: run a sync now (admins), and each connector's signed inbound webhook.

- ``POST /api/v1/connectors/NAME/sync`` (``{"full": true}`` optional): the run's summary;
  ``200`` whatever the rows did (the counts say), ``502`` when the peer could not be reached.
- ``POST /api/v1/public/connectors/NAME/webhook``: a peer pushes changed rows in real time
  (one row object, a list, or ``{"rows": [...]}``), signed like Tessera's own webhooks
  (``X-Tessera-Timestamp``, ``X-Tessera-Signature: sha256=HMAC(secret, TIMESTAMP.BODY)``)
  with the connector's ``webhook_secret``. The rows take the same path as pulled ones
  (mapping, validation, dead-letter list) in a sync run of trigger ``webhook``.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from apispec import APISpec
from flask import Blueprint, jsonify, request

from engine.api.context import json_body, require_admin, workspace
from engine.api.openapi import json_response, path_param, problem_responses
from engine.api.openapi_auth import operation, request_body
from engine.capture.signing import TOLERANCE, sign
from engine.connectors.store import UNOPENABLE, load_config
from engine.connectors.sync import run_sync
from engine.errors import AuthenticationRequired, BadRequest, NotFound, Unavailable

bp = Blueprint("connectors", __name__, url_prefix="/api/v1")
#: rows one webhook request may carry
MAX_ROWS = 1000


@bp.post("/connectors/<name>/sync")
def sync_now(name: str) -> Any:
    require_admin()
    body = json_body() if request.get_data(cache=True) else {}
    if not isinstance(body, dict) or set(body) - {"full"} or not isinstance(body.get("full", False), bool):
        raise BadRequest('Send {"full": true} to ignore the cursor, or nothing')
    summary = run_sync(workspace(), name, "manual", full=bool(body.get("full")))
    response = jsonify(summary)
    response.status_code = 502 if summary["status"] == "failed" and summary["retry"] else 200
    return response


@bp.post("/public/connectors/<name>/webhook")
def receive_rows(name: str) -> Any:
    ws = workspace()
    try:
        values = load_config(ws, name)
    except NotFound:
        raise NotFound(f"There is no connector webhook {name!r}") from None
    secret = values.get("webhook_secret")
    if "webhook_secret" in values[UNOPENABLE] and values.get("active"):  # load_config logged why
        raise Unavailable(f"The connector webhook {name!r} cannot check signatures now; try again later")
    if not secret or not values.get("active"):
        raise NotFound(f"There is no connector webhook {name!r}")
    body = request.get_data(cache=True)
    timestamp = request.headers.get("X-Tessera-Timestamp", "")
    signature = request.headers.get("X-Tessera-Signature", "")
    if not timestamp.isdigit() or not signature:
        raise AuthenticationRequired("Sign the request: X-Tessera-Timestamp and X-Tessera-Signature headers")
    if abs(time.time() - int(timestamp)) > TOLERANCE:
        raise AuthenticationRequired("The request's timestamp is too old or too far ahead; sign it again")
    if not hmac.compare_digest(sign(str(secret), timestamp, body), signature):
        raise AuthenticationRequired("The signature does not match the body and the connector's webhook secret")
    data = json_body()
    rows = data.get("rows") if isinstance(data, dict) and set(data) == {"rows"} else data
    rows = rows if isinstance(rows, list) else [rows]
    if not rows or len(rows) > MAX_ROWS or not all(isinstance(r, dict) for r in rows):
        raise BadRequest(f'Send one row object, a list of 1 to {MAX_ROWS} of them, or {{"rows": [...]}}')
    summary = run_sync(ws, str(values["name"]), "webhook", rows=rows)
    response = jsonify({k: summary[k] for k in ("id", "status", "created", "updated", "unchanged", "failed")})
    response.status_code = 202
    return response


SUMMARY = {
    "type": "object",
    "required": ["id", "name", "status", "created", "updated", "unchanged", "failed"],
    "properties": {
        "id": {"type": "string", "description": "the sync run"},
        "name": {"type": "string"},
        "status": {"enum": ["succeeded", "partial", "failed"]},
        "created": {"type": "integer"},
        "updated": {"type": "integer"},
        "unchanged": {"type": "integer"},
        "failed": {"type": "integer", "description": "rows sent to the dead-letter list"},
        "cursor": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"], "description": "why the run failed"},
        "retry": {"type": "boolean", "description": "trying later may help"},
    },
}


def add_connector_paths(spec: APISpec) -> None:
    """This blueprint's operations in the OpenAPI document (a 404 without the integrations pack)."""
    name = path_param("name", {"type": "string"})
    spec.path(
        path="/api/v1/connectors/{name}/sync",
        operations={
            "post": operation(
                "sync_connector",
                "connectors",
                "Run a connector's pull now (administrators); 502 when the peer cannot be reached",
                {
                    "200": json_response(SUMMARY),
                    "502": json_response(SUMMARY, "The peer could not be reached; try later"),
                    **problem_responses(400, 401, 403, 404, 409, 429),
                },
                parameters=[name],
                requestBody=request_body(
                    {"type": "object", "properties": {"full": {"type": "boolean"}}, "additionalProperties": False},
                    required=False,
                ),
            )
        },
    )
    rows = {"type": "object", "description": "a row as the peer sends it"}
    spec.path(
        path="/api/v1/public/connectors/{name}/webhook",
        operations={
            "post": operation(
                "receive_connector_rows",
                "connectors",
                "A peer pushes changed rows (signed with the connector's webhook secret)",
                {
                    "202": json_response(SUMMARY, "Accepted: the rows were applied or dead-lettered"),
                    **problem_responses(400, 401, 404, 409, 413, 429),
                },
                parameters=[
                    name,
                    {"name": "X-Tessera-Timestamp", "in": "header", "required": True, "schema": {"type": "string"}},
                    {"name": "X-Tessera-Signature", "in": "header", "required": True, "schema": {"type": "string"}},
                ],
                requestBody=request_body(
                    {
                        "oneOf": [
                            rows,
                            {"type": "array", "items": rows, "minItems": 1, "maxItems": MAX_ROWS},
                            {
                                "type": "object",
                                "required": ["rows"],
                                "properties": {"rows": {"type": "array", "items": rows}},
                            },
                        ]
                    }
                ),
                security=[],
            )
        },
    )
