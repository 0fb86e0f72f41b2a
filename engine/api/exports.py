"""Exports: ``GET /api/v1/ENTITY/export?format=csv|xlsx|jsonl&filter=...&fields=...&sort=...``.

The file streams (see ``engine.dataio.exporting``); everything a caller can get wrong
(format, fields, filter, the ``export`` permission) is checked before the first byte, so
mistakes are problem+json answers, never a broken download.
"""

from __future__ import annotations

from apispec import APISpec
from flask import Blueprint, Response, request

from engine.api.context import actor, workspace
from engine.api.openapi import problem_responses
from engine.dataio.exporting import open_export
from engine.dataio.writers import FORMATS
from engine.errors import BadRequest
from engine.meta.catalog import Catalog

bp = Blueprint("exports", __name__, url_prefix="/api/v1")
PARAMS = ("format", "filter", "fields", "sort")


@bp.get("/<entity>/export")
def export(entity: str) -> Response:
    unknown = sorted(set(request.args) - set(PARAMS))
    if unknown:
        raise BadRequest(f"Unknown parameter(s): {', '.join(unknown)}; export takes {', '.join(PARAMS)}")
    twice = sorted(k for k in request.args if len(request.args.getlist(k)) > 1)
    if twice:
        raise BadRequest(f"Parameter(s) given more than once: {', '.join(twice)}")
    args = request.args
    job = open_export(
        workspace().records,
        actor(),
        entity,
        format=args.get("format") or "csv",
        filter=args.get("filter"),
        fields=args.get("fields"),
        sort=args.get("sort") or None,
    )
    # the stream needs no request context: the records and the actor are already bound
    response = Response(job.chunks(), content_type=job.media_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{job.filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def add_export_paths(spec: APISpec, catalog: Catalog) -> None:
    """One export operation per entity: ``GET /api/v1/ENTITY/export``."""
    text = {"type": "string"}
    content = {
        FORMATS["csv"][0].split(";")[0]: {"schema": text},
        FORMATS["xlsx"][0]: {"schema": {"type": "string", "format": "binary"}},
        FORMATS["jsonl"][0]: {"schema": text},
    }
    parameters = [
        {"name": "format", "in": "query", "schema": {"enum": list(FORMATS), "default": "csv"}},
        {"name": "filter", "in": "query", "schema": text, "description": "DSL condition the records must meet"},
        {
            "name": "fields",
            "in": "query",
            "schema": text,
            "description": "comma list of fields, in column order (default: every readable field)",
        },
        {"name": "sort", "in": "query", "schema": text, "description": "order of the records (default: id)"},
    ]
    for entity in catalog.api_entities():
        spec.path(
            path=f"/api/v1/{entity.name}/export",
            operations={
                "get": {
                    "operationId": f"export_{entity.name}",
                    "tags": [entity.name],
                    "summary": f"The {entity.name} records the caller may export, as a streamed file",
                    "parameters": parameters,
                    "responses": {
                        "200": {
                            "description": "The file (Content-Disposition: attachment)",
                            "headers": {"Content-Disposition": {"schema": text}},
                            "content": content,
                        },
                        **problem_responses(400, 401, 403, 404, 429),
                    },
                }
            },
        )
