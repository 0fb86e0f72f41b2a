"""The Salesforce profile (examples/connectors/salesforce_*.yaml): accounts both ways,
contacts linked to them (and created there), opportunities on their accounts both ways,
against a fake Salesforce REST API. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine.automation.jobs import InProcessRunner
from tests.integrations.conftest import example
from tests.integrations.fake_salesforce import API, FakeSalesforce
from tests.integrations.test_rest_pull import add_connector, rows, sync
from tests.sales.rest import user_id


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


def test_salesforce_opportunities_come_in_on_their_accounts_and_changes_go_back(integrations, admin_api, salesforce):
    sf = salesforce
    nordwind = sf.record("Account", Name="Nordwind Logistik GmbH", Website=None, Phone=None)
    common = {"AccountId": nordwind["Id"], "CloseDate": "2026-12-15"}
    early = sf.record("Opportunity", Name="Firewall refresh", Amount=48000, StageName="Qualification", **common)
    sf.record("Opportunity", Name="SD-WAN", Amount=12000, StageName="Prospecting", **common)
    late = sf.record("Opportunity", Name="SOC service", Amount=90000, StageName="Proposal/Price Quote", **common)
    sf.record("Opportunity", Name="Lost somewhere", Amount=10, StageName="Prospecting", AccountId="001999999999999999")
    for name in ("salesforce_accounts", "salesforce_opportunities"):
        add_connector(admin_api, profile(name, sf))
    assert sync(admin_api, "salesforce_accounts")["created"] == 1
    account_id = rows(admin_api, "account")[0]["id"]

    run = sync(admin_api, "salesforce_opportunities")
    assert (run["status"], run["created"], run["failed"]) == ("partial", 2, 2)
    deals = {o["salesforce_id"]: o for o in rows(admin_api, "opportunity")}
    assert set(deals) == {early["Id"], sf.collections["Opportunity"][1]["Id"]}
    firewall = deals[early["Id"]]
    assert (
        firewall["name"],
        firewall["account"],
        firewall["amount"],
        firewall["stage"],
        firewall["expected_close"],
    ) == (
        "Firewall refresh",
        account_id,
        48000,
        "qualification",
        "2026-12-15",
    )
    # the pipeline's own checks apply: a deal in proposal needs a presales owner, an unknown
    # account is no account; both wait in the dead-letter list
    reasons = {f["remote_id"]: f["reason"] for f in rows(admin_api, "sync_failure")}
    assert "presales owner" in reasons[late["Id"]].lower()
    assert "no account with salesforce_id" in reasons["006000000000000005"]

    # sales moves the deal in the CRM: amount and close date go to Salesforce (the stage stays there)
    runner = InProcessRunner(integrations)
    runner.tick()
    assert sf.writes() == []
    changed = admin_api.patch(f"/api/v1/opportunity/{firewall['id']}", json={"amount": 52000})
    assert changed.status_code == 200, changed.get_json()
    runner.tick()
    assert (sf.get("Opportunity", early["Id"])["Amount"], sf.get("Opportunity", early["Id"])["StageName"]) == (
        52000,
        "Qualification",
    )
    # Salesforce closes it: refused (no presales owner yet) until sales names one in the CRM
    sf.touch("Opportunity", early["Id"], StageName="Closed Won")
    run = sync(admin_api, "salesforce_opportunities")
    assert (run["updated"], run["failed"]) == (0, 1)
    assert admin_api.get(f"/api/v1/opportunity/{firewall['id']}").get_json()["stage"] == "qualification"
    presales = user_id(admin_api, "presales")
    assert (
        admin_api.patch(f"/api/v1/opportunity/{firewall['id']}", json={"presales_owner": presales}).status_code == 200
    )
    runner.tick()
    writes = len(sf.writes())
    run = sync(admin_api, "salesforce_opportunities", full=True)
    assert (run["created"], run["updated"], run["unchanged"]) == (0, 1, 1)
    assert admin_api.get(f"/api/v1/opportunity/{firewall['id']}").get_json()["stage"] == "closed_won"
    assert [f["resolved"] for f in rows(admin_api, "sync_failure") if f["remote_id"] == early["Id"]] == [True]
    # replaying everything duplicates nothing
    run = sync(admin_api, "salesforce_opportunities", full=True)
    assert (run["created"], run["updated"], run["unchanged"]) == (0, 0, 2)
    assert len(rows(admin_api, "opportunity")) == 2
    runner.tick()
    assert len(sf.writes()) == writes  # what came from Salesforce is not sent back


def test_a_contact_made_in_the_crm_is_created_in_salesforce_once(integrations, admin_api, salesforce):
    sf = salesforce
    add_connector(admin_api, profile("salesforce_contacts", sf))
    account = admin_api.post("/api/v1/account", json={"name": "Hafen Hamburg AG"}).get_json()
    new = admin_api.post(
        "/api/v1/contact",
        json={"first_name": "Jan", "last_name": "Kai", "email": "jan.kai@hafen.example", "account": account["id"]},
    )
    assert new.status_code == 201, new.get_json()
    runner = InProcessRunner(integrations)
    runner.tick()
    [created] = sf.writes()
    assert (created["method"], created["path"]) == ("POST", f"{API}/sobjects/Contact")
    assert created["json"] == {"FirstName": "Jan", "LastName": "Kai", "Email": "jan.kai@hafen.example"}
    sf_id = admin_api.get(f"/api/v1/contact/{new.get_json()['id']}").get_json()["salesforce_id"]
    assert sf_id.startswith("003")
    # a change updates that Salesforce contact; pulling it back changes and duplicates nothing
    admin_api.patch(f"/api/v1/contact/{new.get_json()['id']}", json={"last_name": "Kai-Meyer"})
    runner.tick()
    assert [w["method"] for w in sf.writes()] == ["POST", "PATCH"]
    assert sf.get("Contact", sf_id)["LastName"] == "Kai-Meyer"
    run = sync(admin_api, "salesforce_contacts")
    assert (run["created"], run["updated"], run["unchanged"], run["failed"]) == (0, 0, 1, 0)
    assert len(rows(admin_api, "contact")) == 1
