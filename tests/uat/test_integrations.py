"""UAT of the integrations module (docs/uat/integrations.md): an ERP invoice pull with a
dead-letter list, safe replays, a failing peer. A fake ERP runs locally in the test."""

from __future__ import annotations

import pytest

from tests.integrations.conftest import example, peer  # noqa: F401 - the fake ERP fixture
from tests.integrations.test_rest_pull import add_connector, rows, sync


def _erp(api, erp):
    erp.auth = ("api_key", "X-API-Key", "erp-key-4711")
    account = api.post("/api/v1/account", json={"name": "Nordwind Logistik GmbH", "erp_customer_id": "C-1"})
    assert account.status_code == 201
    erp.add("invoices", number="INV-1", customer={"id": "C-1"}, issued_on="2026-10-01", total_cents=12050, state="open")
    erp.add("invoices", number="INV-2", customer={"id": "C-9"}, issued_on="2026-10-01", total_cents=100)
    return account.get_json()["id"], add_connector(api, example("erp_invoices", erp, api_key="erp-key-4711"))


@pytest.mark.uat("UAT-INTEGRATIONS-01")
def test_uat_integrations_01_invoices_arrive_and_bad_rows_wait_in_the_dead_letter_list(
    sales_workspace,
    api_client,
    peer,  # noqa: F811
):
    api = api_client(sales_workspace("integrations"), "admin")
    account_id, connector = _erp(api, peer)
    assert connector["api_key"] == "********"
    run = sync(api, "erp_invoices")
    assert (run["status"], run["created"], run["failed"]) == ("partial", 1, 1)
    [invoice] = rows(api, "invoice")
    assert (invoice["number"], invoice["account"], invoice["amount"]) == ("INV-1", account_id, 120.5)
    [failure] = rows(api, "sync_failure")
    assert "no account with erp_customer_id 'C-9'" in failure["reason"]
    assert "erp-key-4711" not in api.get("/api/v1/connector").get_data(as_text=True)


@pytest.mark.uat("UAT-INTEGRATIONS-02")
def test_uat_integrations_02_a_corrected_row_applies_and_a_replay_duplicates_nothing(
    sales_workspace,
    api_client,
    peer,  # noqa: F811
):
    api = api_client(sales_workspace("integrations"), "admin")
    _erp(api, peer)
    sync(api, "erp_invoices")
    api.post("/api/v1/account", json={"name": "Klinikum Berlin", "erp_customer_id": "C-9"})
    peer.change("invoices", "1002", total_cents=200)
    assert sync(api, "erp_invoices")["created"] == 1
    assert all(f["resolved"] for f in rows(api, "sync_failure"))
    replay = sync(api, "erp_invoices", full=True)
    assert (replay["status"], replay["created"], replay["updated"]) == ("succeeded", 0, 0)
    assert len(rows(api, "invoice")) == 2


@pytest.mark.uat("UAT-INTEGRATIONS-03")
def test_uat_integrations_03_a_failing_peer_fails_the_run_and_changes_nothing(
    sales_workspace,
    api_client,
    peer,  # noqa: F811
):
    api = api_client(sales_workspace("integrations"), "admin")
    _erp(api, peer)
    peer.fail_next = 1
    reply = api.post("/api/v1/connectors/erp_invoices/sync")
    assert reply.status_code == 502 and reply.get_json()["status"] == "failed"
    [failed] = rows(api, "sync_run")
    assert failed["status"] == "failed" and "answered 500" in failed["errors"]
    assert rows(api, "invoice") == []
    assert sync(api, "erp_invoices")["created"] == 1  # the next run catches up
