"""OpenAPI operations around records and capture: related lists, timelines, public forms,
inbound hooks and their signing secrets (``engine.api.records``, ``engine.api.timeline``,
``engine.api.capture``).

Each is listed per name from the live metadata, so a client sees exactly what it may call:
``/api/v1/account/{id}/related/contact`` with the contact's schema, one timeline per entity
when some entity declares ``timeline:``, ``/api/v1/public/forms/lead`` with the form's fields
as its body. Public operations need no token (``security: []``).
"""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec

from engine.api.openapi import (
    ID,
    LIST_PARAMS,
    field_schema,
    input_schema,
    json_response,
    nullable,
    page_schema,
    path_param,
    problem_responses,
    ref,
    schema_name,
)
from engine.automation.model import Automation
from engine.capture.definitions import Capture
from engine.capture.signing import MIN_SECRET
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.meta.timeline import timeline_entities
from engine.storage.timeline import DEFAULT_LIMIT as TIMELINE_DEFAULT
from engine.storage.timeline import MAX_LIMIT as TIMELINE_MAX

COMMON = problem_responses(400, 401, 403, 404, 413, 429)
ID_PARAM = path_param("id")
TIME = {"type": "string", "format": "date-time"}
#: one step of a hook's payload path: ``visitor.email``, ``messages[0].text``
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

DUPLICATE_WARNING = {
    "type": "object",
    "description": "What a duplicate rule found: in a 409 problem's duplicates, or a written record's _warnings",
    "required": ["code", "rule", "action", "message", "matches"],
    "properties": {
        "code": {"const": "duplicate"},
        "rule": {"type": "string"},
        "action": {"type": "string", "enum": ["block", "warn"]},
        "message": {"type": "string"},
        "matches": {
            "type": "array",
            "description": "the matching records the caller may read",
            "items": {
                "type": "object",
                "required": ["entity", "id"],
                "properties": {"entity": {"type": "string"}, "id": ID, "title": {"type": ["string", "null"]}},
            },
        },
        "hidden_matches": {"type": "integer", "minimum": 1, "description": "matches the caller may not read"},
        "overridden": {"const": True, "description": "a blocking rule overridden with allow_duplicates=true"},
    },
}
RECEIVED = {
    "type": "object",
    "required": ["status", "message"],
    "properties": {"status": {"const": "received"}, "message": {"type": "string"}},
}
FORM_FIELD = {
    "type": "object",
    "required": ["name", "label", "type", "required"],
    "properties": {
        "name": {"type": "string"},
        "label": {"type": "string"},
        "type": {"type": "string"},
        "required": {"type": "boolean"},
        "help": {"type": "string"},
        "min": {"type": "number"},
        "max": {"type": "number"},
        "options": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["value", "label"],
                "properties": {"value": {"type": "string"}, "label": {"type": "string"}},
            },
        },
    },
}
FORM_DESCRIPTION = {
    "type": "object",
    "required": ["form", "label", "fields", "honeypot"],
    "properties": {
        "form": {"type": "string"},
        "label": {"type": "string"},
        "fields": {"type": "array", "items": FORM_FIELD},
        "honeypot": {"type": ["string", "null"], "description": "a field to render hidden: people leave it empty"},
    },
}
RECORD_LINK_DESCRIPTION = {
    "type": "object",
    "required": ["form", "label", "record", "fields"],
    "properties": {
        "form": {"type": "string"},
        "label": {"type": "string"},
        "record": {"description": "the title of the record the link is about"},
        "fields": {"type": "array", "items": FORM_FIELD},
    },
}
HOOK_SECRET = {
    "type": "object",
    "required": ["hook", "secret"],
    "properties": {"hook": {"type": "string"}, "secret": {"type": "string", "description": "shown this once"}},
}
ACCEPT_LANGUAGE: dict[str, Any] = {
    "name": "Accept-Language",
    "in": "header",
    "schema": {"type": "string"},
    "description": "the language of labels and messages, when the form gives several",
}


def user_body(spec: APISpec, entity: EntityDef, catalog: Catalog) -> dict[str, Any]:
    """The body of ``POST /api/v1/user`` and ``PATCH /api/v1/user/ID``: the user's fields, a
    ``password`` (never stored in the record) and ``roles`` by name or id."""
    schema = input_schema(entity, catalog)
    schema["properties"]["password"] = {"type": "string", "writeOnly": True}
    if "roles" in schema["properties"]:
        schema["properties"]["roles"] = {"type": "array", "items": {"type": "string"}, "description": "names or ids"}
    name = f"{schema_name(entity)}Write"
    spec.components.schema(name, schema)
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}


# --- related lists and timelines ---------------------------------------------------------


