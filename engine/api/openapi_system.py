"""OpenAPI operations of the routes every workspace has, whatever its packs: the metadata
(``/api/v1/meta/entities``), GDPR export and erasure (``/api/v1/privacy``), the audit trail
search (``/api/v1/admin/audit``), this document itself, and (``engine.api.openapi_auth``)
signing in and accounts.

Administrator-only operations are listed for everyone, as the document's other routes are:
they answer 403 to non-admins.
"""

from __future__ import annotations

from apispec import APISpec

from engine.api.openapi import ID, data_schema, json_response, path_param, problem_responses, ref, schema_name
from engine.api.openapi_admin import DRY_RUN, dry_run_answer
from engine.api.openapi_auth import add_auth_paths, operation, request_body
from engine.meta.catalog import Catalog
from engine.security.audit_search import FILTERS, MAX_OFFSET

COMMON = problem_responses(400, 401, 403, 404, 413, 429)
TIME = {"type": "string", "format": "date-time"}
OPTIONAL_TEXT = {"type": ["string", "null"]}
DONE = {"204": {"description": "Done"}}

AUDIT_ENTRY = {
    "type": "object",
    "required": ["id", "at", "action"],
    "properties": {
        "id": {"type": ["string", "integer"]},
        "at": TIME,
        "actor": OPTIONAL_TEXT,
        "impersonator": OPTIONAL_TEXT,
        "action": {"type": "string"},
        "entity": OPTIONAL_TEXT,
        "record_id": OPTIONAL_TEXT,
        "changes": {"type": "object", "description": "field -> [old, new]"},
        "source": OPTIONAL_TEXT,
    },
}
ENTITY_SUMMARY = {
    "type": "object",
    "required": ["name", "label"],
    "properties": {"name": {"type": "string"}, "label": {}, "plural": {}, "pack": OPTIONAL_TEXT},
}
ENTITY_DOCUMENT = {
    "type": "object",
    "required": ["name", "label", "fields"],
    "properties": {
        "name": {"type": "string"},
        "label": {},
        "plural": {},
        "pack": OPTIONAL_TEXT,
        "title": OPTIONAL_TEXT,
        "search": {"type": "array", "items": {"type": "string"}},
        "list_columns": {"type": "array", "items": {"type": "string"}},
        "fields": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "type"],
                "properties": {"name": {"type": "string"}, "type": {"type": "string"}},
            },
        },
        "child_entities": {"type": "object"},
        "related": {"type": "array", "items": {"type": "string"}},
        "duplicates": {"type": "array", "items": {"type": "object"}},
        "timeline": {"type": "object"},
        "templates": {"type": "array", "items": {"type": "object"}},
    },
}


def add_system_paths(spec: APISpec, catalog: Catalog) -> None:
    """Add the metadata, privacy, audit, document and sign-in operations to ``spec``."""
    for name, schema in (
        ("AuditEntry", AUDIT_ENTRY),
        ("EntitySummary", ENTITY_SUMMARY),
        ("EntityDocument", ENTITY_DOCUMENT),
    ):
        spec.components.schema(name, schema)
    user = ref(schema_name(catalog.entities["user"])) if "user" in catalog.entities else {"type": "object"}
    add_meta(spec, catalog)
    add_privacy(spec, catalog)
    spec.path(
        path="/api/v1/admin/audit",
        operations={
            "get": operation(
                "search_audit",
                "admin",
                "The audit trail, newest first (administrators)",
                {"200": json_response(data_schema(ref("AuditEntry"))), **COMMON},
                parameters=[
                    {
                        "name": name,
                        "in": "query",
                        "schema": {
                            "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                            "offset": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                            "since": TIME,
                            "until": TIME,
                            "record_id": ID,
                            "actor": ID,
                        }.get(name, {"type": "string"}),
                    }
                    for name in FILTERS
                ],
            )
        },
    )
    spec.path(
        path="/api/v1/openapi.json",
        operations={
            "get": operation(
                "openapi",
                "meta",
                "This document: the operations and schemas the caller may use",
                {"200": json_response({"type": "object"}), **COMMON},
            )
        },
    )
    add_auth_paths(spec, user)  # last: it ends with signing out


