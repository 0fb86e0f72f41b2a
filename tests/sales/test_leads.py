"""The leads pack (``metadata/leads``) through the REST API: scoring, routing, reassignment,
aging alerts, the timeline, conversion with deduplication, disqualifying and merging."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from engine.automation.schedules import run_due
from engine.workspace import Workspace
from tests.conftest import PASSWORD
from tests.sales.conftest import ApiClient


@dataclass
class Sales:
    ws: Workspace
    admin: ApiClient
    rep: ApiClient
    manager: ApiClient
    login: Callable[[str], ApiClient]

    def user_id(self, api: ApiClient) -> str:
        return str(_ok(api.get("/api/v1/auth/me"))["id"])


@pytest.fixture
def sales(sales_workspace: Any, api_client: Any) -> Sales:
    ws = sales_workspace("leads")
    return Sales(
        ws,
        api_client(ws, "admin"),
        api_client(ws, "sales_rep"),
        api_client(ws, "sales_manager"),
        lambda role: api_client(ws, role),
    )


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _lead(api: ApiClient, **values: Any) -> dict[str, Any]:
    body = {"first_name": "Jane", "last_name": "Doe", "email": "jane.doe@example.org", **values}
    return _ok(api.post("/api/v1/lead", json=body), 201)


def _get(api: ApiClient, entity: str, record_id: str) -> dict[str, Any]:
    return _ok(api.get(f"/api/v1/{entity}/{record_id}"))


def _act(api: ApiClient, lead_id: str, name: str, body: Any = None) -> Any:
    return api.post(f"/api/v1/lead/{lead_id}/actions/{name}", json=body or {})


def _rep(sales: Sales, name: str, **values: Any) -> str:
    """Another sales rep (``NAME@test.dev``) with routing fields; returns the user id."""
    body = {"email": f"{name}@test.dev", "full_name": name.title(), "password": PASSWORD, "roles": ["sales_rep"]}
    return str(_ok(sales.admin.post("/api/v1/user", json={**body, **values}), 201)["id"])


def _settings(sales: Sales, timeout: str) -> None:
    _ok(sales.admin.post("/api/v1/crm_setting", json={"name": "default", "lead_reassignment_timeout": timeout}), 201)


def _notices(api: ApiClient) -> list[str]:
    return [n["title"] for n in _ok(api.get("/api/v1/me/notifications"))["data"]]


# --- scoring and the basics ---------------------------------------------------------------------
def test_a_reps_own_lead_is_scored_rated_and_kept(sales: Sales) -> None:
    product = _ok(
        sales.admin.post("/api/v1/product", json={"sku": "FW-1", "name": "Firewall", "category": "hardware"}), 201
    )
    lead = _lead(
        sales.rep,
        phone="+49 30 1234567",
        company="Nordbank AG",
        product_interest=product["id"],
        budget=150000,
        timeframe="immediate",
        source="referral",
        industry="banking",
    )
    assert lead["owner"] == sales.user_id(sales.rep)  # a rep's own lead is not routed away
    assert (lead["name"], lead["status"], lead["status_color"]) == ("Jane Doe", "new", "#3b82f6")
    assert (lead["score"], lead["rating"]) == (85, "hot")  # 10+10+5+15+15+15+10+5

    cooled = _ok(sales.rep.patch(f"/api/v1/lead/{lead['id']}", json={"budget": 0, "timeframe": "later"}))
    assert (cooled["score"], cooled["rating"]) == (55, "warm")
    refused = sales.rep.patch(f"/api/v1/lead/{lead['id']}", json={"score": 100})
    assert refused.status_code == 422  # kept by the scoring rule


def test_a_lead_needs_a_way_to_reach_it_and_a_reason_to_be_unqualified(sales: Sales) -> None:
    unreachable = sales.rep.post("/api/v1/lead", json={"last_name": "Doe"})
    assert unreachable.status_code == 422
    assert [e["field"] for e in unreachable.get_json()["errors"]] == ["email"]
    lead = _lead(sales.rep)
    no_reason = sales.rep.patch(f"/api/v1/lead/{lead['id']}", json={"status": "unqualified"})
    assert no_reason.status_code == 422
    assert [e["field"] for e in no_reason.get_json()["errors"]] == ["disqualification_reason"]
    assert sales.rep.patch(f"/api/v1/lead/{lead['id']}", json={"status": "converted"}).status_code == 422


def test_reps_see_their_own_leads_only(sales: Sales) -> None:
    mine = _lead(sales.rep)
    theirs = _lead(sales.manager, email="other@example.org")
    assert [lead["id"] for lead in _ok(sales.rep.get("/api/v1/lead"))["data"]] == [mine["id"]]
    assert sales.rep.get(f"/api/v1/lead/{theirs['id']}").status_code == 404
    assert sales.login("support_agent").get("/api/v1/lead").status_code == 404  # no grant at all
    assert len(_ok(sales.login("executive").get("/api/v1/lead"))["data"]) == 2


def test_disqualify_takes_a_reason(sales: Sales) -> None:
    lead = _lead(sales.rep)
    assert _act(sales.rep, lead["id"], "disqualify").status_code == 422
    done = _ok(_act(sales.rep, lead["id"], "disqualify", {"reason": "no_budget"}))
    assert (done["status"], done["disqualification_reason"]) == ("unqualified", "no_budget")
    assert _act(sales.rep, lead["id"], "disqualify", {"reason": "spam"}).status_code == 409


# --- capture --------------------------------------------------------------------------------------
def test_the_web_form_captures_a_routed_lead_and_updates_an_open_one(sales: Sales) -> None:
    form = {"first_name": "Omid", "last_name": "Rahimi", "email": "omid@example.ir", "city": "Tehran"}
    anonymous = sales.rep.client  # the public form needs no sign-in
    assert anonymous.post("/api/v1/public/forms/lead", json=form).status_code == 202
    leads = _ok(sales.admin.get("/api/v1/lead"))["data"]
    assert [(lead["name"], lead["source"], lead["source_detail"]) for lead in leads] == [
        ("Omid Rahimi", "webform", "Website")
    ]
    assert leads[0]["owner"] == sales.user_id(sales.rep)  # routed to the (only) rep
    again = {**form, "company": "Pars Data", "email": "OMID@example.ir"}
    assert anonymous.post("/api/v1/public/forms/lead", json=again).status_code == 202
    leads = _ok(sales.admin.get("/api/v1/lead"))["data"]
    assert [(lead["name"], lead["company"]) for lead in leads] == [("Omid Rahimi", "Pars Data")]
    bot = {**form, "email": "bot@example.org", "fax_number": "123"}
    assert anonymous.post("/api/v1/public/forms/lead", json=bot).status_code == 202
    assert len(_ok(sales.admin.get("/api/v1/lead"))["data"]) == 1  # the honeypot caught it


# --- routing -------------------------------------------------------------------------------------
def test_new_leads_are_routed_by_category_territory_industry_then_in_turn(sales: Sales) -> None:
    social = _rep(sales, "sofia", lead_categories="Instagram, Telegram")
    berlin = _rep(sales, "bernd", lead_cities="Berlin, Potsdam")
    banks = _rep(sales, "bianca", lead_industries=["banking", "insurance"])
    reps = {social, berlin, banks, sales.user_id(sales.rep)}

    def routed(**values: Any) -> str:
        return str(_lead(sales.admin, **values)["owner"])  # an admin's import: routed to a rep

    assert routed(source_detail="Instagram", city="Berlin") == social
    assert routed(source_detail="Trade fair", city="Potsdam") == berlin
    assert routed(city="Oslo", industry="banking") == banks
    in_turn = {routed(email=f"x{i}@example.org") for i in range(4)}
    assert in_turn == reps  # round robin over every working rep
    lead = _lead(sales.admin, city="Berlin")
    history = _ok(sales.admin.get(f"/api/v1/lead/{lead['id']}/history"))["data"]
    assign = next(h for h in history if h["action"] == "assign")
    assert assign["changes"]["owner"][1] == berlin
    assert assign["changes"]["reason"][1].startswith("rule 2 (city != null)")
    notices = _ok(sales.admin.get("/api/v1/notification?limit=100"))["data"]
    assert sum(1 for n in notices if n["user"] == berlin and n["title"].startswith("New lead for you")) == 3


def test_an_untouched_lead_goes_to_another_rep_after_the_timeout(sales: Sales) -> None:
    _settings(sales, "2d")
    berlin = _rep(sales, "bernd", lead_cities="Berlin")
    lead = _lead(sales.admin, city="Berlin")
    assert lead["owner"] == berlin
    now = dt.datetime.now(dt.UTC)

    run_due(sales.ws, now + dt.timedelta(days=1))  # not yet
    assert _get(sales.admin, "lead", lead["id"])["owner"] == berlin
    run_due(sales.ws, now + dt.timedelta(days=2, hours=1))
    moved = _get(sales.admin, "lead", lead["id"])
    assert moved["owner"] == sales.user_id(sales.rep)  # the only other rep: never back to bernd
    assert (moved["previous_owner"], moved["reassignment_count"]) == (berlin, 1)
    run_due(sales.ws, now + dt.timedelta(days=2, hours=2))  # the new owner has a full timeout
    assert _get(sales.admin, "lead", lead["id"])["reassignment_count"] == 1


def test_a_touched_or_closed_lead_stays_and_a_zero_timeout_switches_it_off(sales: Sales) -> None:
    _settings(sales, "2d")
    lead = _lead(sales.rep)
    closed = _ok(_act(sales.rep, _lead(sales.rep, email="b@example.org")["id"], "disqualify", {"reason": "spam"}))
    now = dt.datetime.now(dt.UTC)
    run_due(sales.ws, now + dt.timedelta(days=3))
    assert _get(sales.rep, "lead", closed["id"])["reassignment_count"] is None
    # the only rep cannot pass it on to anyone else: it stays, and the history says why
    assert _get(sales.admin, "lead", lead["id"])["owner"] == sales.user_id(sales.rep)

    setting = _ok(sales.admin.get("/api/v1/crm_setting"))["data"][0]
    _ok(sales.admin.patch(f"/api/v1/crm_setting/{setting['id']}", json={"lead_reassignment_timeout": 0}))
    _rep(sales, "bernd")
    run_due(sales.ws, now + dt.timedelta(days=6))
    assert _get(sales.admin, "lead", lead["id"])["owner"] == sales.user_id(sales.rep)


def test_aging_alerts_tell_the_owner_after_three_and_seven_days(sales: Sales) -> None:
    lead = _lead(sales.rep)  # no settings record: no reassignment
    now = dt.datetime.now(dt.UTC)
    run_due(sales.ws, now + dt.timedelta(days=2))
    assert _notices(sales.rep) == []
    run_due(sales.ws, now + dt.timedelta(days=3, minutes=5))
    assert _notices(sales.rep) == ["Lead waiting: Jane Doe"]
    run_due(sales.ws, now + dt.timedelta(days=7, minutes=5))
    assert _notices(sales.rep) == ["Lead waiting: Jane Doe", "Lead waiting: Jane Doe"]
    assert lead["id"] in {n["related_id"] for n in _ok(sales.rep.get("/api/v1/me/notifications"))["data"]}


def test_a_logged_call_marks_the_lead_contacted(sales: Sales) -> None:
    lead = _lead(sales.rep)
    call = {"kind": "call", "subject": "Intro call", "done": True, "related_entity": "lead", "related_id": lead["id"]}
    _ok(sales.rep.post("/api/v1/activity", json=call), 201)
    contacted = _get(sales.rep, "lead", lead["id"])
    assert contacted["status"] == "contacted"
    assert contacted["last_contacted_at"] is not None
    assert contacted["score"] == lead["score"] + 10


# --- conversion ---------------------------------------------------------------------------------
def test_convert_creates_account_contact_and_opportunity_once(sales: Sales) -> None:
    lead = _lead(
        sales.rep,
        company="Kiel Logistics GmbH",
        phone="+49 431 55501",
        city="Kiel",
        industry="logistics",
        budget=42000,
        source="webform",
        title="Head of IT",
        description="Wants a new warehouse network.",
    )
    converted = _ok(_act(sales.rep, lead["id"], "convert"))
    assert converted["status"] == "converted"
    assert converted["converted_by"] == sales.user_id(sales.rep)
    account = _get(sales.rep, "account", converted["converted_account"])
    contact = _get(sales.rep, "contact", converted["converted_contact"])
    deal = _get(sales.rep, "opportunity", converted["converted_opportunity"])
    assert (account["name"], account["city"], account["industry"], account["source"]) == (
        "Kiel Logistics GmbH",
        "Kiel",
        "logistics",
        "webform",
    )
    assert (contact["first_name"], contact["last_name"], contact["account"]) == ("Jane", "Doe", account["id"])
    assert (contact["email"], contact["title"]) == ("jane.doe@example.org", "Head of IT")
    assert deal["name"] == "Kiel Logistics GmbH: new business"
    assert (deal["account"], deal["contact"], deal["stage"]) == (account["id"], contact["id"], "qualification")
    assert (deal["amount"], deal["source"], deal["description"]) == (
        Decimal("42000.00"),
        "webform",
        "Wants a new warehouse network.",
    )
    me = sales.user_id(sales.rep)
    assert account["owner"] == contact["owner"] == deal["owner"] == me

    again = _act(sales.rep, lead["id"], "convert")
    assert again.status_code == 409
    assert again.get_json()["detail"] == "This lead is already converted."
    assert len(_ok(sales.rep.get("/api/v1/opportunity"))["data"]) == 1
    assert sales.rep.patch(f"/api/v1/lead/{lead['id']}", json={"status": "qualified"}).status_code == 422


def test_convert_reuses_the_named_account_then_the_company_then_the_domain(sales: Sales) -> None:
    named = _ok(sales.manager.post("/api/v1/account", json={"name": "Chosen Ltd"}), 201)
    acme = _ok(sales.manager.post("/api/v1/account", json={"name": "Acme GmbH", "domain": "acme.de"}), 201)
    first = _lead(sales.rep, company="Something Else", email="a@else.org")
    second = _lead(sales.rep, company="ACME GMBH", email="b@example.org")
    third = _lead(sales.rep, company="Acme Robotics", email="c@acme.de")
    got = [
        _ok(_act(sales.rep, first["id"], "convert", {"account": named["id"], "amount": 900}))["converted_account"],
        _ok(_act(sales.rep, second["id"], "convert"))["converted_account"],
        _ok(_act(sales.rep, third["id"], "convert"))["converted_account"],
    ]
    assert got == [named["id"], acme["id"], acme["id"]]
    assert len(_ok(sales.rep.get("/api/v1/account"))["data"]) == 2
    deal = _get(sales.rep, "opportunity", _get(sales.rep, "lead", first["id"])["converted_opportunity"])
    assert deal["amount"] == Decimal("900.00")


def test_convert_reuses_a_contact_by_email_and_gives_a_loose_one_the_account(sales: Sales) -> None:
    loose = _ok(sales.manager.post("/api/v1/contact", json={"last_name": "Doe", "email": "JANE.DOE@example.org"}), 201)
    lead = _lead(sales.rep, company="Doe Consulting")
    converted = _ok(_act(sales.rep, lead["id"], "convert"))
    assert converted["converted_contact"] == loose["id"]
    contact = _get(sales.rep, "contact", loose["id"])
    assert contact["account"] == converted["converted_account"]
    assert _get(sales.rep, "opportunity", converted["converted_opportunity"])["contact"] == loose["id"]


def test_convert_input_is_validated_and_roles_are_checked(sales: Sales) -> None:
    lead = _lead(sales.rep, company="Acme")
    bad = _act(sales.rep, lead["id"], "convert", {"account": "0" * 26, "amount": -1, "color": "red"})
    assert bad.status_code == 422
    bad = _act(sales.rep, lead["id"], "convert", {"account": "0" * 26, "amount": -1})
    assert sorted(e["field"] for e in bad.get_json()["errors"]) == ["account", "amount"]
    assert _ok(sales.rep.get("/api/v1/account"))["data"] == []
    exec_lead = _lead(sales.admin, email="e@example.org")
    assert _act(sales.login("executive"), exec_lead["id"], "convert").status_code == 403


# --- merging -------------------------------------------------------------------------------------
def test_merging_leads_keeps_one_and_moves_its_timeline(sales: Sales) -> None:
    keep = _lead(sales.admin, company="Acme", phone="+49 30 5550100")
    dup = _lead(sales.admin, email="jane@acme.de", city="Berlin", source_detail="Instagram")
    note = {"kind": "note", "subject": "Asked for a demo", "related_entity": "lead", "related_id": dup["id"]}
    activity = _ok(sales.admin.post("/api/v1/activity", json=note), 201)

    assert _act(sales.rep, keep["id"], "merge", {"duplicate": dup["id"]}).status_code in (403, 404)
    merged = _ok(_act(sales.admin, keep["id"], "merge", {"duplicate": dup["id"]}))
    assert (merged["email"], merged["city"], merged["source_detail"]) == (
        "jane.doe@example.org",
        "Berlin",
        "Instagram",
    )
    assert _get(sales.admin, "activity", activity["id"])["related_id"] == keep["id"]
    assert sales.admin.get(f"/api/v1/lead/{dup['id']}").status_code == 404
    converted = _ok(_act(sales.admin, _lead(sales.admin, email="z@example.org")["id"], "convert"))
    refused = _act(sales.admin, keep["id"], "merge", {"duplicate": converted["id"]})
    assert refused.status_code == 409


def test_merging_accounts_repoints_contacts_deals_and_converted_leads(sales: Sales) -> None:
    lead = _lead(sales.rep, company="Acme GmbH")
    converted = _ok(_act(sales.rep, lead["id"], "convert"))
    dup_id = converted["converted_account"]
    keep = _ok(sales.admin.post("/api/v1/account?allow_duplicates=true", json={"name": "Acme", "city": "Kiel"}), 201)
    _ok(_merge(sales.admin, "account", keep["id"], dup_id))
    assert _get(sales.admin, "lead", lead["id"])["converted_account"] == keep["id"]
    assert _get(sales.admin, "contact", converted["converted_contact"])["account"] == keep["id"]
    assert _get(sales.admin, "opportunity", converted["converted_opportunity"])["account"] == keep["id"]
    assert sales.admin.get(f"/api/v1/account/{dup_id}").status_code == 404


def _merge(api: ApiClient, entity: str, keep: str, duplicate: str) -> Any:
    return api.post(f"/api/v1/{entity}/{keep}/actions/merge", json={"duplicate": duplicate})
