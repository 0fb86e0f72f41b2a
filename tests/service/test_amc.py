"""The amc pack: contracts from drafts to active, statuses that follow the calendar, covered
assets on both sides, licences with encrypted keys, draft contracts from accepted quotes'
service lines, and the renew action's checks. REST API as the demo roles, on SQLite and
PostgreSQL, with the workspace clock."""

from __future__ import annotations

from typing import Any

from tests.sales.rest import account, act, create, get, listing, ok, patch, user_id
from tests.service.feedback import at, tick, utc


def contract(api: Any, customer: dict[str, Any], **values: Any) -> dict[str, Any]:
    fields = {"account": customer["id"], "tier": "gold", "start_date": "2030-01-01", "value": 12000}
    return create(api, "amc_contract", {**fields, **values})


def test_a_contract_is_activated_and_its_status_follows_the_calendar(sales_workspace, api_client):
    ws = sales_workspace("amc")
    at(ws, utc(2030, 1, 2))
    admin, rep, manager = api_client(ws, "admin"), api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    agent, portal = api_client(ws, "support_agent"), api_client(ws, "customer")
    customer = account(admin, "Stadtwerke Kiel AG", owner=user_id(admin, "sales_rep"))
    patch(admin, "user", user_id(admin, "customer"), {"account": customer["id"]})
    amc = contract(rep, customer, title="Core network 24x7")
    # a 12-month term by default; numbered; a draft until activated
    assert (amc["number"][:9], amc["end_date"], amc["status"], amc["term_months"]) == (
        "AMC-2030-",
        "2030-12-31",
        "draft",
        12,
    )
    assert rep.patch(f"/api/v1/amc_contract/{amc['id']}", json={"status": "active"}).status_code == 422
    assert act(rep, "amc_contract", amc["id"], "activate").status_code == 403  # managers and finance activate
    active = ok(act(manager, "amc_contract", amc["id"], "activate"))
    assert (active["status"], active["activated_at"][:10]) == ("active", "2030-01-02")
    assert act(manager, "amc_contract", amc["id"], "activate").status_code == 409
    bad = rep.post(
        "/api/v1/amc_contract",
        json={"account": customer["id"], "start_date": "2030-05-01", "end_date": "2030-04-01"},
    )
    assert bad.status_code == 422

    # the nightly status rule: expiring within 90 days of the end, expired after it
    for moment, status, due in (
        (utc(2030, 10, 1), "active", False),
        (utc(2030, 10, 2), "expiring", True),
        (utc(2030, 12, 31), "expiring", True),
        (utc(2031, 1, 1), "expired", True),
    ):
        tick(ws, moment)
        seen = get(agent, "amc_contract", amc["id"])
        assert (seen["status"], seen["renewal_due"]) == (status, due), moment
    # the renewal tracker is a list filter; the customer sees their own contract
    tracker = 'status in ("active", "expiring", "expired") and end_date <= today() + 90d'
    assert [c["id"] for c in listing(rep, "amc_contract", filter=tracker)] == [amc["id"]]
    assert [c["id"] for c in listing(portal, "amc_contract")] == [amc["id"]]


def test_covered_assets_licences_and_contracts_from_accepted_quotes(sales_workspace, api_client):
    ws = sales_workspace("amc")
    at(ws, utc(2030, 1, 2))
    admin, rep, manager = api_client(ws, "admin"), api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    lead, portal = api_client(ws, "support_lead"), api_client(ws, "customer")
    customer = account(admin, "Stadtwerke Kiel AG", owner=user_id(admin, "sales_rep"))
    patch(admin, "user", user_id(admin, "customer"), {"account": customer["id"]})
    switch = create(admin, "product", {"sku": "SW-48", "name": "Switch 48p", "category": "hardware", "oem": "Cisco"})
    suite = create(
        admin, "product", {"sku": "SEC-1", "name": "Endpoint Security", "category": "software", "oem": "ESET"}
    )
    care = create(
        admin,
        "product",
        {
            "sku": "AMC-G24",
            "name": "Gold care 24 months",
            "category": "amc",
            "service_tier": "gold",
            "service_months": 24,
            "list_price": 4800,
        },
    )

    # covered assets: ticked on the contract, shown on the asset and in the related list
    amc = contract(manager, customer)
    first, second = (
        create(lead, "asset", {"product": switch["id"], "account": customer["id"], "serial_no": s})
        for s in ("S1", "S2")
    )
    patch(manager, "amc_contract", amc["id"], {"assets": [first["id"], second["id"]]})
    assert get(lead, "asset", first["id"])["amc_contract"] == amc["id"]
    covered = ok(lead.get(f"/api/v1/amc_contract/{amc['id']}/related/asset"))["data"]
    assert sorted(a["id"] for a in covered) == sorted([first["id"], second["id"]])
    assert get(lead, "amc_contract", amc["id"])["covered_asset_count"] == 2

    # licences: the key is a secret the portal never sees; the status follows the expiry
    licence = create(
        rep,
        "license",
        {
            "account": customer["id"],
            "product": suite["id"],
            "seats": 250,
            "license_key": "ESET-AAAA-BBBB",
            "expiry_date": "2030-03-01",
        },
    )
    assert (licence["license_key"], licence["oem"], licence["status"]) == ("********", "ESET", "active")
    assert get(lead, "license", licence["id"])["license_key"] == "ESET-AAAA-BBBB"  # revealed to support leads
    assert "license_key" not in get(portal, "license", licence["id"])
    tick(ws, utc(2030, 1, 5))
    expiring = get(rep, "license", licence["id"])
    assert expiring["status"] == "expiring" and expiring["renewal_opportunity"] is not None
    tick(ws, utc(2030, 3, 2))
    assert get(rep, "license", licence["id"])["status"] == "expired"

    # sold services: the accepted quote's AMC line becomes a draft contract of its tier and term
    deal = create(rep, "opportunity", {"name": "Care renewal", "account": customer["id"]})
    quote = create(
        rep,
        "quote",
        {
            "opportunity": deal["id"],
            "title": "Care",
            "lines": [{"product": care["id"], "qty": 1}, {"product": switch["id"], "qty": 1, "unit_price": 900}],
        },
    )
    for action in ("submit", "send", "accept"):
        ok(act(rep, "quote", quote["id"], action))
    [sold] = listing(rep, "amc_contract", quote=quote["id"])
    assert (sold["status"], sold["tier"], sold["term_months"], sold["start_date"], sold["end_date"]) == (
        "draft",
        "gold",
        24,
        "2030-03-02",
        "2032-03-01",
    )
    assert (float(sold["value"]), sold["account"], sold["product"]) == (4800.0, customer["id"], care["id"])