def related_lists(entity: EntityDef, catalog: Catalog) -> dict[str, EntityDef]:
    """The related lists of ``entity`` (link name -> listed entity), named as
    ``GET /api/v1/ENTITY/ID/related/LINK`` takes them: a ``links`` field of the entity, an
    entity with one reference to it, ``entity.field`` where it has several."""
    lists: dict[str, EntityDef] = {}
    for fd in entity.fields.values():
        target = catalog.entities.get(fd.target or "") if fd.type == "links" else None
        if target is not None and not target.child:
            lists[fd.name] = target
    for other in catalog.api_entities():
        pointing = [f.name for f in other.fields.values() if f.target == entity.name and f.type != "table"]
        if len(pointing) == 1 and other.name not in lists:
            lists[other.name] = other
        else:
            lists.update({f"{other.name}.{name}": other for name in pointing})
    return lists


def add_record_paths(spec: APISpec, catalog: Catalog) -> None:
    """``/api/v1/ENTITY/{id}/related/LINK`` per related list, and ``.../timeline`` for every
    entity when some entity the caller may read declares ``timeline:``."""
    sources = timeline_entities(catalog)
    if sources:
        entry = {
            "anyOf": [
                {
                    "type": "object",
                    "required": ["entity", "at", "record"],
                    "properties": {"entity": {"const": source.name}, "at": TIME, "record": ref(schema_name(source))},
                }
                for source in sources
            ]
        }
        spec.components.schema("TimelineEntry", entry)
    for entity in catalog.api_entities():
        base = f"/api/v1/{entity.name}/{{id}}"
        for link, target in sorted(related_lists(entity, catalog).items()):
            spec.path(
                path=f"{base}/related/{link}",
                operations={
                    "get": {
                        "operationId": f"related_{entity.name}_{link}",
                        "tags": [entity.name],
                        "summary": f"The {target.name} records related to the {entity.name} through {link}",
                        "parameters": [ID_PARAM, *LIST_PARAMS],
                        "responses": {
                            "200": json_response(page_schema(f"#/components/schemas/{schema_name(target)}")),
                            **COMMON,
                        },
                    }
                },
            )
        if sources:
            add_timeline(spec, entity, sources)


def add_timeline(spec: APISpec, entity: EntityDef, sources: list[EntityDef]) -> None:
    page = page_schema("#/components/schemas/TimelineEntry")
    del page["properties"]["total"]
    spec.path(
        path=f"/api/v1/{entity.name}/{{id}}/timeline",
        operations={
            "get": {
                "operationId": f"timeline_{entity.name}",
                "tags": [entity.name],
                "summary": f"What hangs off the {entity.name} ({', '.join(s.name for s in sources)}), newest first",
                "parameters": [
                    ID_PARAM,
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": TIMELINE_MAX,
                            "default": TIMELINE_DEFAULT,
                        },
                    },
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "entities",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": f"only these, comma separated: {', '.join(s.name for s in sources)}",
                    },
                ],
                "responses": {"200": json_response(page), **COMMON},
            }
        },
    )


# --- public forms and hooks ----------------------------------------------------------------


def add_capture_paths(spec: APISpec, catalog: Catalog, automation: Automation) -> None:
    """``/api/v1/public/forms/NAME`` and ``/api/v1/public/hooks/NAME`` per form and hook, and
    the hooks' ``/api/v1/admin/hooks/NAME/secret``."""
    spec.components.schema("DuplicateWarning", DUPLICATE_WARNING)
    parts: dict[str, dict[str, Capture]] = automation.parts.get("capture", {})
    every_form, hooks = parts.get("form", {}), parts.get("hook", {})
    # a record-link form (record_link:) answers only at /public/respond/TOKEN
    links = {name: form for name, form in every_form.items() if getattr(form, "link_ttl", None) is not None}
    forms = {name: form for name, form in every_form.items() if name not in links}
    if every_form or hooks:
        spec.components.schema("Received", RECEIVED)
    if every_form:
        spec.components.schema("FormDescription", FORM_DESCRIPTION)
    for name in sorted(forms):
        add_form(spec, forms[name], catalog)
    for name in sorted(hooks):
        add_hook(spec, hooks[name], catalog)
    if links:
        add_record_links(spec, [links[name] for name in sorted(links)], catalog)


def _value(capture: Capture, field: str, catalog: Catalog) -> dict[str, Any]:
    """A submitted value of ``field``: the field's own schema, or any value where the caller
    may not read the field (the form itself is public: GET describes it)."""
    entity = catalog.entities.get(capture.entity)
    fd = entity.fields.get(field) if entity is not None else None
    return nullable(field_schema(fd, catalog, "in")) if fd is not None else {}


def _received(*codes: int) -> dict[str, Any]:
    accepted = json_response(ref("Received"), "Received: written, merged, or dropped (a duplicate to skip, a bot)")
    return {"202": accepted, **problem_responses(*codes)}


