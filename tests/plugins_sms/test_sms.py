"""The SMS plugin end to end against a local gateway: send, log, retry, callback."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import parse_qs

from engine.actor import SYSTEM
from engine.automation.outbox import dispatch_due
from engine.dsl import Env, compile_expression
from engine.storage.database import write_transaction
from engine.workspace import Workspace
from tests.conftest import Api
from tests.plugins_sms.fake_gateway import FakeGateway

LATER = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
MUCH_LATER = LATER + dt.timedelta(days=1)


def _gateway(admin: Api, fake: FakeGateway, **extra: Any) -> dict[str, Any]:
    body = {
        "name": "main",
        "url": fake.url,
        "sender": "Tessera",
        "auth_header_name": "X-API-Key",
        "auth_header_value": "key-123",
        "message_id_path": "messages.0.id",
        "callback_token": "cb-secret",
        **extra,
    }
    response = admin.post("sms_gateway", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _message(ws: Workspace, record_id: str) -> dict[str, Any]:
    return ws.records.get(SYSTEM, "sms_message", record_id)


def test_a_new_message_goes_through_the_gateway_in_e164_and_is_logged_once(
    ws: Workspace, admin: Api, lead: Api, fake_gateway: FakeGateway
) -> None:
    gateway = _gateway(admin, fake_gateway)
    assert "key-123" not in json.dumps(gateway) and "cb-secret" not in json.dumps(gateway)
    created = lead.post("sms_message", {"to": "030 1234567", "text": 'Your "order" & more'})
    assert created.status_code == 201, created.get_json()
    assert dispatch_due(ws, LATER) == 1
    (request,) = fake_gateway.requests
    assert request["method"] == "POST"
    assert request["headers"]["X-API-Key"] == "key-123"
    assert request["headers"]["Content-Type"] == "application/json"
    assert json.loads(request["body"]) == {"to": "+49301234567", "text": 'Your "order" & more', "from": "Tessera"}
    message = _message(ws, created.get_json()["id"])
    assert message["status"] == "sent"
    assert message["to"] == "+49301234567"
    assert message["gateway_message_id"] == "gw-1"
    assert message["gateway"] == gateway["id"]
    assert message["sent_at"] is not None
    # nothing is sent twice
    assert dispatch_due(ws, MUCH_LATER) == 0
    assert len(fake_gateway.requests) == 1
    # the gateway's credentials never show in the API, the log included
    assert "key-123" not in json.dumps(admin.get(f"sms_gateway/{gateway['id']}").get_json())
    assert "key-123" not in json.dumps(lead.get(f"sms_message/{message['id']}").get_json())


def test_a_form_gateway_gets_url_encoded_values(ws: Workspace, admin: Api, fake_gateway: FakeGateway) -> None:
    _gateway(
        admin,
        fake_gateway,
        body_format="form",
        body_template="number={{ to }}&message={{ text }}&from={{ sender }}",
        default_region="GB",
        success_match="accepted",
    )
    ws.records.create(SYSTEM, "sms_message", {"to": "07400 123456", "text": "a&b=c ?"})
    dispatch_due(ws, LATER)
    (request,) = fake_gateway.requests
    assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request["body"]) == {"number": ["+447400123456"], "message": ["a&b=c ?"], "from": ["Tessera"]}


def test_a_get_gateway_gets_the_query_string(ws: Workspace, admin: Api, fake_gateway: FakeGateway) -> None:
    _gateway(admin, fake_gateway, method="GET", body_template="to={{ to }}&text={{ text }}")
    ws.records.create(SYSTEM, "sms_message", {"to": "+49 151 2222 333", "text": "Hi there"})
    dispatch_due(ws, LATER)
    (request,) = fake_gateway.requests
    assert request["method"] == "GET"
    assert parse_qs(request["path"].split("?", 1)[1]) == {"to": ["+491512222333"], "text": ["Hi there"]}


def test_a_gateway_error_is_retried_and_sends_once(ws: Workspace, admin: Api, fake_gateway: FakeGateway) -> None:
    _gateway(admin, fake_gateway)
    fake_gateway.answers = [(503, "busy"), (200, '{"messages": [{"id": "gw-7"}]}')]
    record = ws.records.create(SYSTEM, "sms_message", {"to": "+4930111222", "text": "Retry me"})
    dispatch_due(ws, LATER)
    first = _message(ws, record["id"])
    assert first["status"] == "queued"
    assert "HTTP 503" in first["error"]
    dispatch_due(ws, MUCH_LATER)
    second = _message(ws, record["id"])
    assert second["status"] == "sent"
    assert second["gateway_message_id"] == "gw-7"
    assert second["error"] is None
    assert len(fake_gateway.requests) == 2
    assert dispatch_due(ws, MUCH_LATER + dt.timedelta(days=1)) == 0


def test_a_refused_message_and_a_bad_number_fail_at_once(ws: Workspace, admin: Api, fake_gateway: FakeGateway) -> None:
    _gateway(admin, fake_gateway, success_match='"status": "accepted"')
    fake_gateway.answers = [(200, '{"status": "rejected", "reason": "blocked number"}')]
    refused = ws.records.create(SYSTEM, "sms_message", {"to": "+4930111222", "text": "No"})
    bad = ws.records.create(SYSTEM, "sms_message", {"to": "+999 1234", "text": "Nobody"})
    dispatch_due(ws, LATER)
    refused_now, bad_now = _message(ws, refused["id"]), _message(ws, bad["id"])
    assert refused_now["status"] == "failed"
    assert "does not contain" in refused_now["error"] and "blocked number" in refused_now["error"]
    assert bad_now["status"] == "failed"
    assert "not a" in bad_now["error"] and "phone number" in bad_now["error"]
    assert len(fake_gateway.requests) == 1
    assert dispatch_due(ws, MUCH_LATER) == 0


def test_the_status_callback_marks_the_message_delivered(
    ws: Workspace, admin: Api, app: Any, fake_gateway: FakeGateway
) -> None:
    _gateway(admin, fake_gateway)
    record = ws.records.create(SYSTEM, "sms_message", {"to": "+4930111222", "text": "Track me"})
    dispatch_due(ws, LATER)
    client = app.test_client()
    url = "/public/plugins/sms/status/main"
    assert client.post(url, json={"id": "gw-1", "status": "delivered"}).status_code == 403
    assert client.post(f"{url}?token=wrong", json={"id": "gw-1", "status": "delivered"}).status_code == 403
    assert client.post(f"{url}?token=cb-secret", json={"status": "delivered"}).status_code == 400
    missing = client.post(f"{url}?token=cb-secret", json={"id": "gw-404", "status": "delivered"})
    assert missing.status_code == 404
    assert missing.content_type.startswith("application/problem+json")
    assert client.post("/public/plugins/sms/status/nope?token=cb-secret", json={}).status_code == 404
    answer = client.post(f"{url}?token=cb-secret", data={"id": "gw-1", "status": "DELIVRD"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["status"] == "delivered"
    message = _message(ws, record["id"])
    assert message["status"] == "delivered"
    assert message["delivered_at"] is not None
    assert "DELIVRD" in message["gateway_response"]


def test_without_a_gateway_the_message_goes_to_the_log_normalised(ws: Workspace, caplog: Any) -> None:
    record = ws.records.create(SYSTEM, "sms_message", {"to": "+49 30 999888", "text": "Logged"})
    with caplog.at_level("WARNING", logger="tessera.messages"):
        dispatch_due(ws, LATER)
    message = _message(ws, record["id"])
    assert message["status"] == "sent"
    assert message["to"] == "+4930999888"
    assert any("To: +4930999888" in r.getMessage() and "Logged" in r.getMessage() for r in caplog.records)


def test_e164_is_a_dsl_function(ws: Workspace) -> None:
    snap = ws.snapshot()
    entity = snap.catalog.entities["sms_message"]
    expr = compile_expression('e164(to, "DE")', entity, snap.catalog, functions=ws.functions)
    now = dt.datetime.now(dt.UTC)
    assert expr.python(Env({"to": "030 1234567"}, now=now)) == "+49301234567"
    assert expr.python(Env({"to": "+44 7400 123456"}, now=now)) == "+447400123456"
    assert expr.python(Env({"to": "no number"}, now=now)) is None


def test_a_template_gives_the_text_of_a_message_without_one(
    ws: Workspace, admin: Api, fake_gateway: FakeGateway
) -> None:
    _gateway(admin, fake_gateway)
    record = ws.records.create(SYSTEM, "sms_message", {"to": "+49 30 555 666", "template": "visit"})
    dispatch_due(ws, LATER)
    expected = "Reminder for +49 30 555 666: our technician visits you tomorrow."
    assert fake_gateway.json_bodies()[0]["text"] == expected
    assert _message(ws, record["id"])["text"] == expected


def test_a_message_queued_by_a_rule_is_logged_with_its_record(
    ws: Workspace, admin: Api, fake_gateway: FakeGateway
) -> None:
    _gateway(admin, fake_gateway)
    person = ws.records.create(SYSTEM, "person", {"last_name": "Kunde"})
    with write_transaction(ws.db) as conn:  # what a rule's notify action queues
        run = ws.records._run(conn, ws.snapshot(), SYSTEM, dt.datetime.now(dt.UTC))
        payload = {"to": "0151 2345678", "body": "Your case was updated", "entity": "person", "record_id": person["id"]}
        run.outbox("sms", payload, entity="person", record_id=person["id"])
    dispatch_due(ws, LATER)
    (message,) = ws.records.list(SYSTEM, "sms_message", {"related_id": person["id"]}).data
    assert message["related_entity"] == "person"
    assert message["to"] == "+491512345678" and message["text"] == "Your case was updated"
    assert message["status"] == "sent" and message["outbox_id"]
    assert fake_gateway.json_bodies()[0]["to"] == "+491512345678"
