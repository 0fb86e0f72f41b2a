"""Flow 15 (PACKS.md): integrations sync invoices, tickets and asset installations with the
back-end systems. One scenario against three local fake peers: the HRMS (employees become
users), the ERP (invoices linked to accounts, asset installations) and the ITSM (incidents
and tickets both ways, without echo). Every run leaves a sync_run with its counts; a bad row
waits in the dead-letter list until it is fixed. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine.automation.jobs import InProcessRunner
from tests.integrations.conftest import example
from tests.integrations.fake_peer import FakePeer
from tests.integrations.test_rest_pull import add_connector, rows, sync


@pytest.fixture
def systems() -> Iterator[dict[str, FakePeer]]:
    peers = {
        "hrms": FakePeer(auth=("basic", "tessera", "hr-pass-1")),
        "erp": FakePeer(auth=("api_key", "X-API-Key", "erp-key-4711")),
        "itsm": FakePeer(style="next", auth=("oauth2", "tessera", "itsm-secret-42")),
    }
    for peer in peers.values():
        peer.start()
    yield peers
    for peer in peers.values():
        peer.stop()


def related(api: Any, account_id: str, entity: str) -> list[dict[str, Any]]:
    reply = api.get(f"/api/v1/account/{account_id}/related/{entity}")
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()["data"]


def runs_of(api: Any, connector_id: str) -> list[tuple[str, str, int, int, int, int]]:
    found = rows(api, "sync_run", connector=connector_id, sort="started_at")
    return [(r["trigger"], r["status"], r["created"], r["updated"], r["unchanged"], r["failed"]) for r in found]


def test_flow_15_invoices_tickets_and_installations_sync_with_the_back_end(integrations, admin_api, systems):
    hrms, erp, itsm = systems["hrms"], systems["erp"], systems["itsm"]
    api = admin_api
    customer = api.post("/api/v1/account", json={"name": "Nordwind Logistik GmbH", "erp_customer_id": "C-1"})
    assert customer.status_code == 201, customer.get_json()
    customer_id = customer.get_json()["id"]
    product = api.post(
        "/api/v1/product", json={"sku": "FW-200", "name": "Firewall 200", "category": "hardware", "oem": "Fortinet"}
    )
    assert product.status_code == 201, product.get_json()
    connectors = {
        "hrms": add_connector(api, example("hrms_employees", hrms, password="hr-pass-1", schedule=None)),
        "invoices": add_connector(api, example("erp_invoices", erp, api_key="erp-key-4711", schedule=None)),
        "installations": add_connector(api, example("erp_installations", erp, api_key="erp-key-4711", schedule=None)),
        "itsm": add_connector(api, example("itsm_incidents", itsm, client_secret="itsm-secret-42", schedule=None)),
    }

    # the HRMS: the field technician becomes a user (installations name her by employee id)
    hrms.add("employees", employee_id="E-7", work_email="tina@example.com", name={"full": "Tina Tech"}, status="active")
    assert sync(api, "hrms_employees")["created"] == 1
    [tina] = rows(api, "user", hrms_id="E-7")

    # the ERP's invoices land on the customer's account; one for an unknown customer waits
    erp.add("invoices", number="INV-1", customer={"id": "C-1"}, issued_on="2026-10-01", total_cents=12050, state="open")
    erp.add(
        "invoices", number="INV-2", customer={"id": "C-1"}, issued_on="2026-10-02", total_cents=950, state="settled"
    )
    erp.add("invoices", number="INV-3", customer={"id": "C-9"}, issued_on="2026-10-03", total_cents=100, state="open")
    run = sync(api, "erp_invoices")
    assert (run["status"], run["created"], run["failed"]) == ("partial", 2, 1)
    invoices = {i["number"]: i for i in related(api, customer_id, "invoice")}
    assert {n: (i["amount"], i["status"]) for n, i in invoices.items()} == {
        "INV-1": (120.5, "open"),
        "INV-2": (9.5, "paid"),
    }
    [waiting] = rows(api, "sync_failure")
    assert (waiting["connector"], waiting["remote_id"], waiting["resolved"]) == (
        connectors["invoices"]["id"],
        "1003",
        False,
    )
    assert "no account with erp_customer_id 'C-9'" in waiting["reason"]

    # the ERP's field service reports the installation: the asset, its place and installer
    erp.add(
        "installations",
        serial="SN-100",
        article="FW-200",
        customer_id="C-1",
        site="Hamburg DC",
        technician="E-7",
        installed_at="2026-10-20T09:00:00Z",
        report="Rack 4",
    )
    assert sync(api, "erp_installations")["created"] == 1
    [asset] = related(api, customer_id, "asset")
    assert (asset["serial_no"], asset["location"], asset["installed_by"], asset["installation_notes"]) == (
        "SN-100",
        "Hamburg DC",
        tina["id"],
        "Rack 4",
    )
    deployed = api.post(f"/api/v1/asset/{asset['id']}/actions/deploy")
    assert deployed.status_code == 200, deployed.get_json()
    assert deployed.get_json()["status"] == "deployed"

    # the ITSM's incident becomes a ticket on the account; the agent's change goes back,
    # a ticket opened in the CRM opens an incident, and nothing that came from the ITSM echoes
    itsm.add("incidents", short_description="VPN down", company={"erp_id": "C-1"}, impact=1, urgency=2)
    assert sync(api, "itsm_incidents")["created"] == 1
    [ticket] = related(api, customer_id, "ticket")
    assert (ticket["subject"], ticket["impact"], ticket["itsm_id"]) == ("VPN down", "high", "1001")
    runner = InProcessRunner(integrations)
    runner.tick()
    assert itsm.writes() == []
    assert api.patch(f"/api/v1/ticket/{ticket['id']}", json={"subject": "VPN down in Hamburg"}).status_code == 200
    new = api.post("/api/v1/ticket", json={"subject": "Firewall fan noise", "account": customer_id})
    assert new.status_code == 201, new.get_json()
    runner.tick()
    assert itsm.find("incidents", "1001")["short_description"] == "VPN down in Hamburg"
    opened = itsm.collections["incidents"][-1]
    assert (opened["short_description"], opened["tessera_number"]) == ("Firewall fan noise", new.get_json()["number"])
    assert api.get(f"/api/v1/ticket/{new.get_json()['id']}").get_json()["itsm_id"] == opened["id"]
    writes = len(itsm.writes())
    run = sync(api, "itsm_incidents")  # our own two changes come back: they change nothing
    assert (run["created"], run["updated"], run["unchanged"]) == (0, 0, 2)
    itsm.change("incidents", "1001", description="Tunnel restarted")
    assert sync(api, "itsm_incidents")["updated"] == 1
    runner.tick()
    assert len(itsm.writes()) == writes  # the ITSM's change is not sent back to it
    assert len(related(api, customer_id, "ticket")) == 2

    # the customer is created in the CRM: the waiting invoice applies, its dead letter resolves
    other = api.post("/api/v1/account", json={"name": "Klinikum Berlin", "erp_customer_id": "C-9"}).get_json()
    erp.change("invoices", "1003", total_cents=150)
    assert sync(api, "erp_invoices")["created"] == 1
    assert [i["number"] for i in related(api, other["id"], "invoice")] == ["INV-3"]
    assert all(f["resolved"] for f in rows(api, "sync_failure"))

    # a full replay of every system duplicates nothing
    for name in ("hrms_employees", "erp_invoices", "erp_installations", "itsm_incidents"):
        run = sync(api, name, full=True)
        assert (run["status"], run["created"], run["updated"], run["failed"]) == ("succeeded", 0, 0, 0), name
    assert (len(rows(api, "invoice")), len(rows(api, "asset")), len(rows(api, "ticket"))) == (3, 1, 2)

    # every run is on record with its counts
    assert runs_of(api, connectors["hrms"]["id"]) == [
        ("manual", "succeeded", 1, 0, 0, 0),
        ("manual", "succeeded", 0, 0, 1, 0),
    ]
    assert runs_of(api, connectors["invoices"]["id"]) == [
        ("manual", "partial", 2, 0, 0, 1),
        ("manual", "succeeded", 1, 0, 0, 0),
        ("manual", "succeeded", 0, 0, 3, 0),
    ]
    assert runs_of(api, connectors["installations"]["id"]) == [
        ("manual", "succeeded", 1, 0, 0, 0),
        ("manual", "succeeded", 0, 0, 1, 0),
    ]
    assert runs_of(api, connectors["itsm"]["id"]) == [
        ("manual", "succeeded", 1, 0, 0, 0),
        ("manual", "succeeded", 0, 0, 2, 0),
        ("manual", "succeeded", 0, 1, 0, 0),
        ("manual", "succeeded", 0, 0, 2, 0),
    ]
    statuses = {c["name"]: c["last_status"] for c in rows(api, "connector")}
    assert set(statuses.values()) == {"succeeded"}
