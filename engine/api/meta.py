"""Metadata endpoints: read the effective definitions, add overlays (admin)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from engine import overlays
from engine.api.context import actor, json_body, workspace
from engine.api.describe import entity_document, entity_summary
from engine.errors import NotFound

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


@bp.post("/entities")
def add_entity() -> Any:
    response = jsonify(overlays.add_entity(workspace(), actor(), json_body()))
    response.status_code = 201
    return response


@bp.put("/entities/<name>/permissions/<role>")
def set_permission(name: str, role: str) -> Any:
    return jsonify({"data": overlays.set_permission(workspace(), actor(), name, role, json_body())})


@bp.delete("/entities/<name>/permissions/<role>")
def remove_permission(name: str, role: str) -> Any:
    overlays.remove_permission(workspace(), actor(), name, role)
    return Response(status=204)


@bp.post("/entities/<name>/fields")
def add_field(name: str) -> Any:
    response = jsonify(overlays.add_field(workspace(), actor(), name, json_body()))
    response.status_code = 201
    return response
