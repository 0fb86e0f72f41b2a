"""The OpenAPI document covers every REST route the app serves, and stays valid.

Each rule of the Flask ``url_map`` under ``/api/v1`` must be documented, for every method, by
an operation of ``GET /api/v1/openapi.json``: ``<entity>`` stands for an entity of the
workspace, an id (``<record_id>``, ``<job_id>``...) for a path parameter, and a name
(``<name>``, ``<link>``, ``<template>``, ``<collection>``...) for a concrete name or a path
parameter. Routes whose operations come from the metadata (a form, a template, a timeline...)
are documented when the workspace defines one; the test says which pack set defines which.

The workspaces: the shipped sales packs ``leads`` and ``quotes`` (forms, hooks, timeline,
templates, workflow actions and approvals, GDPR subjects, notifications), and test packs
with public forms, hooks, duplicate rules and a timeline (``capture_kit``), templates
(``render_kit``) and record actions (``auto_actions``). The capture workspace also checks
that the new operations answer as their documentation says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from schemathesis.generation import GenerationMode

from engine.app import create_app
from engine.automation.approvals import ApprovalAction
from engine.capture.definitions import captures
from engine.meta.timeline import timeline_entities
from engine.security.users import create_user, ensure_roles
from engine.workspace import Snapshot, Workspace
from tests.api.test_openapi_fuzz import MAX_EXAMPLES, fuzz
from tests.conftest import PASSWORD, Api, make_config, sign_in

PACK_SETS = {
    "shipped": ("leads", "quotes"),
    "capture": ("capture_kit",),
    "render": ("testkit", "render_kit"),
    "actions": ("autokit", "auto_workflows", "auto_actions"),
}
#: routes left out of the document on purpose (endpoint -> why): none
UNDOCUMENTED: dict[str, str] = {}


def _has_record_link(snap: Snapshot) -> bool:
    return any(getattr(form, "link_ttl", None) is not None for form in captures(snap, "form").values())


def _has_file_field(snap: Snapshot) -> bool:
    return any(fd.type == "file" and fd.has_column for e in snap.catalog.api_entities() for fd in e.fields.values())


#: routes that exist for the workspace only when its metadata defines something for them
METADATA_ROUTES: dict[str, Callable[[Snapshot], bool]] = {
    "capture.describe_form": lambda snap: bool(captures(snap, "form")),
    "capture.submit_form": lambda snap: bool(captures(snap, "form")),
    "capture.receive_hook": lambda snap: bool(captures(snap, "hook")),
    "capture.put_hook_secret": lambda snap: bool(captures(snap, "hook")),
    "capture.delete_hook_secret": lambda snap: bool(captures(snap, "hook")),
    "timeline.record_timeline": lambda snap: bool(timeline_entities(snap.catalog)),
    "render.render": lambda snap: any(e.templates for e in snap.catalog.api_entities()),
    "records.action": lambda snap: bool(snap.automation.actions),
    "records.approvals": lambda snap: any(isinstance(a, ApprovalAction) for a in snap.automation.actions.values()),
    "privacy.export": lambda snap: any(e.privacy_collection for e in snap.catalog.api_entities()),
    "privacy.erase": lambda snap: any(e.privacy_collection for e in snap.catalog.api_entities()),
    "notifications.my_notifications": lambda snap: "notification" in snap.catalog.entities,
    "notifications.mark_read": lambda snap: "notification" in snap.catalog.entities,
    "respond.describe": _has_record_link,
    "respond.answer": _has_record_link,
    "files.files": _has_file_field,
    "files.upload": _has_file_field,
    "files.download": _has_file_field,
}
FORMS = {"capture.describe_form", "capture.submit_form"}
HOOKS = {"capture.receive_hook", "capture.put_hook_secret", "capture.delete_hook_secret"}
FILES = {"files.files", "files.upload", "files.download"}
PRIVACY = {"privacy.export", "privacy.erase"}
NOTIFICATIONS = {"notifications.my_notifications", "notifications.mark_read"}
ACTIONS = {"records.action", "records.approvals"}
LINKS = {"respond.describe", "respond.answer"}  # record links: see test_record_links_are_documented
#: the metadata routes each pack set does not define (so leaves out of its document)
NOT_DEFINED = {
    "shipped": FILES | LINKS,
    "capture": FILES | LINKS | PRIVACY | NOTIFICATIONS | ACTIONS | {"render.render"},
    "render": FORMS | HOOKS | LINKS | NOTIFICATIONS | ACTIONS | {"timeline.record_timeline"},
    "actions": FORMS | HOOKS | LINKS | FILES | PRIVACY | {"timeline.record_timeline", "render.render"},
}
CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def make_workspace(database_url: str, tmp_path: Path, packs: tuple[str, ...]) -> Workspace:
    ws = Workspace(make_config(database_url, tmp_path, packs), meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "admin@test.dev", "Ada Admin", PASSWORD, ["admin"])
    create_user(ws, "rep@test.dev", "Rex Rep", PASSWORD, ["sales_rep"])
    return ws


def document(api: Api) -> dict[str, Any]:
    response = api.get("openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.get_json()
    validate(doc)  # raises on anything that is not valid OpenAPI 3.1
    return doc


def documents_rule(rule: str, path: str, entities: set[str]) -> bool:
    """Whether the document's ``path`` is an instance of the Flask ``rule``."""
    wanted, given = rule.split("/"), path.split("/")
    if len(wanted) != len(given):
        return False
    for part, segment in zip(wanted, given, strict=True):
        converter = CONVERTER.fullmatch(part)
        if converter is None:
            if part != segment:
                return False
        elif converter.group(1) == "entity":
            if segment not in entities:
                return False
        elif converter.group(1).endswith("id"):
            if not (segment.startswith("{") and segment.endswith("}")):
                return False
    return True


