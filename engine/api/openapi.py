"""OpenAPI 3.1 generated from the live metadata (packs and overlays).

Field types map to JSON Schema once, here; record, input and patch schemas of every entity
are derived from that map, so the document always agrees with what the API accepts.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from flask import Blueprint, jsonify

from engine import __version__
from engine.actor import Actor
from engine.api.context import actor, workspace
from engine.automation.model import Automation
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef
from engine.plugins import openapi_paths as plugin_openapi_paths
from engine.storage.fields import PHONE
from engine.storage.ids import ID_PATTERN
from engine.storage.listing import DEFAULT_LIMIT, MAX_LIMIT

bp = Blueprint("openapi", __name__, url_prefix="/api/v1")

ID = {"type": "string", "pattern": ID_PATTERN.pattern}
DECIMAL_IN = {"oneOf": [{"type": "number"}, {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}]}
PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "index": {"type": "integer"},
                },
            },
        },
        "duplicates": {"type": "array", "items": {"$ref": "#/components/schemas/DuplicateWarning"}},
    },
}
AGGREGATE_REQUEST = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "filter": {"type": "string"},
        "group_by": {"type": "array", "items": {"type": "string"}, "maxItems": 5},
        "metrics": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
SYSTEM_PROPS = {
    "id": ID,
    "version": {"type": "integer", "minimum": 1},
    "created_at": {"type": "string", "format": "date-time"},
    "created_by": {"type": ["string", "null"]},
    "updated_at": {"type": "string", "format": "date-time"},
    "updated_by": {"type": ["string", "null"]},
    "owner": {"type": ["string", "null"]},
}


LIST_PARAMS = [
    {"name": "filter", "in": "query", "schema": {"type": "string"}, "description": "DSL condition"},
    {"name": "sort", "in": "query", "schema": {"type": "string"}},
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    },
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    {"name": "fields", "in": "query", "schema": {"type": "string"}},
    {"name": "expand", "in": "query", "schema": {"type": "string"}},
    {
        "name": "q",
        "in": "query",
        "schema": {"type": "string", "maxLength": 200},
        "description": "words to find in the search fields (all of them, ignoring case); title matches first",
    },
    {"name": "count", "in": "query", "schema": {"type": "boolean"}, "description": "add the exact total"},
    {
        "name": "count_limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1_000_000},
        "description": "add the total, counted up to this many (`total_capped` when there are more)",
    },
    {"name": "trash", "in": "query", "schema": {"type": "boolean"}, "description": "list the trash instead"},
]
ALLOW_DUPLICATES = {
    "name": "allow_duplicates",
    "in": "query",
    "schema": {"type": "boolean", "default": False},
    "description": "write a record a blocking duplicate rule finds (roles the rule's override names; admins)",
}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` or JSON null (an empty field reads and writes as null)."""
    if "type" in schema and isinstance(schema["type"], str):
        return {**schema, "type": [schema["type"], "null"]}
    if "oneOf" in schema:
        return {"oneOf": [*schema["oneOf"], {"type": "null"}]}
    return {"anyOf": [schema, {"type": "null"}]}


