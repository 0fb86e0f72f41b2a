"""The SMS gateway's key and callback token show in no log line (DEBUG included) and no API
answer: not when a message is sent, not when the gateway answers 500 and the message is
retried (and sent once), not when the gateway refuses the key."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from engine.actor import SYSTEM
from engine.automation.outbox import dispatch_due
from engine.workspace import Workspace
from tests.conftest import Api
from tests.plugins_sms.fake_gateway import FakeGateway
from tests.plugins_sms.test_sms import LATER, MUCH_LATER, _gateway

KEY, TOKEN = "key-123", "cb-secret"


def test_the_gateway_key_stays_secret_through_a_500_a_retry_and_a_refusal(
    ws: Workspace, admin: Api, lead: Api, fake_gateway: FakeGateway, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = _gateway(admin, fake_gateway)
    fake_gateway.answers = [
        (500, '{"error": "internal"}'),
        (200, '{"messages": [{"id": "gw-7"}]}'),
        (401, '{"error": "bad key"}'),
    ]
    retried = lead.post("sms_message", {"to": "030 1234567", "text": "Your order shipped"}).get_json()
    dispatch_due(ws, LATER)
    assert ws.records.get(SYSTEM, "sms_message", retried["id"])["status"] == "queued"
    dispatch_due(ws, MUCH_LATER)
    assert ws.records.get(SYSTEM, "sms_message", retried["id"])["status"] == "sent"
    assert dispatch_due(ws, MUCH_LATER + dt.timedelta(days=1)) == 0
    assert len(fake_gateway.requests) == 2  # sent once after the 500
    assert all(r["headers"]["X-API-Key"] == KEY for r in fake_gateway.requests)

    refused = lead.post("sms_message", {"to": "030 7654321", "text": "Refused"}).get_json()
    dispatch_due(ws, MUCH_LATER + dt.timedelta(days=2))
    assert "401" in (ws.records.get(SYSTEM, "sms_message", refused["id"])["error"] or "")

    paths = ["sms_gateway", f"sms_gateway/{gateway['id']}", "sms_message"]
    paths += [f"sms_message/{m['id']}" for m in (retried, refused)]
    for api in (admin, lead):
        text = "\n".join(api.get(path).get_data(as_text=True) for path in paths)
        assert KEY not in text and TOKEN not in text
    assert KEY not in caplog.text and TOKEN not in caplog.text
