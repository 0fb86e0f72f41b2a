"""Metadata endpoints: read the effective definitions, add overlays (admin).

``/meta/documents`` serves the automation documents (rules, workflows, SLA definitions,
calendars) of packs and overlays; ``engine.overlays`` validates and stores them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine import overlays
from engine.api.context import actor, json_body, workspace
from engine.api.describe import entity_document, entity_summary
from engine.automation.definitions import KINDS
from engine.errors import BadRequest, NotFound

bp = Blueprint("meta", __name__, url_prefix="/api/v1/meta")


@bp.get("/entities")
def entities() -> Any:
    catalog = workspace().records.catalog_for(actor())
    return jsonify({"data": [entity_summary(e) for e in catalog.api_entities()]})


@bp.get("/entities/<name>")
def entity(name: str) -> Any:
    catalog = workspace().records.catalog_for(actor())
    found = catalog.entities.get(name)
    if found is None or found.child:
        raise NotFound(f"There is no entity {name!r}")
    return jsonify(entity_document(found, catalog))


def _dry_run() -> bool:
    """``?dry_run=true`` on a change: check it and answer what it would do, storing nothing."""
    raw = request.args.get("dry_run", "false")
    if raw not in ("true", "false"):
        raise BadRequest("dry_run must be true or false")
    return raw == "true"


def _created(body: dict[str, Any], dry_run: bool) -> Any:
    response = jsonify(body)
    response.status_code = 200 if dry_run else 201
    return response


@bp.post("/entities")
def add_entity() -> Any:
    dry_run = _dry_run()
    return _created(overlays.add_entity(workspace(), actor(), json_body(), dry_run), dry_run)


@bp.put("/entities/<name>/permissions/<role>")
def set_permission(name: str, role: str) -> Any:
    return jsonify({"data": overlays.set_permission(workspace(), actor(), name, role, json_body())})


@bp.delete("/entities/<name>/permissions/<role>")
def remove_permission(name: str, role: str) -> Any:
    overlays.remove_permission(workspace(), actor(), name, role)
    return Response(status=204)


@bp.post("/entities/<name>/fields")
def add_field(name: str) -> Any:
    dry_run = _dry_run()
    return _created(overlays.add_field(workspace(), actor(), name, json_body(), dry_run), dry_run)


@bp.get("/documents")
def documents() -> Any:
    unknown = set(request.args) - {"kind"}
    if unknown:
        raise BadRequest(f"Unknown parameter(s): {', '.join(sorted(unknown))}; use kind")
    kind = request.args.get("kind")
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
    return jsonify({"data": overlays.list_documents(workspace(), actor(), kind)})


@bp.get("/documents/<kind>")
def documents_of_kind(kind: str) -> Any:
    return jsonify({"data": overlays.list_documents(workspace(), actor(), kind)})


def _tagged(view: dict[str, Any]) -> Response:
    """A document with its ``ETag`` (what ``If-Match`` on a ``PUT`` names)."""
    response = jsonify(view)
    if not view.get("dry_run"):
        response.headers["ETag"] = f'"{overlays.document_tag(view["document"])}"'
    return response


def _if_match() -> str | None:
    header = request.headers.get("If-Match")
    if header is None:
        return None
    tag = header.strip().removeprefix("W/").strip('"')
    if not tag:
        raise BadRequest("If-Match must be the ETag a GET of the document answered, or *")
    return tag


@bp.get("/documents/<kind>/<name>")
def document(kind: str, name: str) -> Any:
    return _tagged(overlays.get_document(workspace(), actor(), kind, name))


@bp.post("/documents/<kind>")
def add_document(kind: str) -> Any:
    dry_run = _dry_run()
    return _created(overlays.add_document(workspace(), actor(), kind, json_body(), dry_run), dry_run)


@bp.put("/documents/<kind>/<name>")
def set_document(kind: str, name: str) -> Any:
    return _tagged(overlays.set_document(workspace(), actor(), kind, name, json_body(), _dry_run(), _if_match()))


@bp.delete("/documents/<kind>/<name>")
def remove_document(kind: str, name: str) -> Any:
    overlays.remove_document(workspace(), actor(), kind, name)
    return Response(status=204)
