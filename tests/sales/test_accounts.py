"""The ``accounts`` pack: the 360° view definition, contact and account hierarchies,
account teams and segment tagging, through the public REST API."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def ws(sales_workspace):
    return sales_workspace("accounts")


@pytest.fixture
def admin(ws, api_client):
    return api_client(ws, "admin")


@pytest.fixture
def rep(ws, api_client):
    return api_client(ws, "sales_rep")


def created(reply: Any) -> dict[str, Any]:
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def subjects(reply: Any) -> list[str]:
    assert reply.status_code == 200, reply.get_json()
    return [r.get("last_name") or r.get("name") for r in reply.get_json()["data"]]


def test_the_account_page_lists_its_related_records(rep):
    meta = rep.get("/api/v1/meta/entities/account").get_json()
    assert meta["related"][:4] == [
        "contact.account",
        "account.parent_account",
        "account_team_member.account",
        "timeline",
    ]
    assert {d["name"] for d in meta["duplicates"]} == {"account_name", "account_domain"}
    contact_meta = rep.get("/api/v1/meta/entities/contact").get_json()
    assert "contact.reports_to" in contact_meta["related"]
    group = created(rep.post("/api/v1/account", json={"name": "Globex Holding"}))
    created(rep.post("/api/v1/account", json={"name": "Globex Services", "parent_account": group["id"]}))
    created(rep.post("/api/v1/contact", json={"last_name": "Scorpio", "account": group["id"]}))
    for related in meta["related"]:
        if related != "timeline":
            assert rep.get(f"/api/v1/account/{group['id']}/related/{related}").status_code == 200, related
    assert subjects(rep.get(f"/api/v1/account/{group['id']}/related/account.parent_account")) == ["Globex Services"]
    assert subjects(rep.get(f"/api/v1/account/{group['id']}/related/contact.account")) == ["Scorpio"]
    assert rep.get(f"/api/v1/account/{group['id']}/timeline").status_code == 200


def test_the_contact_hierarchy_stays_inside_one_account(rep):
    acme = created(rep.post("/api/v1/account", json={"name": "Acme Widgets"}))
    other = created(rep.post("/api/v1/account", json={"name": "Other Widgets"}))
    boss = created(rep.post("/api/v1/contact", json={"last_name": "Boss", "account": acme["id"]}))
    created(rep.post("/api/v1/contact", json={"last_name": "Report", "account": acme["id"], "reports_to": boss["id"]}))
    stranger = rep.post(
        "/api/v1/contact", json={"last_name": "Stranger", "account": other["id"], "reports_to": boss["id"]}
    )
    assert stranger.status_code == 422 and stranger.get_json()["errors"][0]["field"] == "reports_to"
    assert rep.patch(f"/api/v1/contact/{boss['id']}", json={"reports_to": boss["id"]}).status_code == 422
    assert subjects(rep.get(f"/api/v1/contact/{boss['id']}/related/contact.reports_to")) == ["Report"]


def test_the_account_hierarchy_has_no_loops(rep):
    group = created(rep.post("/api/v1/account", json={"name": "Parent Group"}))
    child = created(rep.post("/api/v1/account", json={"name": "Child Company", "parent_account": group["id"]}))
    assert rep.patch(f"/api/v1/account/{group['id']}", json={"parent_account": group["id"]}).status_code == 422
    loop = rep.patch(f"/api/v1/account/{group['id']}", json={"parent_account": child["id"]})
    assert loop.status_code == 422 and loop.get_json()["errors"][0]["field"] == "parent_account"


def test_the_segment_follows_the_head_count(rep):
    big = created(rep.post("/api/v1/account", json={"name": "Big Corp", "employees": 4200}))
    mid = created(rep.post("/api/v1/account", json={"name": "Mid Corp", "employees": 250}))
    small = created(rep.post("/api/v1/account", json={"name": "Small Shop", "employees": 12, "segment": "enterprise"}))
    city = created(
        rep.post("/api/v1/account", json={"name": "City Council", "employees": 3000, "segment": "public_sector"})
    )
    assert [a["segment"] for a in (big, mid, small, city)] == ["enterprise", "mid_market", "smb", "public_sector"]
    grown = rep.patch(f"/api/v1/account/{small['id']}", json={"employees": 150}).get_json()
    assert grown["segment"] == "mid_market"
    renamed = rep.patch(f"/api/v1/account/{big['id']}", json={"segment": "mid_market"}).get_json()
    assert renamed["segment"] == "mid_market"  # set by hand without a head-count change: kept


def test_account_teams(ws, api_client, admin, rep):
    account = created(rep.post("/api/v1/account", json={"name": "Teamed AG"}))
    users = {u["email"]: u["id"] for u in admin.get("/api/v1/user?limit=50").get_json()["data"]}
    member = {"account": account["id"], "user": users["sales_rep@test.dev"], "team_role": "account_manager"}
    first = created(rep.post("/api/v1/account_team_member", json=member))
    assert first["primary"] is False and first["since"]
    assert rep.post("/api/v1/account_team_member", json=member).status_code == 409  # one role per user
    presales = {**member, "user": users["presales@test.dev"], "team_role": "presales"}
    created(rep.post("/api/v1/account_team_member", json=presales))
    team = rep.get(f"/api/v1/account/{account['id']}/related/account_team_member.account?sort=team_role").get_json()
    assert [m["team_role"] for m in team["data"]] == ["account_manager", "presales"]
    technician = api_client(ws, "technician")
    assert technician.get(f"/api/v1/account_team_member/{first['id']}").status_code == 200
    assert technician.post("/api/v1/account_team_member", json={**member, "team_role": "technician"}).status_code == 403
