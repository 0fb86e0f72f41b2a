"""The Salesforce profile (examples/connectors/salesforce_*.yaml): accounts both ways and
contacts linked to them, against a fake Salesforce REST API. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine.automation.jobs import InProcessRunner
from tests.integrations.conftest import example
from tests.integrations.fake_salesforce import API, FakeSalesforce
from tests.integrations.test_rest_pull import add_connector, rows, sync


@pytest.fixture
def salesforce() -> Iterator[FakeSalesforce]:
    server = FakeSalesforce().start()
    yield server
    server.stop()


def profile(name: str, peer: FakeSalesforce) -> dict[str, Any]:
    values = example(name, peer, client_id="sf-client", client_secret="sf-secret", schedule=None)
    values["token_url"] = f"{peer.url}/services/oauth2/token"
    return values


def test_salesforce_accounts_sync_both_ways_and_contacts_follow(integrations, admin_api, salesforce):
    sf = salesforce
    nordwind = sf.record("Account", Name="Nordwind Logistik GmbH", Website="https://nordwind.example", Phone=None)
    sf.record("Account", Name="Klinikum Berlin", Website=None, Phone="+49 30 1234")
    sf.record("Account", Name="Stadtwerke Kiel", Website=None, Phone=None)
    sf.record(
        "Contact", FirstName="Anna", LastName="Berg", Email="Anna.Berg@Nordwind.example", AccountId=nordwind["Id"]
    )
    sf.record("Contact", FirstName="Otto", LastName="Orphan", Email="otto@example.com", AccountId="001999999999999999")
    for name in ("salesforce_accounts", "salesforce_contacts", "salesforce_opportunities"):
        add_connector(admin_api, profile(name, sf))  # every shipped mapping fits the metadata

    run = sync(admin_api, "salesforce_accounts")
    assert (run["status"], run["created"]) == ("succeeded", 3)
    queries = [r for r in sf.requests if r["path"].startswith(f"{API}/query")]
    assert "LastModifiedDate > 1970-01-01T00:00:00Z" in queries[0]["args"]["q"]
    assert queries[1]["path"].startswith(f"{API}/query/01g")  # the second page by nextRecordsUrl
    accounts = {a["salesforce_id"]: a for a in rows(admin_api, "account")}
    assert accounts[nordwind["Id"]]["website"] == "https://nordwind.example"

    run = sync(admin_api, "salesforce_contacts")
    assert (run["created"], run["failed"]) == (1, 1)
    [anna] = rows(admin_api, "contact")
    assert (anna["email"], anna["account"]) == ("anna.berg@nordwind.example", accounts[nordwind["Id"]]["id"])
    assert "no account with salesforce_id" in rows(admin_api, "sync_failure")[0]["reason"]

    # nothing came from the CRM yet: nothing goes to Salesforce
    runner = InProcessRunner(integrations)
    runner.tick()
    assert sf.writes() == []
    # a sales rep's change goes to Salesforce; a new account is created there
    local = accounts[nordwind["Id"]]
    assert admin_api.patch(f"/api/v1/account/{local['id']}", json={"phone": "+49 40 555"}).status_code == 200
    new = admin_api.post("/api/v1/account", json={"name": "Hafen Hamburg AG", "website": "https://hafen.example"})
    assert new.status_code == 201, new.get_json()
    runner.tick()
    assert sf.get("Account", nordwind["Id"])["Phone"] == "+49 40 555"
    [created] = [r for r in sf.writes() if r["method"] == "POST"]
    assert created["path"] == f"{API}/sobjects/Account"
    assert created["json"] == {"Name": "Hafen Hamburg AG", "Website": "https://hafen.example", "Phone": None}
    sf_id = admin_api.get(f"/api/v1/account/{new.get_json()['id']}").get_json()["salesforce_id"]
    assert sf_id.startswith("001") and sf.get("Account", sf_id)["Name"] == "Hafen Hamburg AG"

    # the next pull asks from the cursor on, brings our own two changes back, and settles
    writes = len(sf.writes())
    run = sync(admin_api, "salesforce_accounts")
    assert (run["created"], run["updated"], run["unchanged"]) == (0, 0, 2)
    last_query = [r for r in sf.requests if r["path"] == f"{API}/query"][-1]
    assert "1970" not in last_query["args"]["q"]
    runner.tick()
    assert len(sf.writes()) == writes
    assert len(rows(admin_api, "account")) == 4
