"""Pulling from a REST peer (PACKS.md flow 15): ERP invoices linked to accounts, HRMS
employees as users, ERP asset installations; the dead-letter list, the cursor, replays,
a peer that fails, schedules and credentials kept secret. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from click.testing import CliRunner

from engine.automation.jobs import InProcessRunner
from engine.cli import main
from tests.integrations.conftest import example


def rows(api: Any, entity: str, **params: str) -> list[dict[str, Any]]:
    reply = api.get(f"/api/v1/{entity}", query_string={"limit": "100", **params})
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()["data"]


def add_connector(api: Any, values: dict[str, Any]) -> dict[str, Any]:
    reply = api.post("/api/v1/connector", json=values)
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def sync(api: Any, name: str, **body: Any) -> dict[str, Any]:
    reply = api.post(f"/api/v1/connectors/{name}/sync", json=body or None)
    assert reply.status_code in (200, 502), reply.get_json()
    return reply.get_json()


def test_erp_invoices_link_to_accounts_bad_rows_wait_in_the_dead_letter_list(admin_api, peer, caplog):
    caplog.set_level(logging.DEBUG)
    peer.auth = ("api_key", "X-API-Key", "erp-key-4711")
    account = admin_api.post("/api/v1/account", json={"name": "Nordwind Logistik GmbH", "erp_customer_id": "C-1"})
    assert account.status_code == 201, account.get_json()
    account_id = account.get_json()["id"]
    peer.add(
        "invoices",
        number="INV-1",
        customer={"id": "C-1"},
        issued_on="2026-10-01",
        due_on="2026-10-31",
        total_cents=12050,
        currency="eur",
        state="open",
    )
    peer.add("invoices", number="INV-2", customer={"id": "C-9"}, issued_on="2026-10-01", total_cents=100)
    peer.add(
        "invoices",
        number="INV-3",
        customer={"id": "C-1"},
        issued_on="2026-10-05",
        due_on="2026-09-01",
        total_cents=500,
        state="open",
    )  # due before issued: the invoice's validation refuses it
    peer.add(
        "invoices", number="INV-4", customer={"id": "C-1"}, issued_on="2026-10-02", total_cents=999, state="settled"
    )

    created = add_connector(admin_api, example("erp_invoices", peer, api_key="erp-key-4711"))
    assert created["api_key"] == "********"  # never returned

    run = sync(admin_api, "erp_invoices")
    assert (run["status"], run["created"], run["updated"], run["failed"]) == ("partial", 2, 0, 2)
    assert peer.requests[0]["headers"]["X-Api-Key"] == "erp-key-4711"
    assert peer.requests[0]["args"] == {"page": "1", "per_page": "100"}
    invoices = {i["number"]: i for i in rows(admin_api, "invoice")}
    assert set(invoices) == {"INV-1", "INV-4"}
    first = invoices["INV-1"]
    assert (first["account"], first["amount"], first["currency"], first["status"], first["erp_id"]) == (
        account_id,
        120.5,
        "EUR",
        "open",
        "1001",
    )
    assert invoices["INV-4"]["status"] == "paid"  # transformed by the mapping's DSL

    failures = {f["remote_id"]: f for f in rows(admin_api, "sync_failure")}
    assert set(failures) == {"1002", "1003"}
    assert "no account with erp_customer_id 'C-9'" in failures["1002"]["reason"]
    assert "due_on" in failures["1003"]["reason"]
    assert failures["1002"]["payload"]["number"] == "INV-2" and failures["1002"]["sync_run"] == run["id"]
    [stored_run] = rows(admin_api, "sync_run")
    assert (stored_run["status"], stored_run["created"], stored_run["failed"]) == ("partial", 2, 2)
    assert stored_run["cursor_after"] == peer.find("invoices", "1004")["updated_at"]

    # the next run asks only for what changed since; nothing did
    peer.requests.clear()
    assert sync(admin_api, "erp_invoices")["status"] == "succeeded"
    assert peer.requests[0]["args"]["updated_since"] == stored_run["cursor_after"]
    # the customer is created in the CRM and the ERP corrects the other invoice: both apply now,
    # and their dead letters are resolved
    admin_api.post("/api/v1/account", json={"name": "Klinikum Berlin", "erp_customer_id": "C-9"})
    peer.change("invoices", "1002", total_cents=200)
    peer.change("invoices", "1003", due_on="2026-11-05")
    run = sync(admin_api, "erp_invoices")
    assert (run["created"], run["failed"]) == (2, 0)
    assert all(f["resolved"] for f in rows(admin_api, "sync_failure"))

    # a full replay of every page duplicates nothing and changes nothing
    run = sync(admin_api, "erp_invoices", full=True)
    assert (run["status"], run["created"], run["updated"], run["unchanged"]) == ("succeeded", 0, 0, 4)
    assert len(rows(admin_api, "invoice")) == 4
    # an ERP change updates the invoice in place
    peer.change("invoices", "1001", state="settled")
    assert sync(admin_api, "erp_invoices")["updated"] == 1
    assert rows(admin_api, "invoice", number="INV-1")[0]["status"] == "paid"

    # the credentials appear in no API answer, no run and no log line
    answers = [admin_api.get("/api/v1/connector").get_data(as_text=True)]
    answers += [admin_api.get("/api/v1/sync_run").get_data(as_text=True)]
    answers += [admin_api.get(f"/api/v1/connector/{created['id']}/history").get_data(as_text=True)]
    assert not any("erp-key-4711" in text for text in answers)
    assert "erp-key-4711" not in caplog.text


def test_a_failing_peer_fails_the_run_and_the_scheduled_job_retries(integrations, admin_api, peer):
    peer.auth = ("api_key", "X-API-Key", "erp-key-4711")
    admin_api.post("/api/v1/account", json={"name": "Nordwind Logistik GmbH", "erp_customer_id": "C-1"})
    peer.add("invoices", number="INV-1", customer={"id": "C-1"}, issued_on="2026-10-01", total_cents=100)
    add_connector(admin_api, example("erp_invoices", peer, api_key="erp-key-4711", schedule="0 * * * *"))

    peer.fail_next = 1
    reply = admin_api.post("/api/v1/connectors/erp_invoices/sync")
    assert reply.status_code == 502
    assert (reply.get_json()["status"], reply.get_json()["retry"]) == ("failed", True)
    assert "answered 500" in reply.get_json()["error"]
    [failed] = rows(admin_api, "sync_run")
    assert failed["status"] == "failed" and "answered 500" in failed["errors"]
    [config] = rows(admin_api, "connector")
    assert (config["cursor"], config["last_status"]) == (None, "failed")  # the cursor did not move
    assert rows(admin_api, "invoice") == []

    # the hourly schedule queues a sync job; the peer fails once more, the outbox retries later
    runner = InProcessRunner(integrations)
    noon = dt.datetime.now(dt.UTC).replace(minute=0, second=5, microsecond=0)
    peer.fail_next = 1
    first = runner.tick(noon)
    assert first.scheduled >= 1
    assert rows(admin_api, "invoice") == []
    runner.tick(noon + dt.timedelta(seconds=10))  # the same period: nothing queued twice
    later = runner.tick(noon + dt.timedelta(minutes=10))
    assert later.outbox.get("sent") == 1
    assert [i["number"] for i in rows(admin_api, "invoice")] == ["INV-1"]
    statuses = sorted(r["status"] + ":" + r["trigger"] for r in rows(admin_api, "sync_run"))
    assert statuses == ["failed:manual", "failed:schedule", "succeeded:schedule"]


def cli(ws: Any, monkeypatch: Any, *args: str) -> Any:
    """``tessera ARGS`` against the test's workspace (its database, packs and secret key)."""
    config = ws.config
    monkeypatch.setenv("TESSERA_DATABASE_URL", config.database_url)
    monkeypatch.setenv("TESSERA_PACKS", ",".join(config.packs))
    monkeypatch.setenv("TESSERA_EXTRA_PACK_PATHS", ",".join(str(p) for p in config.extra_pack_paths))
    monkeypatch.setenv("TESSERA_SECRET_KEY", config.secret_key)
    monkeypatch.setenv("TESSERA_INSTANCE_PATH", str(config.instance_path))
    return CliRunner().invoke(main, list(args))


