"""PACKS.md flow 1: lead -> opportunity with account and contact (deduplicated); presales
owner set at ``solution_design``. Walked through the public REST API only, as a sales rep;
the data that already exists (an account and its contact) was entered by a sales manager.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.sales.conftest import ApiClient


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _me(api: ApiClient) -> str:
    return str(_ok(api.get("/api/v1/auth/me"))["id"])


def test_flow_01_lead_to_opportunity(sales_workspace: Any, api_client: Any) -> None:
    ws = sales_workspace("leads")
    rep, manager, presales = (api_client(ws, role) for role in ("sales_rep", "sales_manager", "presales"))
    rep_id, presales_id = _me(rep), _me(presales)

    # what the CRM knows already: the account and the person who will fill in the web form
    nordwind = _ok(
        manager.post("/api/v1/account", json={"name": "Nordwind Logistik GmbH", "domain": "nordwind.de"}), 201
    )
    max_weber = _ok(
        manager.post(
            "/api/v1/contact",
            json={
                "first_name": "Max",
                "last_name": "Weber",
                "email": "max.weber@nordwind.de",
                "account": nordwind["id"],
            },
        ),
        201,
    )

    # 1. a web-form lead reaches the rep (routed: the rep is the only one)
    form = {
        "first_name": "Max",
        "last_name": "Weber",
        "email": "Max.Weber@nordwind.de",
        "company": "Nordwind Logistik",
        "city": "Hamburg",
        "industry": "logistics",
        "timeframe": "this_quarter",
        "description": "Two new warehouses need Wi-Fi and a firewall cluster.",
    }
    assert rep.client.post("/api/v1/public/forms/lead", json=form).status_code == 202
    leads = _ok(rep.get("/api/v1/lead"))["data"]
    assert len(leads) == 1
    lead = leads[0]
    assert (lead["owner"], lead["status"], lead["source"]) == (rep_id, "new", "webform")
    assert lead["score"] > 0 and lead["rating"] in ("hot", "warm", "cold")

    # 2. the rep calls, then qualifies the lead
    call = {
        "kind": "call",
        "subject": "Discovery call",
        "done": True,
        "related_entity": "lead",
        "related_id": lead["id"],
    }
    _ok(rep.post("/api/v1/activity", json=call), 201)
    assert _ok(rep.get(f"/api/v1/lead/{lead['id']}"))["status"] == "contacted"
    qualified = _ok(rep.patch(f"/api/v1/lead/{lead['id']}", json={"status": "qualified", "budget": 85000}))
    assert qualified["score"] > lead["score"]

    # 3. convert: the account (same company by e-mail domain) and the contact (same e-mail) are reused
    converted = _ok(rep.post(f"/api/v1/lead/{lead['id']}/actions/convert", json={"opportunity_name": "Nordwind Wi-Fi"}))
    assert converted["status"] == "converted"
    assert converted["converted_account"] == nordwind["id"]
    assert converted["converted_contact"] == max_weber["id"]
    deal = _ok(rep.get(f"/api/v1/opportunity/{converted['converted_opportunity']}"))
    assert (deal["name"], deal["account"], deal["contact"]) == ("Nordwind Wi-Fi", nordwind["id"], max_weber["id"])
    assert (deal["stage"], deal["amount"], deal["owner"]) == ("qualification", Decimal("85000.00"), rep_id)
    assert len(_ok(manager.get("/api/v1/account"))["data"]) == 1
    assert len(_ok(manager.get("/api/v1/contact"))["data"]) == 1
    timeline = _ok(rep.get(f"/api/v1/activity?related_entity=opportunity&related_id={deal['id']}"))["data"]
    assert [a["subject"] for a in timeline] == ["Converted from lead Max Weber"]

    # a second conversion is refused, and nothing more is created
    again = rep.post(f"/api/v1/lead/{lead['id']}/actions/convert")
    assert again.status_code == 409
    assert again.get_json()["detail"] == "This lead is already converted."
    assert len(_ok(rep.get("/api/v1/opportunity"))["data"]) == 1
    history = _ok(rep.get(f"/api/v1/lead/{lead['id']}/history"))["data"]
    assert any(h["action"] == "action" and h["changes"]["action"] == [None, "convert"] for h in history)

    # 4. the deal moves on; from solution_design on it needs a presales owner
    _ok(rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"stage": "qualification"}))
    refused = rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"stage": "solution_design"})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.get_json()["errors"]] == ["presales_owner"]
    assert presales.get(f"/api/v1/opportunity/{deal['id']}").status_code == 404
    moved = _ok(
        rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"stage": "solution_design", "presales_owner": presales_id})
    )
    assert (moved["stage"], moved["presales_owner"]) == ("solution_design", presales_id)
    assert _ok(presales.get(f"/api/v1/opportunity/{deal['id']}"))["name"] == "Nordwind Wi-Fi"

    # 5. a lead from a company we do not know yet gets a new account and contact
    fresh = _ok(
        rep.post(
            "/api/v1/lead",
            json={"first_name": "Lena", "last_name": "Kraus", "email": "lena@kraus-it.de", "company": "Kraus IT"},
        ),
        201,
    )
    second = _ok(rep.post(f"/api/v1/lead/{fresh['id']}/actions/convert"))
    assert second["converted_account"] != nordwind["id"]
    account = _ok(rep.get(f"/api/v1/account/{second['converted_account']}"))
    contact = _ok(rep.get(f"/api/v1/contact/{second['converted_contact']}"))
    assert (account["name"], contact["last_name"], contact["account"]) == ("Kraus IT", "Kraus", account["id"])
    assert sorted(d["name"] for d in _ok(rep.get("/api/v1/opportunity"))["data"]) == [
        "Kraus IT: new business",
        "Nordwind Wi-Fi",
    ]