def add_meta(spec: APISpec, catalog: Catalog) -> None:
    """``/api/v1/meta/entities``: the effective definitions, and overlays (administrators)."""
    names = [e.name for e in catalog.api_entities()]
    name = path_param("name", {"type": "string", "enum": names} if names else None)
    role = path_param("role")
    described = json_response(ref("EntityDocument"))
    created = json_response(ref("EntityDocument"), "Created")
    writes = {**COMMON, **problem_responses(409, 422)}
    document = {
        "type": "object",
        "required": ["entity"],
        "properties": {"entity": {"type": "string"}, "fields": {"type": "object"}},
        "description": "an entity document as in a pack file, as JSON",
    }
    field = {
        "type": "object",
        "required": ["name", "type"],
        "properties": {"name": {"type": "string"}, "type": {"type": "string"}},
        "description": "a field definition as in a pack file, with its name",
    }
    grant = {
        "type": "object",
        "description": 'a grant as in a pack file: {"read": "team", "update": "own", "fields": {...}, "where": ...}',
    }
    grants = {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "object", "additionalProperties": grant, "description": "role -> grant"}},
    }
    tag = "meta"
    spec.path(
        path="/api/v1/meta/entities",
        operations={
            "get": operation(
                "list_entities",
                tag,
                "The entities the caller may read",
                {"200": json_response(data_schema(ref("EntitySummary"))), **COMMON},
            ),
            "post": operation(
                "add_entity",
                tag,
                "Add an entity as an overlay (administrators)",
                {"201": created, "200": dry_run_answer(ref("EntityDocument")), **writes},
                parameters=[DRY_RUN],
                requestBody=request_body(document),
            ),
        },
    )
    spec.path(
        path="/api/v1/meta/entities/{name}",
        operations={
            "get": operation(
                "describe_entity",
                tag,
                "One entity's effective definition: the fields the caller may read",
                {"200": described, **COMMON},
                parameters=[name],
            )
        },
    )
    spec.path(
        path="/api/v1/meta/entities/{name}/fields",
        operations={
            "post": operation(
                "add_field",
                tag,
                "Add a field as an overlay (administrators)",
                {"201": created, "200": dry_run_answer(ref("EntityDocument")), **writes},
                parameters=[name, DRY_RUN],
                requestBody=request_body(field),
            )
        },
    )
    spec.path(
        path="/api/v1/meta/entities/{name}/permissions/{role}",
        operations={
            "put": operation(
                "set_permission",
                tag,
                "Override one role's grant on the entity (administrators)",
                {"200": json_response(grants), **writes},
                parameters=[name, role],
                requestBody=request_body(grant),
            ),
            "delete": operation(
                "remove_permission",
                tag,
                "Drop the overridden grant: the pack's applies again (administrators)",
                {**DONE, **COMMON},
                parameters=[name, role],
            ),
        },
    )


def add_privacy(spec: APISpec, catalog: Catalog) -> None:
    """GDPR export and erasure of the data subjects (entities with ``privacy: {collection}``)."""
    collections = sorted({e.privacy_collection for e in catalog.api_entities() if e.privacy_collection})
    if not collections:
        return
    params = [path_param("collection", {"type": "string", "enum": collections}), path_param("id")]
    exported = {
        "type": "object",
        "required": ["entity", "exported_at", "record", "related", "history"],
        "properties": {
            "entity": {"type": "string"},
            "exported_at": TIME,
            "record": {"type": "object"},
            "related": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "object"}}},
            "history": {"type": "array", "items": {"type": "object"}},
        },
    }
    erased = {
        "type": "object",
        "required": ["entity", "id", "erased_fields", "erased_at"],
        "properties": {
            "entity": {"type": "string"},
            "id": ID,
            "erased_fields": {"type": "array", "items": {"type": "string"}},
            "erased_at": TIME,
        },
    }
    spec.path(
        path="/api/v1/privacy/{collection}/{id}/export",
        operations={
            "get": operation(
                "privacy_export",
                "privacy",
                "Everything about a data subject: the record, what links to it, its history (administrators)",
                {"200": json_response(exported), **COMMON},
                parameters=params,
            )
        },
    )
    spec.path(
        path="/api/v1/privacy/{collection}/{id}/erase",
        operations={
            "post": operation(
                "privacy_erase",
                "privacy",
                "Blank the subject's personal fields and redact them in the audit trail (administrators)",
                {"200": json_response(erased), **COMMON},
                parameters=params,
            )
        },
    )
