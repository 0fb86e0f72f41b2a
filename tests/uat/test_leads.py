"""UAT of the leads module (docs/uat/leads.md): capture, scoring, visibility, conversion."""

from __future__ import annotations

import pytest

from tests.sales.rest import act, create, listing, ok, patch, refused, user_id

FORM = {
    "first_name": "Max",
    "last_name": "Weber",
    "email": "Max.Weber@nordwind.de",
    "company": "Nordwind Logistik",
    "city": "Hamburg",
    "industry": "logistics",
    "timeframe": "this_quarter",
    "description": "Two new warehouses need Wi-Fi and a firewall cluster.",
}


@pytest.mark.uat("UAT-LEADS-01")
def test_uat_leads_01_web_form_lead_reaches_the_rep(sales_workspace, api_client):
    ws = sales_workspace("leads")
    rep = api_client(ws, "sales_rep")
    assert rep.client.post("/api/v1/public/forms/lead", json=FORM).status_code == 202
    (lead,) = listing(rep, "lead")
    assert (lead["owner"], lead["status"], lead["source"]) == (user_id(rep, "sales_rep"), "new", "webform")
    assert lead["score"] > 0 and lead["rating"] in ("hot", "warm", "cold")


@pytest.mark.uat("UAT-LEADS-02")
def test_uat_leads_02_a_qualified_lead_scores_higher_and_a_lead_needs_an_email(sales_workspace, api_client):
    ws = sales_workspace("leads")
    rep = api_client(ws, "sales_rep")
    assert "email" in refused(rep.post("/api/v1/lead", json={"last_name": "Doe"}))
    lead = create(rep, "lead", {"first_name": "Jane", "last_name": "Doe", "email": "jane@example.org"})
    assert lead["status"] == "new"
    qualified = patch(rep, "lead", lead["id"], {"status": "qualified", "budget": 85000})
    assert qualified["score"] > lead["score"]
    assert "disqualification_reason" in refused(rep.patch(f"/api/v1/lead/{lead['id']}", json={"status": "unqualified"}))


@pytest.mark.uat("UAT-LEADS-03")
def test_uat_leads_03_reps_see_only_their_own_leads(sales_workspace, api_client):
    ws = sales_workspace("leads")
    rep, manager = api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    mine = create(rep, "lead", {"last_name": "Mine", "email": "mine@example.org"})
    theirs = create(manager, "lead", {"last_name": "Theirs", "email": "theirs@example.org"})
    assert [lead["id"] for lead in listing(rep, "lead")] == [mine["id"]]
    assert rep.get(f"/api/v1/lead/{theirs['id']}").status_code == 404
    assert len(listing(api_client(ws, "executive"), "lead")) == 2


@pytest.mark.uat("UAT-LEADS-04")
def test_uat_leads_04_conversion_reuses_the_known_account_and_contact(sales_workspace, api_client):
    ws = sales_workspace("leads")
    rep, manager = api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    nordwind = create(manager, "account", {"name": "Nordwind Logistik GmbH", "domain": "nordwind.de"})
    weber = create(
        manager,
        "contact",
        {"first_name": "Max", "last_name": "Weber", "email": "max.weber@nordwind.de", "account": nordwind["id"]},
    )
    lead = create(rep, "lead", {k: FORM[k] for k in ("first_name", "last_name", "email", "company")})
    converted = ok(act(rep, "lead", lead["id"], "convert", {"opportunity_name": "Nordwind Wi-Fi"}))
    assert converted["status"] == "converted"
    assert (converted["converted_account"], converted["converted_contact"]) == (nordwind["id"], weber["id"])
    deal = ok(rep.get(f"/api/v1/opportunity/{converted['converted_opportunity']}"))
    assert (deal["name"], deal["account"], deal["contact"]) == ("Nordwind Wi-Fi", nordwind["id"], weber["id"])
    assert len(listing(manager, "account")) == 1 and len(listing(manager, "contact")) == 1
    again = act(rep, "lead", lead["id"], "convert")
    assert again.status_code == 409
    assert len(listing(rep, "opportunity")) == 1
