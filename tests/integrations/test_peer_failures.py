"""Every shipped connector profile against its fake peer when the peer answers 500 once: the
run fails (and says a retry may help), nothing is half-imported and the cursor stays; the
next run completes; a full replay duplicates nothing; the credentials appear in no log line
(DEBUG included) and no API answer (connector, history, runs, dead letters). Pushes (the
Salesforce profile, SharePoint) are retried by the outbox and sent once. SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from engine.automation.jobs import InProcessRunner
from tests.integrations.conftest import example
from tests.integrations.fake_oracle import WORKERS, FakeOracle
from tests.integrations.fake_peer import FakePeer
from tests.integrations.fake_salesforce import API, FakeSalesforce
from tests.integrations.fake_sharepoint import FakeGraph
from tests.integrations.test_rest_pull import add_connector, rows, sync


@dataclass(frozen=True)
class Case:
    peer: Callable[[], FakePeer]
    values: Callable[[FakePeer], dict[str, Any]]
    seed: Callable[[Any, FakePeer], None]
    entity: str
    key: str
    secret: str


def _hrms(api: Any, peer: FakePeer) -> None:
    for number, name in (("E-1", "Tina Tech"), ("E-2", "Paul Pruef"), ("E-3", "Ida Install")):
        peer.add("employees", employee_id=number, work_email=f"{number}@example.com", name={"full": name})


def _installations(api: Any, peer: FakePeer) -> None:
    product = {"sku": "FW-200", "name": "Firewall 200", "category": "hardware", "oem": "Fortinet"}
    assert api.post("/api/v1/product", json=product).status_code == 201
    for serial in ("SN-1", "SN-2", "SN-3"):
        peer.add("installations", serial=serial, article="FW-200", site="Hamburg DC", report="Rack 4")


def _salesforce(api: Any, peer: Any) -> None:
    for name in ("Nordwind Logistik GmbH", "Klinikum Berlin", "Stadtwerke Kiel"):
        peer.record("Account", Name=name, Website=None, Phone=None)


def _oracle(api: Any, peer: Any) -> None:
    for number in ("1001", "1002", "1003"):
        peer.put_row(
            WORKERS,
            PersonNumber=number,
            names=[{"DisplayName": f"Worker {number}"}],
            emails=[{"EmailAddress": f"w{number}@firma.example"}],
        )


def _salesforce_values(peer: FakePeer) -> dict[str, Any]:
    values = example("salesforce_accounts", peer, client_id="sf-client", client_secret="sf-secret", schedule=None)
    return {**values, "token_url": f"{peer.url}/services/oauth2/token"}


CASES = {
    "hrms_employees": Case(
        lambda: FakePeer(auth=("basic", "tessera", "hr-pass-1")),
        lambda peer: example("hrms_employees", peer, password="hr-pass-1", schedule=None),
        _hrms,
        "user",
        "hrms_id",
        "hr-pass-1",
    ),
    "erp_installations": Case(
        lambda: FakePeer(auth=("api_key", "X-API-Key", "erp-key-4711")),
        lambda peer: example("erp_installations", peer, api_key="erp-key-4711", schedule=None),
        _installations,
        "asset",
        "serial_no",
        "erp-key-4711",
    ),
    "salesforce_accounts": Case(
        FakeSalesforce, _salesforce_values, _salesforce, "account", "salesforce_id", "sf-secret"
    ),
    "oracle_workers": Case(
        FakeOracle,
        lambda peer: example("oracle_workers", peer, password="fusion-pass", schedule=None),
        _oracle,
        "user",
        "hrms_id",
        "fusion-pass",
    ),
}


def api_output(api: Any, connector_id: str) -> str:
    """Everything an administrator can read about a connector and its runs."""
    paths = [
        "/api/v1/connector",
        f"/api/v1/connector/{connector_id}",
        f"/api/v1/connector/{connector_id}/history",
        "/api/v1/sync_run",
        "/api/v1/sync_failure",
    ]
    return "\n".join(api.get(path).get_data(as_text=True) for path in paths)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_peer_answering_500_fails_the_run_and_the_next_run_completes_once(name, admin_api, caplog):
    caplog.set_level(logging.DEBUG)
    case = CASES[name]
    peer = case.peer().start()
    try:
        case.seed(admin_api, peer)
        created = add_connector(admin_api, case.values(peer))
        keyed = [r for r in rows(admin_api, case.entity) if r.get(case.key)]

        peer.fail_next = 1
        reply = admin_api.post(f"/api/v1/connectors/{name}/sync")
        assert reply.status_code == 502, reply.get_json()
        failed = reply.get_json()
        assert (failed["status"], failed["retry"]) == ("failed", True)
        assert "answered 500" in failed["error"]
        assert [r for r in rows(admin_api, case.entity) if r.get(case.key)] == keyed  # nothing imported
        [config] = rows(admin_api, "connector")
        assert (config["cursor"], config["last_status"]) == (None, "failed")

        run = sync(admin_api, name)
        assert (run["status"], run["created"], run["failed"]) == ("succeeded", 3, 0)
        imported = sorted(r[case.key] for r in rows(admin_api, case.entity) if r.get(case.key))
        assert len(imported) == 3
        # the same rows again, incrementally and all of them: nothing new, nothing twice
        assert (sync(admin_api, name)["created"], sync(admin_api, name, full=True)["unchanged"]) == (0, 3)
        assert sorted(r[case.key] for r in rows(admin_api, case.entity) if r.get(case.key)) == imported
        runs = rows(admin_api, "sync_run", sort="started_at")
        assert [r["status"] for r in runs] == ["failed", "succeeded", "succeeded", "succeeded"]
        assert "answered 500" in runs[0]["errors"]

        assert case.secret not in api_output(admin_api, created["id"])
        assert case.secret not in caplog.text
    finally:
        peer.stop()


def test_a_salesforce_push_the_peer_answers_500_is_retried_and_sent_once(integrations, admin_api, caplog):
    caplog.set_level(logging.DEBUG)
    sf = FakeSalesforce().start()
    try:
        created = add_connector(admin_api, _salesforce_values(sf))
        runner = InProcessRunner(integrations)
        sf.fail_next = 1  # the first attempt's token request
        new = admin_api.post("/api/v1/account", json={"name": "Hafen Hamburg AG", "website": "https://hafen.example"})
        assert new.status_code == 201, new.get_json()
        first = runner.tick()
        assert first.outbox.get("retry", 0) == 1
        assert sf.writes() == []
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
        runner.tick(later)
        runner.tick(later + dt.timedelta(minutes=30))
        posts = [r for r in sf.writes() if r["method"] == "POST"]
        assert [p["path"] for p in posts] == [f"{API}/sobjects/Account"]
        sf_id = admin_api.get(f"/api/v1/account/{new.get_json()['id']}").get_json()["salesforce_id"]
        assert sf.get("Account", sf_id)["Name"] == "Hafen Hamburg AG"
        runner.tick(later + dt.timedelta(hours=2))  # nothing more to send
        assert len(sf.writes()) == 1
        assert "sf-secret" not in api_output(admin_api, created["id"]) and "sf-secret" not in caplog.text
    finally:
        sf.stop()


def test_a_sharepoint_upload_the_peer_answers_500_is_retried_and_stored_once(sales_workspace, api_client, caplog):
    caplog.set_level(logging.DEBUG)
    ws = sales_workspace("integrations", "documents", "sharepoint")
    api = api_client(ws, "admin")
    graph = FakeGraph().start()
    try:
        values = example("sharepoint_documents", graph, client_id="graph-app", client_secret="graph-secret")
        created = add_connector(api, {**values, "token_url": f"{graph.url}/oauth/token"})
        runner = InProcessRunner(ws)
        doc = api.post("/api/v1/document", json={"title": "Master agreement", "kind": "contract"}).get_json()
        runner.tick()
        reply = api.put(
            f"/api/v1/document/{doc['id']}/files/file",
            query_string={"filename": "msa.pdf"},
            data=b"%PDF-1.4 one",
            headers={"Content-Type": "application/pdf"},
        )
        assert reply.status_code == 200, reply.get_json()
        graph.fail_next = 1
        assert runner.tick().outbox.get("retry", 0) == 1
        assert graph.files == {}
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
        runner.tick(later)
        [(item_id, item)] = graph.files.items()
        assert (item["content"], item["versions"]) == (b"%PDF-1.4 one", 1)
        assert api.get(f"/api/v1/document/{doc['id']}").get_json()["sharepoint_id"] == item_id
        runner.tick(later + dt.timedelta(hours=1))  # the stored link is not sent again
        assert len(graph.files) == 1 and graph.files[item_id]["versions"] == 1
        assert rows(api, "sync_failure") == []
        assert "graph-secret" not in api_output(api, created["id"]) and "graph-secret" not in caplog.text
    finally:
        graph.stop()
