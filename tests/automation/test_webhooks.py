"""Webhook subscriptions: matching changes are POSTed, signed, retried, and switched off
when the receiver is gone. The receiver is a local HTTP server in the test process."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from engine.app import create_app
from engine.automation.outbox import RetryPolicy, dispatch_due
from engine.storage import system_tables as st
from engine.storage.database import read_transaction
from engine.storage.encryption import FieldCipher
from engine.workspace import Workspace
from tests.conftest import Api, sign_in

T0 = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)
POLICY = RetryPolicy(max_attempts=5, base=dt.timedelta(minutes=1))


class Receiver:
    """Answers POSTs with the next status of ``statuses`` (the last one repeats)."""

    def __init__(self) -> None:
        self.statuses = [200]
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/tessera"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def ws(auto_workspace: Any) -> Workspace:
    workspace: Workspace = auto_workspace("auto_notify", webhook_disable_after=3)
    workspace.records.clock = lambda: T0
    return workspace


@pytest.fixture
def app(ws: Workspace) -> Any:
    return create_app(ws.config, ws)


@pytest.fixture
def admin(app: Any) -> Api:
    return sign_in(app.test_client(), "admin@test.dev")


@pytest.fixture
def rep(app: Any) -> Api:
    return sign_in(app.test_client(), "rep@test.dev")


def _subscribe(admin: Api, url: str, **fields: Any) -> dict[str, Any]:
    body = {"name": "ops", "url": url, "entity": "case", "events": ["create", "update"], **fields}
    response = admin.post("webhook", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _dispatch(ws: Workspace, at: dt.datetime = T0) -> int:
    return dispatch_due(ws, at, policy=POLICY)


def _webhook_rows(ws: Workspace) -> list[Any]:
    o = st.outbox
    with read_transaction(ws.db) as conn:
        return conn.execute(sa.select(o).where(o.c.channel == "webhook").order_by(o.c.created_at, o.c.id)).all()


def test_a_matching_change_is_posted_and_the_receiver_can_verify_the_signature(
    ws: Workspace, admin: Api, rep: Api, receiver: Receiver
) -> None:
    sub = _subscribe(admin, receiver.url, filter='priority == "P1"')
    secret = sub["secret"]
    assert len(secret) >= 32  # generated, shown to admins
    case = rep.post("case", {"subject": "Server down", "priority": "P1"}).get_json()
    rep.post("case", {"subject": "Mouse", "priority": "P4"})  # the filter does not hold
    _dispatch(ws)
    [(headers, body)] = receiver.received
    timestamp = headers["x-tessera-timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-tessera-signature"], f"sha256={expected}")
    [row] = _webhook_rows(ws)
    assert headers["x-tessera-delivery"] == row.id
    assert headers["x-tessera-event"] == "case.create"
    assert headers["content-type"] == "application/json"
    document = json.loads(body)
    assert (document["id"], document["event"], document["entity"], document["record_id"]) == (
        row.id,
        "case.create",
        "case",
        case["id"],
    )
    assert document["record"]["subject"] == "Server down"
    assert "secret" not in json.dumps(document)

    rep.patch(f"case/{case['id']}", {"priority": "P2", "subject": "Server up"})  # no longer P1: filtered out
    rep.delete(f"case/{case['id']}")  # not subscribed
    _dispatch(ws)
    assert len(receiver.received) == 1


def test_an_update_carries_the_old_values_and_the_changed_fields(
    ws: Workspace, admin: Api, rep: Api, receiver: Receiver
) -> None:
    _subscribe(admin, receiver.url, events=["update"], filter="changed(status)")
    case = rep.post("case", {"subject": "Printer"}).get_json()
    rep.patch(f"case/{case['id']}", {"subject": "Printer jam"})
    rep.patch(f"case/{case['id']}", {"status": "in_progress"})
    _dispatch(ws)
    [document] = receiver.bodies()
    assert document["event"] == "case.update"
    assert (document["old"]["status"], document["record"]["status"]) == ("new", "in_progress")
    assert document["changed"] == ["status"]
    assert document["record"]["version"] == 3


def test_a_failed_delivery_is_retried_with_the_same_delivery_id_and_logged(
    ws: Workspace, admin: Api, rep: Api, receiver: Receiver
) -> None:
    sub = _subscribe(admin, receiver.url)
    receiver.statuses = [500, 200]
    rep.post("case", {"subject": "Flaky"})
    _dispatch(ws)
    assert admin.get(f"webhook/{sub['id']}").get_json()["failures"] == 1
    _dispatch(ws)  # waiting for the backoff
    assert len(receiver.received) == 1
    _dispatch(ws, T0 + dt.timedelta(minutes=1))
    first, second = (headers["x-tessera-delivery"] for headers, _ in receiver.received)
    assert first == second  # receivers deduplicate retries by it
    assert receiver.bodies()[0] == receiver.bodies()[1]
    assert admin.get(f"webhook/{sub['id']}").get_json()["failures"] == 0  # a success resets the count

    log = admin.get(f"admin/webhooks/{sub['id']}/deliveries").get_json()["data"]
    assert [(d["event"], d["state"], d["attempts"]) for d in log] == [("case.create", "sent", 2)]
    assert [(a["ok"], a["status_code"]) for a in log[0]["log"]] == [(False, 500), (True, 200)]
    assert rep.get(f"admin/webhooks/{sub['id']}/deliveries").status_code == 403


def test_a_gone_receiver_switches_the_subscription_off(ws: Workspace, admin: Api, rep: Api, receiver: Receiver) -> None:
    sub = _subscribe(admin, receiver.url)
    receiver.statuses = [410]
    rep.post("case", {"subject": "First"})
    rep.post("case", {"subject": "Second"})
    _dispatch(ws)
    assert len(receiver.received) == 1  # the second delivery is not even tried
    assert {r.state for r in _webhook_rows(ws)} == {"failed"}
    stored = admin.get(f"webhook/{sub['id']}").get_json()
    assert (stored["active"], stored["disabled_reason"]) == (False, "the receiver answered 410 Gone")
    rep.post("case", {"subject": "Third"})
    assert len(_webhook_rows(ws)) == 2  # a switched-off subscription gets nothing

    receiver.statuses = [200]
    enabled = admin.patch(f"webhook/{sub['id']}", {"active": True}).get_json()
    assert (enabled["active"], enabled["failures"], enabled["disabled_reason"]) == (True, 0, None)
    rep.post("case", {"subject": "Fourth"})
    _dispatch(ws)
    assert len(receiver.received) == 2
    assert receiver.bodies()[-1]["record"]["subject"] == "Fourth"


def test_too_many_failures_in_a_row_switch_the_subscription_off(
    ws: Workspace, admin: Api, rep: Api, receiver: Receiver
) -> None:
    sub = _subscribe(admin, receiver.url)
    receiver.statuses = [503]
    rep.post("case", {"subject": "A"})
    rep.post("case", {"subject": "B"})
    _dispatch(ws)  # two failures
    assert admin.get(f"webhook/{sub['id']}").get_json()["active"] is True
    _dispatch(ws, T0 + dt.timedelta(minutes=1))  # the third in a row: off (webhook_disable_after=3)
    stored = admin.get(f"webhook/{sub['id']}").get_json()
    assert stored["active"] is False
    assert stored["disabled_reason"].startswith("3 deliveries in a row failed; last: HTTP 503")
    assert {r.state for r in _webhook_rows(ws)} == {"failed"}


def test_a_client_error_is_not_retried(ws: Workspace, admin: Api, rep: Api, receiver: Receiver) -> None:
    _subscribe(admin, receiver.url)
    receiver.statuses = [400]
    rep.post("case", {"subject": "A"})
    _dispatch(ws)
    [row] = _webhook_rows(ws)
    assert (row.state, row.last_error) == ("failed", "HTTP 400")


def test_a_rule_sends_the_record_and_its_data_to_a_named_subscription(
    ws: Workspace, admin: Api, rep: Api, receiver: Receiver
) -> None:
    admin.post("webhook", {"name": "erp", "url": receiver.url})  # no entity: only rules send to it
    client = rep.post("client", {"name": "Acme"}).get_json()
    case = rep.post("case", {"subject": "Done", "client": client["id"]}).get_json()
    assert _webhook_rows(ws) == []
    rep.patch(f"case/{case['id']}", {"status": "closed"})
    _dispatch(ws)
    [(headers, _)] = receiver.received
    [document] = receiver.bodies()
    assert headers["x-tessera-event"] == "case.closed"
    assert document["data"] == {"client": "Acme", "priority": "P3"}
    assert document["record"]["status"] == "closed"


def test_a_rule_naming_a_missing_subscription_notes_it_in_the_history(ws: Workspace, rep: Api) -> None:
    case = rep.post("case", {"subject": "Done"}).get_json()
    assert rep.patch(f"case/{case['id']}", {"status": "closed"}).status_code == 200
    history = rep.get(f"case/{case['id']}/history").get_json()["data"]
    [skipped] = [h for h in history if h["action"] == "webhook_skipped"]
    assert skipped["changes"]["subscription"] == [None, "erp"]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"entity": "nothing"}, "entity", "There is no entity 'nothing'"),
        ({"entity": "webhook"}, "entity", "There is no entity 'webhook'"),
        ({"events": []}, "events", "Name the events to send"),
        ({"filter": "priority == "}, "filter", "priority =="),
        ({"filter": "no_such_field == 1"}, "filter", "no_such_field"),
        ({"filter": "subject"}, "filter", "a condition must be true or false"),
        ({"events": ["create", "explode"]}, "events", ""),
        ({"url": "ftp://example.com/x"}, "url", "http(s)"),
    ],
)
def test_a_bad_subscription_is_refused_with_the_reason(
    ws: Workspace, admin: Api, fields: dict[str, Any], field: str, message: str
) -> None:
    body = {"name": "bad", "url": "https://example.com/hook", "entity": "case", "events": ["create"], **fields}
    response = admin.post("webhook", body)
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]
    assert any(e["field"] == field and message in e["message"] for e in errors), errors
    assert admin.get("webhook").get_json()["data"] == []


def test_a_bad_change_to_a_subscription_is_refused(ws: Workspace, admin: Api, receiver: Receiver) -> None:
    sub = _subscribe(admin, receiver.url)
    response = admin.patch(f"webhook/{sub['id']}", {"filter": "priority == 7"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "filter"
    assert admin.get(f"webhook/{sub['id']}").get_json()["filter"] is None


def test_only_admins_see_and_manage_subscriptions(ws: Workspace, admin: Api, rep: Api, receiver: Receiver) -> None:
    sub = _subscribe(admin, receiver.url)
    assert rep.get("webhook").status_code == 404
    assert rep.get(f"webhook/{sub['id']}").status_code == 404
    assert rep.post("webhook", {"name": "mine", "url": receiver.url}).status_code in (403, 404)


def test_a_secret_sealed_under_another_key_fails_the_delivery_and_reads_as_null(
    ws: Workspace, admin: Api, rep: Api, receiver: Receiver, caplog: Any
) -> None:
    sub = _subscribe(admin, receiver.url)
    elsewhere = FieldCipher("another-installation-" + "z" * 32, previous=[]).seal(sub["secret"])
    with ws.db.begin() as conn:  # as restored from a backup made under another TESSERA_SECRET_KEY
        conn.execute(sa.text("UPDATE webhook SET secret = :v WHERE id = :id"), {"v": elsewhere, "id": sub["id"]})
    with caplog.at_level("WARNING", logger="tessera.security"):
        listed = admin.get("webhook")
    assert listed.status_code == 200, listed.get_json()
    assert [(w["id"], w["secret"]) for w in listed.get_json()["data"]] == [(sub["id"], None)]
    [warning] = [r.getMessage() for r in caplog.records if r.name == "tessera.security"]
    assert f"webhook.secret of record {sub['id']}" in warning and "TESSERA_SECRET_KEY_PREVIOUS" in warning

    rep.post("case", {"subject": "Unsigned"})
    _dispatch(ws)
    [row] = _webhook_rows(ws)
    assert (row.state, row.attempts) == ("failed", 1)  # at once: no retry can open it
    assert row.last_error.startswith(
        "the subscription's signing secret cannot be opened: the value was encrypted with another key"
    )
    assert receiver.received == []  # nothing unsigned (or signed with garbage) left the building