def _string(fd: FieldDef, single_line: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if fd.max_length:
        schema["maxLength"] = fd.max_length
    if single_line:
        schema["pattern"] = (
            r"^[^\r\n\x00]*$" if fd.type not in ("string",) or not fd.opt("pattern") else fd.opt("pattern")
        )
    return schema


def field_schema(fd: FieldDef, catalog: Catalog, direction: str) -> dict[str, Any]:
    """JSON Schema of a field's value; ``direction`` is ``out`` (records) or ``in`` (writes)."""
    t = fd.type
    out = direction == "out"
    if t == "file":  # an uploaded file's object (with its URL) or an external reference
        from engine.api.files import file_value_schema

        return file_value_schema(direction)
    if t in ("string", "autonumber"):
        return _string(fd)
    if t == "text":
        return _string(fd, single_line=False)
    if t == "secret":
        return {"type": "string"}
    if t == "email":
        return {"type": "string", "format": "email", "maxLength": 254}
    if t == "url":
        return {"type": "string", "format": "uri", "pattern": "^https?://", "maxLength": 2048}
    if t == "phone":
        return {"type": "string", "pattern": PHONE.pattern, "maxLength": 40}
    if t == "enum":
        return {"type": "string", "enum": [o.value for o in fd.enum_options]}
    if t == "multi_enum":
        return {"type": "array", "items": {"type": "string", "enum": [o.value for o in fd.enum_options]}}
    if t in ("int", "rating"):
        schema: dict[str, Any] = {"type": "integer"}
        lo, hi = (0, fd.opt("max", 5)) if t == "rating" else (fd.opt("min"), fd.opt("max"))
        if lo is not None:
            schema["minimum"] = lo
        if hi is not None:
            schema["maximum"] = hi
        return schema
    if t == "duration":
        return (
            {"type": "integer", "minimum": 0}
            if out
            else {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^P"}]}
        )
    if t in ("decimal", "money", "percent"):
        return {"type": "number"} if out else DECIMAL_IN
    if t == "bool":
        return {"type": "boolean"}
    if t == "date":
        return {"type": "string", "format": "date"}
    if t == "datetime":
        return {"type": "string", "format": "date-time"}
    if t in ("link", "user", "team"):
        return {"oneOf": [ID, {"type": "object"}]} if out else ID
    if t == "links":
        return {"type": "array", "items": ID, "uniqueItems": True}
    if t == "table":
        child = catalog.entities[fd.opt("of")]
        return {
            "type": "array",
            "items": {"$ref": f"#/components/schemas/{schema_name(child)}{'Row' if out else 'RowInput'}"},
        }
    return {}


def schema_name(entity: EntityDef) -> str:
    """The component name of an entity's schemas: ``amc_contract`` -> ``AmcContract``."""
    return "".join(part.capitalize() for part in entity.name.split("_"))


def record_schema(entity: EntityDef, catalog: Catalog, child: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {"id": ID} if child else dict(SYSTEM_PROPS)
    for fd in entity.fields.values():
        schema = field_schema(fd, catalog, "out")
        props[fd.name] = schema if fd.type in ("links", "table") else nullable(schema)
        if fd.readonly:  # computed, rolled up, autonumbered or declared read-only
            props[fd.name] = {**props[fd.name], "readOnly": True}
    if entity.duplicates and not child:  # what warning duplicate rules found (write answers only)
        props["_warnings"] = {"type": "array", "items": ref("DuplicateWarning"), "readOnly": True}
    return {"type": "object", "properties": props, "required": ["id"]}


def input_schema(entity: EntityDef, catalog: Catalog, child: bool = False) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for fd in entity.fields.values():
        if not fd.readonly:
            props[fd.name] = nullable(field_schema(fd, catalog, "in"))
    if child:
        props["id"] = nullable(ID)
    else:
        props["owner"] = nullable(ID)
    return {"type": "object", "properties": props, "additionalProperties": False}


def problem_responses(*codes: int) -> dict[str, Any]:
    """``application/problem+json`` responses for the given status codes."""
    texts = {
        400: "Malformed request",
        401: "Not signed in",
        403: "Forbidden",
        404: "Not found",
        409: "Conflict",
        412: "Stale version",
        413: "Body too large",
        422: "Validation failed",
        429: "Rate limited",
    }
    return {
        str(c): {
            "description": texts[c],
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for c in codes
    }


def json_response(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    """A JSON response whose body follows ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def ref(name: str) -> dict[str, str]:
    """A reference to the component schema ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def data_schema(items: dict[str, Any]) -> dict[str, Any]:
    """A collection without paging: ``{"data": [items]}``."""
    return {"type": "object", "required": ["data"], "properties": {"data": {"type": "array", "items": items}}}


def path_param(name: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A required path parameter (a string unless ``schema`` says otherwise)."""
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string"}}


def page_schema(item_ref: str) -> dict[str, Any]:
    """A collection: ``{"data": [...]}`` with ``total`` and ``next_cursor`` when asked for or due."""
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {"type": "array", "items": {"$ref": item_ref}},
            "total": {"type": "integer"},
            "total_capped": {"type": "boolean"},
            "next_cursor": {"type": "string"},
        },
    }


def build_document(catalog: Catalog, automation: Automation | None = None, who: Actor | None = None) -> dict[str, Any]:
    """The OpenAPI document of ``catalog`` (what ``who`` may read; None: an administrator),
    with the operations of the ``automation`` compiled from the same metadata."""
    # all build on this module's schemas
    from engine.api.calendar import add_calendar_paths
    from engine.api.connectors import add_connector_paths
    from engine.api.exports import add_export_paths
    from engine.api.files import add_file_paths
    from engine.api.imports import add_import_paths
    from engine.api.openapi_admin import add_admin_paths
    from engine.api.openapi_automation import add_automation_paths
    from engine.api.openapi_capture import add_capture_paths, add_record_paths, user_body
    from engine.api.openapi_dashboards import add_dashboard_paths
    from engine.api.openapi_links import add_record_links
    from engine.api.openapi_system import add_system_paths
    from engine.api.render import add_render_paths  # document templates (engine.render)
    from engine.api.reports import add_report_paths

    spec = APISpec(
        title="Tessera API",
        version=__version__,
        openapi_version="3.1.0",
        info={"description": "Generated from the live metadata of this workspace."},
        security=[{"bearer": []}],  # public operations say security: []
    )
    spec.components.schema("Problem", PROBLEM)
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    common = problem_responses(400, 401, 403, 404, 413, 429)
    id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    for entity in catalog.entities.values():
        name = schema_name(entity)
        if entity.child:
            spec.components.schema(f"{name}Row", record_schema(entity, catalog, child=True))
            spec.components.schema(f"{name}RowInput", input_schema(entity, catalog, child=True))
            continue
        spec.components.schema(name, record_schema(entity, catalog))
        spec.components.schema(f"{name}Input", input_schema(entity, catalog))
    for entity in catalog.api_entities():
        name, base = schema_name(entity), f"/api/v1/{entity.name}"
        ref = f"#/components/schemas/{name}"
        body = {"required": True, "content": {"application/json": {"schema": {"$ref": f"{ref}Input"}}}}
        if entity.name == "user":  # POST/PATCH /api/v1/user also take a password and role names
            body = user_body(spec, entity, catalog)
        record = json_response({"$ref": ref})
        writes = problem_responses(409, 412, 422)
        spec.path(
            path=base,
            operations={
                "get": {
                    "operationId": f"list_{entity.name}",
                    "tags": [entity.name],
                    "parameters": LIST_PARAMS,
                    "responses": {"200": json_response(page_schema(ref)), **common},
                },
                "post": {
                    "operationId": f"create_{entity.name}",
                    "tags": [entity.name],
                    "requestBody": body,
                    "parameters": [
                        {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 255}},
                        ALLOW_DUPLICATES,
                    ],
                    "responses": {"201": record, **common, **writes},
                },
            },
        )
        spec.path(
            path=f"{base}/{{id}}",
            operations={
                "get": {
                    "operationId": f"get_{entity.name}",
                    "tags": [entity.name],
                    "parameters": [id_param],
                    "responses": {"200": record, **common},
                },
                "patch": {
                    "operationId": f"update_{entity.name}",
                    "tags": [entity.name],
                    "parameters": [
                        id_param,
                        {"name": "If-Match", "in": "header", "schema": {"type": "string"}},
                        ALLOW_DUPLICATES,
                    ],
                    "requestBody": body,
                    "responses": {"200": record, **common, **writes},
                },
                "delete": {
                    "operationId": f"delete_{entity.name}",
                    "tags": [entity.name],
                    "parameters": [id_param],
                    "responses": {"204": {"description": "Moved to the trash"}, **common, **problem_responses(412)},
                },
            },
        )
        spec.path(
            path=f"{base}/{{id}}/restore",
            operations={
                "post": {
                    "operationId": f"restore_{entity.name}",
                    "tags": [entity.name],
                    "parameters": [id_param],
                    "responses": {"200": record, **common, **writes},
                }
            },
        )
        spec.path(
            path=f"{base}/bulk",
            operations={
                "post": {
                    "operationId": f"bulk_{entity.name}",
                    "tags": [entity.name],
                    "parameters": [ALLOW_DUPLICATES],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "maxItems": 1000, "items": {"$ref": f"{ref}Input"}}
                            }
                        },
                    },
                    "responses": {
                        "200": json_response(
                            {
                                "type": "object",
                                "required": ["data"],
                                "properties": {"data": {"type": "array", "items": {"$ref": ref}}},
                            }
                        ),
                        **common,
                        **writes,
                    },
                }
            },
        )
        spec.path(
            path=f"{base}/aggregate",
            operations={
                "post": {
                    "operationId": f"aggregate_{entity.name}",
                    "tags": [entity.name],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": AGGREGATE_REQUEST}}},
                    "responses": {
                        "200": json_response(
                            {
                                "type": "object",
                                "required": ["data"],
                                "properties": {"data": {"type": "array", "items": {"type": "object"}}},
                            }
                        ),
                        **common,
                    },
                }
            },
        )
        spec.path(
            path=f"{base}/{{id}}/history",
            operations={
                "get": {
                    "operationId": f"history_{entity.name}",
                    "tags": [entity.name],
                    "parameters": [id_param],
                    "responses": {
                        "200": json_response(
                            {
                                "type": "object",
                                "required": ["data"],
                                "properties": {"data": {"type": "array", "items": {"type": "object"}}},
                            }
                        ),
                        **common,
                    },
                }
            },
        )
    add_automation_paths(spec, catalog, automation or Automation(), who)
    add_admin_paths(spec)
    add_render_paths(spec, catalog)
    add_import_paths(spec, catalog)
    add_export_paths(spec, catalog)
    add_report_paths(spec, catalog)
    add_file_paths(spec, catalog)  # upload, download and list the files of records
    add_record_paths(spec, catalog)  # related lists, timelines
    add_capture_paths(spec, catalog, automation or Automation())  # public forms and hooks
    add_system_paths(spec, catalog)  # sign-in, users, metadata, privacy, audit, this document
    add_dashboard_paths(spec)  # the dashboards and their figures
    add_connector_paths(spec)  # run a connector now, its signed webhook (engine.api.connectors)
    add_calendar_paths(spec)  # the caller's iCalendar feed address, the feed (engine.api.calendar)
    for path, operations in plugin_openapi_paths().items():  # routes plugins document (docs/plugins.md)
        spec.path(path=path, operations=operations)
    document = spec.to_dict()
    add_record_links(document)  # create -> read, change, delete the record (engine.api.openapi_links)
    return document


@bp.get("/openapi.json")
def openapi() -> Any:
    who = actor()
    ws = workspace()
    snap = ws.snapshot()
    key = ("openapi", "*" if who.is_admin else who.roles)  # each role set sees only what it may use
    document = snap.cache.get(key)
    if document is None:
        document = snap.cache[key] = build_document(ws.records.catalog_for(who), snap.automation, who)
    return jsonify(document)