@pytest.fixture(params=sorted(PACK_SETS))
def pack_set(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def ws(database_url: str, tmp_path: Path, pack_set: str) -> Iterator[Workspace]:
    ws = make_workspace(database_url, tmp_path, PACK_SETS[pack_set])
    yield ws
    ws.close()


def test_every_route_is_documented(ws: Workspace, pack_set: str) -> None:
    app = create_app(ws.config, ws)
    admin = sign_in(app.test_client(), "admin@test.dev")
    doc = document(admin)
    snap = ws.snapshot()
    entities = {e.name for e in snap.catalog.api_entities()}
    operations = [(method.upper(), path) for path, item in doc["paths"].items() for method in item]
    missing, served = [], set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            served.add(rule.endpoint)
            if any(m == method and documents_rule(rule.rule, path, entities) for m, path in operations):
                continue
            if rule.endpoint in UNDOCUMENTED:
                continue
            defined = METADATA_ROUTES.get(rule.endpoint)
            if defined is not None and not defined(snap):
                continue
            missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    assert not missing, "routes the OpenAPI document does not describe:\n" + "\n".join(missing)
    # every metadata route is really served, and the pack set defines what this test says
    assert set(METADATA_ROUTES) <= served
    assert {e for e, defined in METADATA_ROUTES.items() if not defined(snap)} == NOT_DEFINED[pack_set]
    # a caller with fewer rights gets a valid document too
    document(sign_in(app.test_client(), "rep@test.dev"))


# --- the capture workspace: what the new operations say, and that the API agrees -----------


@pytest.fixture
def capture_ws(database_url: str, tmp_path: Path) -> Iterator[Workspace]:
    ws = make_workspace(database_url, tmp_path, PACK_SETS["capture"])
    yield ws
    ws.close()


@pytest.fixture
def capture_app(capture_ws: Workspace) -> Any:
    return create_app(capture_ws.config, capture_ws)


@pytest.fixture
def admin(capture_app: Any) -> Api:
    return sign_in(capture_app.test_client(), "admin@test.dev")


def conforms(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """``value`` follows ``schema``, whose references point into the document."""
    Draft202012Validator({**schema, "components": doc["components"]}).validate(value)


def answer_schema(doc: dict[str, Any], path: str, method: str, status: str) -> dict[str, Any]:
    content = doc["paths"][path][method]["responses"][status]["content"]
    schema: dict[str, Any] = next(iter(content.values()))["schema"]
    return schema


def test_public_forms_and_hooks_are_documented_per_name(admin: Api, capture_app: Any) -> None:
    doc = document(admin)
    for form in ("contact_us", "event_signup", "newsletter", "plain_person"):
        item = doc["paths"][f"/api/v1/public/forms/{form}"]
        assert item["get"]["security"] == [] and item["post"]["security"] == []
        assert {"202", "404", "422", "429"} <= set(item["post"]["responses"])
    contact = doc["paths"]["/api/v1/public/forms/contact_us"]["post"]["requestBody"]["content"]
    body = contact["application/json"]["schema"]
    assert list(body["properties"]) == ["first_name", "last_name", "email", "phone", "company", "description"] + [
        "website_url"  # the honeypot
    ]
    assert body["required"] == ["last_name", "email"]
    assert body["properties"]["email"]["format"] == "email"
    assert contact["application/x-www-form-urlencoded"]["schema"] == body
    hook = doc["paths"]["/api/v1/public/hooks/chat"]["post"]
    assert hook["security"] == []
    assert {p["name"] for p in hook["parameters"]} == {"X-Tessera-Timestamp", "X-Tessera-Signature"}
    payload = hook["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert set(payload["visitor"]["properties"]) == {"first_name", "last_name", "email"}
    assert payload["messages"]["items"]["properties"]["text"]["type"] == ["string", "null"]
    secret = doc["paths"]["/api/v1/admin/hooks/chat/secret"]
    assert set(secret) == {"put", "delete"} and "security" not in secret["put"]  # the token is needed
    assert doc["security"] == [{"bearer": []}]

    # the API answers as documented, without a token
    public = capture_app.test_client()
    described = public.get("/api/v1/public/forms/contact_us")
    assert described.status_code == 200
    conforms(doc, answer_schema(doc, "/api/v1/public/forms/contact_us", "get", "200"), described.get_json())
    sent = public.post("/api/v1/public/forms/newsletter", json={"email": "ann@example.com"})
    assert sent.status_code == 202
    conforms(doc, answer_schema(doc, "/api/v1/public/forms/newsletter", "post", "202"), sent.get_json())
    refused = public.post("/api/v1/public/forms/newsletter", json={"last_name": "Ann"})
    assert refused.status_code == 422
    conforms(doc, answer_schema(doc, "/api/v1/public/forms/newsletter", "post", "422"), refused.get_json())
    unsigned = public.post("/api/v1/public/hooks/chat", json={"visitor": {"email": "bob@example.com"}})
    assert unsigned.status_code == 401 and "401" in hook["responses"]
    made = admin.put("admin/hooks/chat/secret")
    assert made.status_code == 200
    conforms(doc, answer_schema(doc, "/api/v1/admin/hooks/chat/secret", "put", "200"), made.get_json())
    assert admin.delete("admin/hooks/chat/secret").status_code == 204


def test_related_lists_and_timelines_are_documented_and_answer_so(admin: Api) -> None:
    doc = document(admin)
    paths = doc["paths"]
    # person has one link to org; note has one (org) and a links field (people)
    assert {p for p in paths if p.startswith("/api/v1/org/{id}/related/")} >= {
        "/api/v1/org/{id}/related/person",
        "/api/v1/org/{id}/related/note",
    }
    assert "/api/v1/note/{id}/related/people" in paths
    assert "/api/v1/person/{id}/related/note" in paths
    items = answer_schema(doc, "/api/v1/org/{id}/related/person", "get", "200")["properties"]["data"]["items"]
    assert items == {"$ref": "#/components/schemas/Person"}
    names = {p["name"] for p in paths["/api/v1/org/{id}/related/person"]["get"]["parameters"]}
    assert {"id", "filter", "sort", "limit", "cursor", "fields"} <= names
    # any record may have a timeline: every entity gets one
    entities = [e["name"] for e in admin.get("meta/entities").get_json()["data"]]
    assert sorted(p for p in paths if p.endswith("/timeline")) == sorted(
        f"/api/v1/{e}/{{id}}/timeline" for e in entities
    )
    timeline = paths["/api/v1/org/{id}/timeline"]["get"]
    assert {p["name"] for p in timeline["parameters"]} == {"id", "limit", "cursor", "entities"}

    org = admin.post("org", {"name": "Globex"}).get_json()["id"]
    person = admin.post("person", {"last_name": "Novak", "org": org}).get_json()["id"]
    admin.post("note", {"subject": "Call", "org": org, "people": [person]})
    admin.post("note", {"subject": "Visit", "related_entity": "org", "related_id": org})
    related = admin.get(f"org/{org}/related/person")
    assert related.status_code == 200 and len(related.get_json()["data"]) == 1
    conforms(doc, answer_schema(doc, "/api/v1/org/{id}/related/person", "get", "200"), related.get_json())
    entries = admin.get(f"org/{org}/timeline")
    assert entries.status_code == 200 and len(entries.get_json()["data"]) == 2
    conforms(doc, answer_schema(doc, "/api/v1/org/{id}/timeline", "get", "200"), entries.get_json())


def test_duplicate_warnings_and_allow_duplicates_are_documented(admin: Api) -> None:
    doc = document(admin)
    for path, method in (("/api/v1/org", "post"), ("/api/v1/org/{id}", "patch"), ("/api/v1/org/bulk", "post")):
        parameters = {p["name"]: p for p in doc["paths"][path][method]["parameters"]}
        assert parameters["allow_duplicates"]["schema"] == {"type": "boolean", "default": False}
    schemas = doc["components"]["schemas"]
    assert schemas["Org"]["properties"]["_warnings"]["items"] == {"$ref": "#/components/schemas/DuplicateWarning"}
    assert "_warnings" not in schemas["KitSetting"]["properties"]  # no duplicate rules

    first = admin.post("org", {"name": "Initech", "domain": "initech.example"})
    assert first.status_code == 201
    warned = admin.post("org", {"name": "Initrode", "website": "https://initech.example"})
    assert warned.status_code == 201 and warned.get_json()["_warnings"][0]["rule"] == "org_domain"
    conforms(doc, answer_schema(doc, "/api/v1/org", "post", "201"), warned.get_json())
    blocked = admin.post("org", {"name": "INITECH"})
    assert blocked.status_code == 409 and blocked.get_json()["duplicates"]
    conforms(doc, answer_schema(doc, "/api/v1/org", "post", "409"), blocked.get_json())
    allowed = admin.post("org?allow_duplicates=true", {"name": "INITECH"})
    assert allowed.status_code == 201 and allowed.get_json()["_warnings"][0]["overridden"] is True
    conforms(doc, answer_schema(doc, "/api/v1/org", "post", "201"), allowed.get_json())


def test_sign_in_and_other_routes_every_workspace_has_are_documented(admin: Api, capture_app: Any) -> None:
    doc = document(admin)
    paths = doc["paths"]
    for path in ("/api/v1/auth/token", "/api/v1/auth/password-reset", "/api/v1/auth/invitations/accept"):
        assert paths[path]["post"]["security"] == []
    assert "security" not in paths["/api/v1/auth/keys"]["post"]
    user_body = paths["/api/v1/user"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert user_body == {"$ref": "#/components/schemas/UserWrite"}
    assert {"password", "roles", "email"} <= set(doc["components"]["schemas"]["UserWrite"]["properties"])
    names = paths["/api/v1/meta/entities/{name}"]["get"]["parameters"][0]["schema"]["enum"]
    assert {"org", "person", "note", "prospect", "user"} <= set(names)

    token = capture_app.test_client().post("/api/v1/auth/token", json={"email": "rep@test.dev", "password": PASSWORD})
    conforms(doc, answer_schema(doc, "/api/v1/auth/token", "post", "200"), token.get_json())
    conforms(doc, answer_schema(doc, "/api/v1/auth/me", "get", "200"), admin.get("auth/me").get_json())
    key = admin.post("auth/keys", {"name": "ci"})
    assert key.status_code == 201
    conforms(doc, answer_schema(doc, "/api/v1/auth/keys", "post", "201"), key.get_json())
    conforms(doc, answer_schema(doc, "/api/v1/auth/keys", "get", "200"), admin.get("auth/keys").get_json())
    described = admin.get("meta/entities/org")
    conforms(doc, answer_schema(doc, "/api/v1/meta/entities/{name}", "get", "200"), described.get_json())
    audit = admin.get("admin/audit?limit=5")
    assert audit.status_code == 200 and audit.get_json()["data"]
    conforms(doc, answer_schema(doc, "/api/v1/admin/audit", "get", "200"), audit.get_json())
    # the document describes itself; /healthz, outside /api/v1, is not in it
    assert paths["/api/v1/openapi.json"]["get"]["responses"]["200"]
    assert "/healthz" not in paths


#: fuzzed here (schemathesis, as in test_openapi_fuzz.py): what only the capture workspace has
FUZZED = ("/api/v1/public/", "/api/v1/admin/hooks/", "/api/v1/org/{id}/timeline", "/api/v1/org/{id}/related/")


def test_the_capture_operations_answer_as_documented(capture_app: Any, admin: Api) -> None:
    org = admin.post("org", {"name": "Fuzz Inc"}).get_json()["id"]
    admin.post("note", {"subject": "Hello", "org": org})
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", capture_app, headers=admin.headers)
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())  # type: ignore[union-attr]
        if op.path.startswith(FUZZED)
    ]
    # forms, the hook, its secret, the timeline, related lists, the connectors' webhook, the calendar feed
    assert len(operations) == 4 * 2 + 1 + 2 + 1 + 3 + 1 + 1
    failures: list[str] = []
    sent = 0
    for operation in operations:
        for record_id in [None, org] if "{id}" in operation.path else [None]:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    sent += fuzz(operation, mode, admin.headers, record_id)
                except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a FailureGroup
                    failures.append(f"{mode.value} {operation.label} (id={record_id}):\n{exc}")
    assert not failures, f"{len(failures)} failing runs:\n\n" + "\n\n".join(failures)
    assert sent >= len(operations) * MAX_EXAMPLES


def test_record_links_are_documented(database_url: str, tmp_path: Path) -> None:
    """A record-link form (``record_link:``, the surveys pack's ``survey_reply``) is answered
    at ``/api/v1/public/respond/{token}``, not at ``/api/v1/public/forms/NAME``."""
    ws = make_workspace(database_url, tmp_path, ("surveys",))
    try:
        app = create_app(ws.config, ws)
        doc = document(sign_in(app.test_client(), "admin@test.dev"))
        item = doc["paths"]["/api/v1/public/respond/{token}"]
        assert item["get"]["security"] == [] and item["post"]["security"] == []
        body = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert set(body["properties"]) == {"score", "comment"}
        assert "/api/v1/public/forms/survey_reply" not in doc["paths"]
        unknown = app.test_client().get("/api/v1/public/respond/not-a-token")
        assert unknown.status_code == 404
        conforms(doc, answer_schema(doc, "/api/v1/public/respond/{token}", "get", "404"), unknown.get_json())
    finally:
        ws.close()
