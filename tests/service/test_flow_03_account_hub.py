"""Flow 3: the account is the hub. An account with an AMC contract, tickets, a survey
response, assets, documents and a delivery project hanging off it; a support lead finds them
all through the account's related lists and the list filters. Through the REST API, on
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.sales.rest import account, create, listing, ok


def related(api: Any, entity: str, record_id: str, name: str) -> list[str]:
    return sorted(r["id"] for r in ok(api.get(f"/api/v1/{entity}/{record_id}/related/{name}"))["data"])


def test_flow_03_everything_of_a_customer_hangs_off_its_account(sales_workspace, api_client):
    ws = sales_workspace("projects", "tickets", "documents")
    admin, manager = api_client(ws, "admin"), api_client(ws, "sales_manager")
    customer, other = account(admin), account(admin, "Other AG")
    switch = create(admin, "product", {"sku": "C9300", "name": "Catalyst 9300", "category": "hardware", "oem": "Cisco"})
    assets = sorted(
        create(admin, "asset", {"product": switch["id"], "serial_no": serial, "account": customer["id"]})["id"]
        for serial in ("S1", "S2")
    )
    create(admin, "asset", {"product": switch["id"], "serial_no": "S3", "account": other["id"]})
    contract = create(manager, "amc_contract", {"title": "Campus AMC", "account": customer["id"], "value": 12000})
    tickets = sorted(
        create(admin, "ticket", {"subject": subject, "account": customer["id"]})["id"] for subject in ("Slow", "Down")
    )
    survey = create(admin, "survey", {"name": "CSAT", "code": "csat", "kind": "csat", "questions": "How satisfied?"})
    response = create(admin, "survey_response", {"survey": survey["id"], "account": customer["id"]})
    document = create(
        manager,
        "document",
        {
            "title": "AMC terms",
            "kind": "contract",
            "account": customer["id"],
            "related_entity": "amc_contract",
            "related_id": contract["id"],
        },
    )
    project = create(manager, "project", {"name": "Campus rollout", "account": customer["id"]})

    lead = api_client(ws, "support_lead")
    hub = customer["id"]
    assert related(lead, "account", hub, "asset.account") == assets
    assert related(lead, "account", hub, "ticket.account") == tickets
    assert related(lead, "account", hub, "amc_contract.account") == [contract["id"]]
    assert related(lead, "account", hub, "survey_response.account") == [response["id"]]
    assert related(lead, "account", hub, "document.account") == [document["id"]]
    assert related(lead, "account", hub, "project.account") == [project["id"]]
    # the same through the list filters; the other account's records stay out
    assert sorted(r["id"] for r in listing(lead, "asset", account=hub)) == assets
    assert sorted(r["id"] for r in listing(lead, "ticket", account=hub)) == tickets
    assert [r["id"] for r in listing(lead, "document", filter=f'account == "{hub}"')] == [document["id"]]
    # the account page (account 360) declares every one of these lists, each pack its own
    meta = ok(admin.get("/api/v1/meta/entities/account"))
    declared = str(meta.get("related"))
    for name in (
        "opportunity.account",
        "quote.account",
        "asset.account",
        "ticket.account",
        "amc_contract.account",
        "license.account",
        "survey_response.account",
        "document.account",
        "project.account",
    ):
        assert name in declared, name