def add_form(spec: APISpec, capture: Capture, catalog: Catalog) -> None:
    properties = {field: _value(capture, field, catalog) for field in capture.fields}
    if capture.honeypot:
        properties[capture.honeypot] = {"type": "string", "description": "the honeypot: leave it empty"}
    body: dict[str, Any] = {"type": "object", "properties": properties}
    if capture.required:
        body["required"] = list(capture.required)
    content = {"application/json": {"schema": body}, "application/x-www-form-urlencoded": {"schema": body}}
    spec.path(
        path=f"/api/v1/public/forms/{capture.name}",
        operations={
            "get": {
                "operationId": f"describe_form_{capture.name}",
                "tags": ["public"],
                "summary": "The form's fields, labels and options, to render it",
                "security": [],
                "parameters": [ACCEPT_LANGUAGE],
                "responses": {"200": json_response(ref("FormDescription")), **problem_responses(404)},
            },
            "post": {
                "operationId": f"submit_form_{capture.name}",
                "tags": ["public"],
                "summary": f"Submit the form: a {capture.entity} (rate limited per client address)",
                "description": "Keys the form does not accept are ignored; 422 names the fields to correct.",
                "security": [],
                "parameters": [ACCEPT_LANGUAGE],
                "requestBody": {"required": True, "content": content},
                "responses": _received(400, 404, 413, 422, 429),
            },
        },
    )


def add_record_links(spec: APISpec, forms: list[Capture], catalog: Catalog) -> None:
    """``/api/v1/public/respond/{token}``: the form of a signed record link, answered once."""
    answers = [{"type": "object", "properties": {f: _value(form, f, catalog) for f in form.fields}} for form in forms]
    body = answers[0] if len(answers) == 1 else {"anyOf": answers}
    token = path_param("token")
    names = ", ".join(form.name for form in forms)
    spec.path(
        path="/api/v1/public/respond/{token}",
        operations={
            "get": {
                "operationId": "describe_record_link",
                "tags": ["public"],
                "summary": f"The form of a record link ({names}) and the record's title",
                "security": [],
                "parameters": [token, ACCEPT_LANGUAGE],
                "responses": {"200": json_response(RECORD_LINK_DESCRIPTION), **problem_responses(404, 409, 429)},
            },
            "post": {
                "operationId": "answer_record_link",
                "tags": ["public"],
                "summary": "Answer once, before the link expires (409: used or expired)",
                "security": [],
                "parameters": [token, ACCEPT_LANGUAGE],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": body},
                        "application/x-www-form-urlencoded": {"schema": body},
                    },
                },
                "responses": {
                    "200": json_response(ref("Received")),
                    **problem_responses(400, 404, 409, 413, 422, 429),
                },
            },
        },
    )


def payload_schema(capture: Capture, catalog: Catalog) -> dict[str, Any]:
    """The JSON a hook reads, from its ``map`` paths (``visitor.email``, ``messages[0].text``)."""
    root: dict[str, Any] = {"type": "object", "properties": {}}
    for field, path in capture.paths.items():
        steps = _STEP.findall(path)
        node = root
        for position, (name, index) in enumerate(steps):
            if position == len(steps) - 1:
                inner = _value(capture, field, catalog)
            elif steps[position + 1][1]:
                inner = {"type": "array", "items": {}}
            else:
                inner = {"type": "object", "properties": {}}
            if name and node.get("type") == "object":
                node = node["properties"].setdefault(name, inner)
            elif index and node.get("type") == "array":
                node["items"] = node["items"] or inner
                node = node["items"]
            else:  # two paths disagree on the shape: leave this part open
                break
    return root


def add_hook(spec: APISpec, capture: Capture, catalog: Catalog) -> None:
    signature = [
        {
            "name": "X-Tessera-Timestamp",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "pattern": r"^\d+$"},
            "description": "Unix seconds, within five minutes of the server's clock",
        },
        {
            "name": "X-Tessera-Signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
            "description": "sha256=HEX: HMAC-SHA256 of TIMESTAMP.BODY under the hook's secret",
        },
    ]
    spec.path(
        path=f"/api/v1/public/hooks/{capture.name}",
        operations={
            "post": {
                "operationId": f"receive_hook_{capture.name}",
                "tags": ["public"],
                "summary": f"A signed payload becomes a {capture.entity} (401 unsigned, wrongly signed or stale)",
                "security": [],
                "parameters": signature,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": payload_schema(capture, catalog)}},
                },
                "responses": _received(400, 401, 404, 413, 422, 429),
            }
        },
    )
    secret_body = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"secret": {"type": "string", "minLength": MIN_SECRET}},
    }
    spec.path(
        path=f"/api/v1/admin/hooks/{capture.name}/secret",
        operations={
            "put": {
                "operationId": f"set_hook_secret_{capture.name}",
                "tags": ["admin"],
                "summary": "Set the hook's signing secret, or generate one (no body); the answer shows it once",
                "requestBody": {"required": False, "content": {"application/json": {"schema": secret_body}}},
                "responses": {"200": json_response(HOOK_SECRET), **COMMON},
            },
            "delete": {
                "operationId": f"remove_hook_secret_{capture.name}",
                "tags": ["admin"],
                "summary": "Remove the stored secret (the hook's secret_env, if set, applies again)",
                "responses": {"204": {"description": "Removed"}, **COMMON},
            },
        },
    )