def test_renew_refuses_drafts_and_second_renewals(sales_workspace, api_client):
    ws = sales_workspace("amc")
    at(ws, utc(2030, 1, 2))
    admin, manager = api_client(ws, "admin"), api_client(ws, "sales_manager")
    customer = account(admin, "Stadtwerke Kiel AG")
    amc = contract(manager, customer)
    assert act(manager, "amc_contract", amc["id"], "renew").status_code == 409  # a draft
    ok(act(manager, "amc_contract", amc["id"], "activate"))
    successor = ok(act(manager, "amc_contract", amc["id"], "renew", {"value": 13000, "tier": "platinum"}))
    assert successor["status"] == "renewed"
    new = get(manager, "amc_contract", successor["renewed_by"])
    assert (new["start_date"], new["end_date"], new["tier"], float(new["value"])) == (
        "2031-01-01",
        "2031-12-31",
        "platinum",
        13000.0,
    )
    assert act(manager, "amc_contract", amc["id"], "renew").status_code == 409
    assert act(manager, "amc_contract", amc["id"], "renew", {"value": -1}).status_code == 422


def test_a_new_contract_starts_as_a_draft_and_a_running_successor_renews_its_predecessor(sales_workspace, api_client):
    ws = sales_workspace("amc")
    at(ws, utc(2030, 1, 2))
    admin, rep, manager = api_client(ws, "admin"), api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    customer = account(admin, "Stadtwerke Kiel AG")
    fields = {"account": customer["id"], "tier": "gold", "start_date": "2030-01-01"}
    # nobody creates a running (or finished) contract by hand, not even a manager
    for api, status in ((rep, "active"), (manager, "active"), (rep, "expiring"), (rep, "expired"), (rep, "renewed")):
        reply = api.post("/api/v1/amc_contract", json={**fields, "status": status})
        assert reply.status_code == 422, status
        (error,) = reply.get_json()["errors"]
        assert error["field"] == "status" and "starts as a draft" in error["message"]
    stamped = rep.post(
        "/api/v1/amc_contract", json={**fields, "status": "active", "activated_at": "2030-01-01T00:00:00Z"}
    )
    assert stamped.status_code == 422  # activated_at belongs to the actions
    assert listing(admin, "amc_contract") == []

    # a successor prepared as a draft renews its predecessor once it is activated
    old = contract(manager, customer)
    ok(act(manager, "amc_contract", old["id"], "activate"))
    draft = contract(rep, customer, start_date="2031-01-01", renewal_of=old["id"])
    assert (draft["status"], get(rep, "amc_contract", old["id"])["status"]) == ("draft", "active")
    ok(act(manager, "amc_contract", draft["id"], "activate"))
    previous = get(rep, "amc_contract", old["id"])
    assert (previous["status"], previous["renewed_by"]) == ("renewed", draft["id"])
    assert [r["trigger"] for r in listing(admin, "survey_response", related_id=old["id"])] == ["amc_renewed"]
    # it is renewed now: the renew action refuses a second renewal
    assert act(manager, "amc_contract", old["id"], "renew").status_code == 409

    # the renew action closes the same loop, once
    renewed = ok(act(manager, "amc_contract", draft["id"], "renew"))
    assert renewed["status"] == "renewed"
    successor = get(rep, "amc_contract", renewed["renewed_by"])
    assert (successor["status"], successor["renewal_of"]) == ("active", draft["id"])
    assert len(listing(admin, "survey_response", related_id=draft["id"])) == 1
