"""UAT of the amc module (docs/uat/amc.md): activation, the renewal calendar, renewal."""

from __future__ import annotations

import pytest

from tests.sales.rest import account, act, get, listing, ok, patch, user_id
from tests.service.feedback import at, tick, utc
from tests.service.test_amc import contract


@pytest.mark.uat("UAT-AMC-01")
def test_uat_amc_01_a_manager_activates_a_draft_contract(sales_workspace, api_client):
    ws = sales_workspace("amc")
    at(ws, utc(2030, 1, 2))
    admin, rep, manager = api_client(ws, "admin"), api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    customer = account(admin, "Stadtwerke Kiel AG", owner=user_id(admin, "sales_rep"))
    amc = contract(rep, customer, title="Core network 24x7")
    assert (amc["number"][:9], amc["end_date"], amc["status"]) == ("AMC-2030-", "2030-12-31", "draft")
    assert act(rep, "amc_contract", amc["id"], "activate").status_code == 403
    assert ok(act(manager, "amc_contract", amc["id"], "activate"))["status"] == "active"
    assert act(manager, "amc_contract", amc["id"], "activate").status_code == 409


@pytest.mark.uat("UAT-AMC-02")
def test_uat_amc_02_the_status_follows_the_calendar(sales_workspace, api_client):
    ws = sales_workspace("amc")
    at(ws, utc(2030, 1, 2))
    admin, manager, agent = api_client(ws, "admin"), api_client(ws, "sales_manager"), api_client(ws, "support_agent")
    customer = account(admin, "Stadtwerke Kiel AG")
    amc = contract(manager, customer)
    ok(act(manager, "amc_contract", amc["id"], "activate"))
    for moment, status in ((utc(2030, 10, 1), "active"), (utc(2030, 10, 2), "expiring"), (utc(2031, 1, 1), "expired")):
        tick(ws, moment)
        assert get(agent, "amc_contract", amc["id"])["status"] == status, moment


@pytest.mark.uat("UAT-AMC-03")
def test_uat_amc_03_renewal_creates_the_successor_and_a_survey(sales_workspace, api_client):
    ws = sales_workspace("amc")
    at(ws, utc(2030, 1, 2))
    admin, manager = api_client(ws, "admin"), api_client(ws, "sales_manager")
    customer = account(admin, "Stadtwerke Kiel AG")
    amc = contract(manager, customer)
    assert act(manager, "amc_contract", amc["id"], "renew").status_code == 409  # a draft
    ok(act(manager, "amc_contract", amc["id"], "activate"))
    old = ok(act(manager, "amc_contract", amc["id"], "renew", {"value": 13000, "tier": "platinum"}))
    assert old["status"] == "renewed"
    new = get(manager, "amc_contract", old["renewed_by"])
    assert (new["start_date"], new["end_date"], new["tier"], new["status"]) == (
        "2031-01-01",
        "2031-12-31",
        "platinum",
        "active",
    )
    assert [r["trigger"] for r in listing(admin, "survey_response", related_id=amc["id"])] == ["amc_renewed"]
    assert act(manager, "amc_contract", amc["id"], "renew").status_code == 409


@pytest.mark.uat("UAT-AMC-04")
def test_uat_amc_04_the_customer_sees_their_own_contracts(sales_workspace, api_client):
    ws = sales_workspace("amc")
    at(ws, utc(2030, 1, 2))
    admin, manager, portal = api_client(ws, "admin"), api_client(ws, "sales_manager"), api_client(ws, "customer")
    mine, other = account(admin, "Stadtwerke Kiel AG"), account(admin, "Klinikum Berlin")
    patch(admin, "user", user_id(admin, "customer"), {"account": mine["id"]})
    own = contract(manager, mine)
    contract(manager, other)
    assert [c["id"] for c in listing(portal, "amc_contract")] == [own["id"]]