def test_hrms_employees_become_users_and_installations_deploy_assets(integrations, admin_api, peer, monkeypatch):
    peer.auth = ("basic", "tessera", "hr-pass-1")
    hrms = example("hrms_employees", peer, password="wrong-password")
    hrms["mapping"] = hrms["mapping"].replace("size: 200", "size: 2")
    add_connector(admin_api, hrms)
    peer.add(
        "employees",
        employee_id="E-7",
        work_email="Tina.Tech@Example.com",
        name={"full": "Tina Tech"},
        status="active",
        modified="2026-10-01",
    )
    peer.add(
        "employees",
        employee_id="E-8",
        work_email="max@example.com",
        name={"full": "Max Mustermann"},
        status="left",
        modified="2026-10-02",
    )
    peer.add(
        "employees",
        employee_id="E-9",
        work_email="not an address",
        name={"full": "Broken Row"},
        status="active",
        modified="2026-10-03",
    )

    refused = cli(integrations, monkeypatch, "sync", "hrms_employees")
    assert refused.exit_code == 1
    assert "error: sync hrms_employees failed: GET" in refused.output and "answered 401" in refused.output
    assert "wrong-password" not in refused.output

    [config] = rows(admin_api, "connector")
    assert admin_api.patch(f"/api/v1/connector/{config['id']}", json={"password": "hr-pass-1"}).status_code == 200
    done = cli(integrations, monkeypatch, "sync", "hrms_employees")
    assert done.exit_code == 0, done.output
    assert done.output.strip() == "sync hrms_employees: partial: 2 created, 0 updated, 0 unchanged, 1 failed"
    assert [r["args"].get("page") for r in peer.requests[-2:]] == ["1", "2"]  # two pages of two
    users = {u["hrms_id"]: u for u in rows(admin_api, "user") if u.get("hrms_id")}
    assert (users["E-7"]["email"], users["E-7"]["full_name"], users["E-7"]["active"]) == (
        "tina.tech@example.com",
        "Tina Tech",
        True,
    )
    assert users["E-8"]["active"] is False
    assert "email" in rows(admin_api, "sync_failure")[0]["reason"]

    # the ERP reports installations by Tina: on an asset the CRM knows, and on a new one
    peer.auth = ("api_key", "X-API-Key", "erp-key-4711")
    account = admin_api.post("/api/v1/account", json={"name": "Nordwind Logistik GmbH", "erp_customer_id": "C-1"})
    product = admin_api.post(
        "/api/v1/product", json={"sku": "FW-200", "name": "Firewall 200", "category": "hardware", "oem": "Fortinet"}
    )
    assert product.status_code == 201, product.get_json()
    known = admin_api.post("/api/v1/asset", json={"serial_no": "SN-1", "product": product.get_json()["id"]})
    assert known.status_code == 201, known.get_json()
    add_connector(admin_api, example("erp_installations", peer, api_key="erp-key-4711"))
    for serial in ("SN-1", "SN-2"):
        peer.add(
            "installations",
            serial=serial,
            article="FW-200",
            customer_id="C-1",
            site="Hamburg DC",
            technician="E-7",
            installed_at="2026-10-20T09:00:00Z",
            report="Rack 4",
        )
    run = sync(admin_api, "erp_installations")
    assert (run["created"], run["updated"], run["failed"]) == (1, 1, 0), [
        f["reason"] for f in rows(admin_api, "sync_failure")
    ]
    assets = {a["serial_no"]: a for a in rows(admin_api, "asset")}
    assert assets["SN-1"]["id"] == known.get_json()["id"]
    for asset in assets.values():
        assert (asset["location"], asset["installed_at"], asset["installation_notes"]) == (
            "Hamburg DC",
            "2026-10-20T09:00:00+00:00",
            "Rack 4",
        )
        assert (asset["account"], asset["installed_by"]) == (account.get_json()["id"], users["E-7"]["id"])
    # with the installation known, the CRM deploys the asset through its lifecycle
    deployed = admin_api.post(f"/api/v1/asset/{known.get_json()['id']}/actions/deploy")
    assert deployed.status_code == 200, deployed.get_json()
    assert deployed.get_json()["status"] == "deployed"
