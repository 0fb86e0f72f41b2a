"""The OpenAPI document lists the automation engine's operations, from the live metadata.

The workspace has the ``auto_workflows`` test pack: ``case_lifecycle`` (transitions, one of
them for support agents only, ``resolve`` requiring a resolution) and ``deal_approval`` (an
approval process). The document must list each record action with its own body, the approval
history of entities with an approval process, the caller's notifications, the job queue, the
webhook delivery log and the automation documents; it must stay a valid OpenAPI 3.1 document,
and the API must answer those operations as the document says (schemathesis, as in
``test_openapi_fuzz.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis.generation import GenerationMode

from engine.app import create_app
from engine.automation.definitions import KINDS
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.api.test_openapi_fuzz import MAX_EXAMPLES, fuzz
from tests.conftest import PASSWORD, Api, make_config, sign_in

#: fuzzed here, on records of this workspace; test_openapi_fuzz.py fuzzes the admin routes
FUZZED_ROUTES = ("/actions/", "/approvals", "/me/notifications")


@pytest.fixture
def ws(database_url: str, tmp_path: Path) -> Iterator[Workspace]:
    ws = Workspace(make_config(database_url, tmp_path, ("autokit", "auto_workflows")), meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "admin@test.dev", "Ada Admin", PASSWORD, ["admin"])
    create_user(ws, "rep@test.dev", "Rex Rep", PASSWORD, ["sales_rep"])
    create_user(ws, "agent@test.dev", "Alf Agent", PASSWORD, ["sales_rep", "support_agent"])
    yield ws
    ws.close()


@pytest.fixture
def app(ws: Workspace) -> Any:
    return create_app(ws.config, ws)


@pytest.fixture
def admin(app: Any) -> Api:
    return sign_in(app.test_client(), "admin@test.dev")


def document(api: Api) -> dict[str, Any]:
    response = api.get("openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.get_json()
    validate(doc)  # raises on anything that is not valid OpenAPI 3.1
    return doc


def body_schema(doc: dict[str, Any], path: str) -> dict[str, Any]:
    schema: dict[str, Any] = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schema


def test_record_actions_are_listed_per_entity_with_their_bodies(admin: Api) -> None:
    doc = document(admin)
    actions = sorted(p for p in doc["paths"] if "/actions/" in p)
    assert actions == [
        *(f"/api/v1/case/{{id}}/actions/{n}" for n in ("assign", "close", "reopen", "resolve", "start", "wait")),
        *(f"/api/v1/deal/{{id}}/actions/{n}" for n in ("approve", "recall", "reject", "revise", "send", "submit")),
    ]
    resolve = doc["paths"]["/api/v1/case/{id}/actions/resolve"]["post"]
    assert resolve["summary"] == "Transition resolve: from in_progress, waiting to resolved"
    assert set(body_schema(doc, "/api/v1/case/{id}/actions/resolve")["properties"]) == {"comment", "resolution"}
    assert resolve["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Case"}
    assert {"404", "409", "422"} <= set(resolve["responses"])
    assert resolve["responses"]["409"]["content"]["application/problem+json"]
    approve = body_schema(doc, "/api/v1/deal/{id}/actions/approve")
    assert approve == {
        "type": "object",
        "properties": {"comment": approve["properties"]["comment"]},
        "additionalProperties": False,
    }


def test_approval_history_is_listed_for_entities_with_an_approval_process(admin: Api) -> None:
    doc = document(admin)
    assert "/api/v1/deal/{id}/approvals" in doc["paths"]
    assert "/api/v1/case/{id}/approvals" not in doc["paths"]  # case has a workflow, but no approvals
    step = doc["components"]["schemas"]["ApprovalStep"]
    assert {"process", "step", "state", "approver", "decided_at", "comment"} <= set(step["properties"])


def test_a_caller_sees_the_transitions_their_roles_may_run(app: Any) -> None:
    rep = document(sign_in(app.test_client(), "rep@test.dev"))
    agent = document(sign_in(app.test_client(), "agent@test.dev"))
    assert "/api/v1/case/{id}/actions/start" not in rep["paths"]  # roles: [support_agent]
    assert "/api/v1/case/{id}/actions/resolve" in rep["paths"]
    assert "/api/v1/case/{id}/actions/start" in agent["paths"]
    # approvers decide on records they may only read: the decisions are listed for everyone
    assert "/api/v1/deal/{id}/actions/approve" in rep["paths"]


def test_notifications_jobs_webhook_deliveries_and_documents_are_listed(admin: Api, app: Any) -> None:
    for doc in (document(admin), document(sign_in(app.test_client(), "rep@test.dev"))):
        operations = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
        assert {
            ("GET", "/api/v1/me/notifications"),
            ("POST", "/api/v1/me/notifications/read"),
            ("GET", "/api/v1/admin/jobs"),
            ("GET", "/api/v1/admin/jobs/metrics"),
            ("POST", "/api/v1/admin/jobs/{id}/retry"),
            ("POST", "/api/v1/admin/jobs/{id}/discard"),
            ("GET", "/api/v1/admin/jobs/{id}/deliveries"),
            ("GET", "/api/v1/admin/webhooks/{id}/deliveries"),
            ("GET", "/api/v1/meta/documents"),
            ("GET", "/api/v1/meta/documents/{kind}"),
            ("POST", "/api/v1/meta/documents/{kind}"),
            ("GET", "/api/v1/meta/documents/{kind}/{name}"),
            ("PUT", "/api/v1/meta/documents/{kind}/{name}"),
            ("DELETE", "/api/v1/meta/documents/{kind}/{name}"),
        } <= operations
        mine = doc["paths"]["/api/v1/me/notifications"]["get"]["responses"]["200"]["content"]["application/json"]
        assert mine["schema"]["properties"]["data"]["items"] == {"$ref": "#/components/schemas/Notification"}
        kinds = doc["paths"]["/api/v1/meta/documents/{kind}"]["post"]["parameters"][0]["schema"]["enum"]
        assert kinds == list(KINDS)
        retry = doc["paths"]["/api/v1/admin/jobs/{id}/retry"]["post"]["responses"]
        assert retry["409"]["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_a_workflow_added_at_run_time_brings_its_actions(admin: Api) -> None:
    assert "/api/v1/client/{id}/actions/archive" not in document(admin)["paths"]
    workflow = {
        "workflow": "client_life",
        "entity": "client",
        "field": "stage",
        "transitions": [{"name": "archive", "from": ["active"], "to": "archived"}],
    }
    added = admin.post(
        "meta/entities/client/fields", {"name": "stage", "type": "enum", "options": ["active", "archived"]}
    )
    assert added.status_code == 201, added.get_json()
    created = admin.post("meta/documents/workflow", workflow)
    assert created.status_code == 201, created.get_json()
    doc = document(admin)
    assert doc["paths"]["/api/v1/client/{id}/actions/archive"]["post"]["summary"] == (
        "Transition archive: from active to archived"
    )
    assert admin.delete("meta/documents/workflow/client_life").status_code == 204
    assert "/api/v1/client/{id}/actions/archive" not in document(admin)["paths"]


def test_the_automation_operations_answer_as_documented(app: Any, admin: Api) -> None:
    records = {
        "case": admin.post("case", {"subject": "Printer on fire"}).get_json()["id"],
        "deal": admin.post("deal", {"name": "Big one", "discount_pct": 15}).get_json()["id"],
    }
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=admin.headers)
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())  # type: ignore[union-attr]
        if any(route in op.path for route in FUZZED_ROUTES)
    ]
    assert len(operations) == 12 + 1 + 2  # actions, the approval history, notifications
    failures: list[str] = []
    sent = 0
    for operation in operations:
        entity = operation.path.split("/")[3]
        for record_id in [None, records[entity]] if entity in records else [None]:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    sent += fuzz(operation, mode, admin.headers, record_id)
                except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a FailureGroup
                    failures.append(f"{mode.value} {operation.label} (id={record_id}):\n{exc}")
    assert not failures, f"{len(failures)} failing runs:\n\n" + "\n\n".join(failures)
    assert sent >= len(operations) * MAX_EXAMPLES
