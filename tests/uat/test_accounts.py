"""UAT of the accounts module (docs/uat/accounts.md): duplicates, hierarchy, 360° view."""

from __future__ import annotations

import pytest

from tests.sales.rest import create, ok, refused


def _names(reply):
    return [r.get("last_name") or r.get("name") for r in ok(reply)["data"]]


@pytest.mark.uat("UAT-ACCOUNTS-01")
def test_uat_accounts_01_duplicate_account_names_are_refused(sales_workspace, api_client):
    ws = sales_workspace("accounts")
    rep, manager = api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    first = create(rep, "account", {"name": "Müller Maschinenbau GmbH"})
    twin = rep.post("/api/v1/account", json={"name": "müller maschinenbau ag"})
    assert twin.status_code == 409
    assert twin.get_json()["duplicates"][0]["matches"][0]["id"] == first["id"]
    override = manager.post("/api/v1/account?allow_duplicates=true", json={"name": "Müller Maschinenbau AG"})
    assert override.status_code == 201


@pytest.mark.uat("UAT-ACCOUNTS-02")
def test_uat_accounts_02_one_email_address_is_one_contact(sales_workspace, api_client):
    ws = sales_workspace("accounts")
    rep = api_client(ws, "sales_rep")
    create(rep, "contact", {"last_name": "Doe", "email": "jane.doe@example.com"})
    assert rep.post("/api/v1/contact", json={"last_name": "Doe", "email": "Jane.Doe@Example.com"}).status_code == 409


@pytest.mark.uat("UAT-ACCOUNTS-03")
def test_uat_accounts_03_the_account_page_shows_contacts_and_subsidiaries(sales_workspace, api_client):
    ws = sales_workspace("accounts")
    rep = api_client(ws, "sales_rep")
    group = create(rep, "account", {"name": "Globex Holding"})
    create(rep, "account", {"name": "Globex Services", "parent_account": group["id"]})
    boss = create(rep, "contact", {"last_name": "Scorpio", "account": group["id"]})
    create(rep, "contact", {"last_name": "Report", "account": group["id"], "reports_to": boss["id"]})
    base = f"/api/v1/account/{group['id']}/related"
    assert _names(rep.get(f"{base}/account.parent_account")) == ["Globex Services"]
    assert sorted(_names(rep.get(f"{base}/contact.account"))) == ["Report", "Scorpio"]
    assert _names(rep.get(f"/api/v1/contact/{boss['id']}/related/contact.reports_to")) == ["Report"]
    loop = rep.patch(f"/api/v1/account/{group['id']}", json={"parent_account": group["id"]})
    assert "parent_account" in refused(loop)


@pytest.mark.uat("UAT-ACCOUNTS-04")
def test_uat_accounts_04_the_segment_follows_the_head_count(sales_workspace, api_client):
    ws = sales_workspace("accounts")
    rep = api_client(ws, "sales_rep")
    big = create(rep, "account", {"name": "Big Corp", "employees": 4200})
    small = create(rep, "account", {"name": "Small Shop", "employees": 12})
    assert (big["segment"], small["segment"]) == ("enterprise", "smb")
    grown = ok(rep.patch(f"/api/v1/account/{small['id']}", json={"employees": 150}))
    assert grown["segment"] == "mid_market"
