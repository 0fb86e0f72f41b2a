"""Documents: ``GET /api/v1/ENTITY/ID/render/TEMPLATE?format=html|pdf`` (see engine.render)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from engine.api.context import actor, workspace
from engine.api.openapi import problem_responses
from engine.errors import BadRequest
from engine.meta.catalog import Catalog
from engine.render import render_record
from engine.render.documents import FORMATS
from engine.storage.derivation import label_text

bp = Blueprint("render", __name__, url_prefix="/api/v1")


@bp.get("/<entity>/<record_id>/render/<template>")
def render(entity: str, record_id: str, template: str) -> Response:
    unknown = sorted(set(request.args) - {"format"})
    if unknown:
        raise BadRequest(f"Unknown parameter(s): {', '.join(unknown)}; render takes format=html|pdf")
    fmt = request.args.get("format", "html")
    document = render_record(workspace().records, actor(), entity, record_id, template, fmt)
    response = Response(document.content, content_type=document.mimetype)
    response.headers["Content-Disposition"] = f'inline; filename="{document.filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def add_render_paths(spec: Any, catalog: Catalog) -> None:
    """One OpenAPI operation per document template: ``/api/v1/ENTITY/{id}/render/NAME``."""
    for entity in catalog.api_entities():
        for template in entity.templates.values():
            spec.path(
                path=f"/api/v1/{entity.name}/{{id}}/render/{template.name}",
                operations={
                    "get": {
                        "operationId": f"render_{entity.name}_{template.name}",
                        "tags": [entity.name],
                        "summary": f"The {entity.name} as a document ({label_text(template.label)})",
                        "parameters": [
                            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                            {"name": "format", "in": "query", "schema": {"enum": list(FORMATS), "default": "html"}},
                        ],
                        "responses": {
                            "200": {
                                "description": "The rendered document",
                                "content": {
                                    "text/html": {"schema": {"type": "string"}},
                                    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                                },
                            },
                            **problem_responses(400, 401, 404),
                        },
                    }
                },
            )
