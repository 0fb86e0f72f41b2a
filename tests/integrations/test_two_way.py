"""ITSM incidents <-> tickets both ways without echo loops, the signed inbound webhook, the
OAuth2 token cache, connector checks and plugin kinds. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from engine import plugins
from engine.automation.jobs import InProcessRunner
from engine.capture.signing import sign
from engine.hookspecs import ConnectorKind, hookimpl
from tests.integrations.conftest import example
from tests.integrations.test_rest_pull import add_connector, rows, sync


def test_incidents_and_tickets_sync_both_ways_without_echo(integrations, admin_api, peer):
    peer.style = "next"
    peer.auth = ("oauth2", "tessera", "itsm-secret-42")
    account = admin_api.post("/api/v1/account", json={"name": "Nordwind Logistik GmbH", "erp_customer_id": "C-1"})
    peer.add(
        "incidents",
        short_description="VPN down",
        description="Since 9:00",
        company={"erp_id": "C-1"},
        impact=1,
        urgency=2,
    )
    peer.add("incidents", short_description="Printer jam", company={"erp_id": "C-1"}, impact=3, urgency=3)
    peer.add("incidents", short_description="Mail slow", impact=2, urgency=2)
    mapping = example("itsm_incidents", peer, client_secret="itsm-secret-42", schedule=None)
    mapping["mapping"] = mapping["mapping"].replace("style: next, path: next", "style: next, path: next, size: 2")
    add_connector(admin_api, mapping)

    run = sync(admin_api, "itsm_incidents")
    assert (run["status"], run["created"], run["failed"]) == ("succeeded", 3, 0)
    assert peer.tokens_issued == 1  # one token for every page
    assert [r["path"] for r in peer.requests] == ["/oauth/token", "/incidents", "/incidents"]  # next link
    tickets = {t["itsm_id"]: t for t in rows(admin_api, "ticket")}
    vpn = tickets["1001"]
    assert (vpn["subject"], vpn["impact"], vpn["urgency"], vpn["account"]) == (
        "VPN down",
        "high",
        "medium",
        account.get_json()["id"],
    )

    # the import queued nothing to push back
    runner = InProcessRunner(integrations)
    runner.tick()
    assert peer.writes() == []

    # an agent changes a ticket: the incident follows; a new ticket opens an incident
    changed = admin_api.patch(f"/api/v1/ticket/{vpn['id']}", json={"subject": "VPN down in Hamburg"})
    assert changed.status_code == 200, changed.get_json()
    new = admin_api.post("/api/v1/ticket", json={"subject": "Badge reader broken", "description": "Gate 2"})
    assert new.status_code == 201, new.get_json()
    runner.tick()
    assert peer.find("incidents", "1001")["short_description"] == "VPN down in Hamburg"
    [created] = [r for r in peer.writes() if r["method"] == "POST"]
    assert created["json"]["short_description"] == "Badge reader broken"
    assert created["json"]["tessera_number"] == new.get_json()["number"]
    remote_id = peer.collections["incidents"][-1]["id"]
    assert admin_api.get(f"/api/v1/ticket/{new.get_json()['id']}").get_json()["itsm_id"] == remote_id
    assert peer.tokens_issued == 1  # the cached token served the pushes too

    # the next pull sees both incidents changed (by us): nothing changes, nothing is pushed again
    writes = len(peer.writes())
    run = sync(admin_api, "itsm_incidents")
    assert (run["created"], run["updated"], run["unchanged"]) == (0, 0, 2)
    runner.tick()
    assert len(peer.writes()) == writes
    # a change in the ITSM comes in, and is not echoed back
    peer.change("incidents", "1002", short_description="Printer jam on floor 3")
    assert sync(admin_api, "itsm_incidents")["updated"] == 1
    runner.tick()
    assert len(peer.writes()) == writes
    assert len(rows(admin_api, "ticket")) == 4

    # a token the peer no longer accepts (it expired there) is fetched again, once
    peer.valid_tokens.clear()
    admin_api.patch(f"/api/v1/ticket/{vpn['id']}", json={"description": "Since 9:00; tunnel restarted"})
    runner.tick()
    peer.change("incidents", "1003", short_description="Mail slow since the update")
    assert sync(admin_api, "itsm_incidents")["updated"] == 1
    assert peer.tokens_issued == 2
    assert peer.find("incidents", "1001")["description"] == "Since 9:00; tunnel restarted"


def test_a_push_the_peer_refuses_lands_in_the_dead_letter_list(integrations, admin_api, peer):
    peer.auth = ("oauth2", "tessera", "itsm-secret-42")
    values = example("itsm_incidents", peer, client_secret="itsm-secret-42", direction="push", schedule=None)
    add_connector(admin_api, values)
    peer.fail_next = 1  # the token endpoint is down once: retried later
    ticket = admin_api.post("/api/v1/ticket", json={"subject": "Badge reader broken"}).get_json()
    runner = InProcessRunner(integrations)
    assert runner.tick().outbox.get("retry", 0) >= 1
    assert peer.writes() == []
    # the client secret was rotated on the peer only: the push is refused for good
    peer.auth = ("oauth2", "tessera", "other-secret")
    later = runner.tick(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5))
    assert later.outbox.get("failed", 0) >= 1
    failures = rows(admin_api, "sync_failure")
    assert failures and all((f["direction"], f["record_id"]) == ("push", ticket["id"]) for f in failures)
    assert failures[0]["payload"]["short_description"] == "Badge reader broken"
    assert "401" in failures[0]["reason"] and "secret" not in failures[0]["reason"]
    assert peer.writes() == []
    assert sync_refused(admin_api, "itsm_incidents") == 409  # a push-only connector has nothing to pull


def sync_refused(api: Any, name: str) -> int:
    return int(api.post(f"/api/v1/connectors/{name}/sync").status_code)


def test_the_signed_webhook_imports_rows_through_the_same_checks(admin_api, client_for_webhook, peer):
    admin_api.post("/api/v1/account", json={"name": "Nordwind Logistik GmbH", "erp_customer_id": "C-1"})
    add_connector(admin_api, example("erp_invoices", peer, api_key="k", webhook_secret="hook-secret-0123456789"))
    rows_sent = [
        {"id": "77", "number": "INV-77", "customer": {"id": "C-1"}, "issued_on": "2026-10-01", "total_cents": 100},
        {"id": "78", "number": "INV-78", "customer": {"id": "C-1"}, "issued_on": "soon", "total_cents": 100},
    ]
    body = json.dumps({"rows": rows_sent}).encode()
    stamp = str(int(time.time()))
    url = "/api/v1/public/connectors/erp_invoices/webhook"
    headers = {"Content-Type": "application/json", "X-Tessera-Timestamp": stamp}

    forged = client_for_webhook.post(url, data=body, headers={**headers, "X-Tessera-Signature": "sha256=00"})
    assert forged.status_code == 401
    assert rows(admin_api, "invoice") == []
    signed = sign("hook-secret-0123456789", stamp, body)
    reply = client_for_webhook.post(url, data=body, headers={**headers, "X-Tessera-Signature": signed})
    assert reply.status_code == 202, reply.get_json()
    assert (reply.get_json()["created"], reply.get_json()["failed"]) == (1, 1)
    assert [i["number"] for i in rows(admin_api, "invoice")] == ["INV-77"]
    [failure] = rows(admin_api, "sync_failure")
    assert failure["remote_id"] == "78" and "issued_on" in failure["reason"]
    assert [r["trigger"] for r in rows(admin_api, "sync_run")] == ["webhook"]
    # the same delivery again (a retrying sender) duplicates nothing
    again = client_for_webhook.post(url, data=body, headers={**headers, "X-Tessera-Signature": signed})
    assert (again.get_json()["created"], again.get_json()["unchanged"]) == (0, 1)
    assert (
        client_for_webhook.post("/api/v1/public/connectors/nope/webhook", data=body, headers=headers).status_code == 404
    )


def test_connectors_are_checked_when_saved_and_plugins_add_kinds(admin_api, api_client, integrations, peer):
    base = example("erp_invoices", peer, api_key="k")
    cases = [
        ({"entity": "nothing"}, "entity"),
        ({"local_key": "nope"}, "local_key"),
        ({"kind": "soap"}, "kind"),
        ({"schedule": "every day"}, "schedule"),
        ({"mapping": "fields: {amount: {path: total, transform: '$value +'}}"}, "mapping"),
        ({"mapping": "fields: {nope: total}"}, "mapping"),
        ({"mapping": "- a list"}, "mapping"),
    ]
    for change, field in cases:
        reply = admin_api.post("/api/v1/connector", json={**base, **change})
        assert reply.status_code == 422, (change, reply.get_json())
        assert field in [e["field"] for e in reply.get_json()["errors"]], reply.get_json()
    assert rows(admin_api, "connector") == []
    # only administrators see connectors and run them
    rep = api_client(integrations, "sales_rep")
    add_connector(admin_api, base)
    assert rep.post("/api/v1/connectors/erp_invoices/sync").status_code == 403
    assert rep.get("/api/v1/connector").status_code == 404
    assert admin_api.post("/api/v1/connectors/nope/sync").status_code == 404

    class CsvDrop:
        """A plugin's kind: rows from anywhere (here: a list in memory)."""

        @hookimpl
        def tessera_connectors(self) -> list[ConnectorKind]:
            return [ConnectorKind("memory", lambda ws, values: Memory()), ConnectorKind("broken", Broken)]

    class Memory:
        def pull(self, cursor: Any) -> tuple[list[dict[str, Any]], str]:
            return [
                {
                    "id": "M-1",
                    "number": "INV-M1",
                    "customer": {"id": "C-1"},
                    "issued_on": "2026-10-01",
                    "total_cents": 100,
                }
            ], "m1"

    class Broken:
        def __init__(self, ws: Any, values: dict[str, Any]) -> None:
            pass

        def pull(self, cursor: Any) -> Any:
            raise ValueError("a bug in the plugin")

    plugin = CsvDrop()
    plugins.manager().register(plugin, name="test_memory_kind")
    try:
        admin_api.post("/api/v1/account", json={"name": "Nordwind Logistik GmbH", "erp_customer_id": "C-1"})
        add_connector(admin_api, {**base, "name": "memory_invoices", "kind": "memory"})
        run = sync(admin_api, "memory_invoices")
        assert (run["created"], run["cursor"]) == (1, "m1")
        add_connector(admin_api, {**base, "name": "broken_invoices", "kind": "broken"})
        run = sync(admin_api, "broken_invoices")  # a plugin's bug fails the run, not the request
        assert (run["status"], run["error"]) == ("failed", "the broken connector failed: ValueError")
    finally:
        plugins.manager().unregister(name="test_memory_kind")
