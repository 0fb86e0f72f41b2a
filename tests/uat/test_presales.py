"""UAT of the presales module (docs/uat/presales.md): RFPs, proposals, quotes from
proposals, effort logs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.sales.pipeline import account, create, day, get, money, ok, opportunity, refused, user_id
from tests.sales.test_flow_08_rfp_to_quote import SECTIONS, act


def _deal(ws, api_client):
    admin, rep, presales = (api_client(ws, r) for r in ("admin", "sales_rep", "presales"))
    deal = opportunity(rep, account(rep)["id"], stage="solution_design", presales_owner=user_id(admin, "presales"))
    return admin, rep, presales, deal


def _rfp(presales, deal):
    values = {"title": "Campus LAN and Wi-Fi renewal", "opportunity": deal["id"], "due_on": day(14)}
    return create(presales, "rfp", {**values, "customer_reference": "NWL-2026-117"})


@pytest.mark.uat("UAT-PRESALES-01")
def test_uat_presales_01_an_rfp_is_logged_on_the_deal(sales_workspace, api_client):
    ws = sales_workspace("presales")
    admin, rep, presales, deal = _deal(ws, api_client)
    assert set(refused(presales.post("/api/v1/rfp", json={"title": "x", "opportunity": deal["id"], "due_on": day(-5)})))
    rfp = _rfp(presales, deal)
    assert rfp["number"].startswith("RFP-") and rfp["status"] == "received"
    assert (rfp["account"], rfp["presales_owner"], rfp["days_left"]) == (
        deal["account"],
        user_id(admin, "presales"),
        14,
    )
    assert get(rep, "rfp", rfp["id"])["id"] == rfp["id"]


@pytest.mark.uat("UAT-PRESALES-02")
def test_uat_presales_02_a_proposal_answers_the_rfp_and_renders(sales_workspace, api_client):
    ws = sales_workspace("presales")
    _, rep, presales, deal = _deal(ws, api_client)
    rfp = _rfp(presales, deal)
    proposal = create(presales, "proposal", {"title": "Campus network", "rfp": rfp["id"], "sections": SECTIONS})
    assert (proposal["opportunity"], proposal["status"], proposal["version_no"]) == (deal["id"], "draft", 1)
    assert money(proposal["total_effort_hours"]) == Decimal("40.5")
    page = rep.get(f"/api/v1/proposal/{proposal['id']}/render/proposal?format=html")
    assert page.status_code == 200 and "NWL-2026-117" in page.get_data(as_text=True)
    pdf = rep.get(f"/api/v1/proposal/{proposal['id']}/render/proposal?format=pdf")
    assert pdf.headers["Content-Type"] == "application/pdf"
    for step in ("review", "submit"):
        proposal = ok(act(presales, "proposal", proposal["id"], step))
    assert proposal["status"] == "submitted"
    assert get(rep, "rfp", rfp["id"])["status"] == "submitted"


@pytest.mark.uat("UAT-PRESALES-03")
def test_uat_presales_03_the_rep_creates_the_quote_from_the_proposal(sales_workspace, api_client):
    ws = sales_workspace("presales")
    admin, rep, presales, deal = _deal(ws, api_client)
    values = {"sku": "SVC-INST-HR", "name": "Installation (hourly)", "category": "service", "list_price": "145"}
    service = create(admin, "product", {**values, "unit": "hour", "cost": "72"})
    proposal = create(
        presales,
        "proposal",
        {"title": "Campus network", "opportunity": deal["id"], "services_product": service["id"], "sections": SECTIONS},
    )
    quote = get(rep, "quote", ok(act(rep, "proposal", proposal["id"], "create_quote"))["quote"])
    assert (quote["status"], quote["opportunity"]) == ("draft", deal["id"])
    [line] = quote["lines"]
    assert (line["product"], money(line["qty"]), money(line["unit_price"])) == (
        service["id"],
        Decimal("40.5"),
        Decimal("145"),
    )
    assert money(quote["subtotal"]) == Decimal("5872.50")
    assert act(rep, "proposal", proposal["id"], "create_quote").status_code == 409


@pytest.mark.uat("UAT-PRESALES-04")
def test_uat_presales_04_effort_logs_roll_up_to_the_deal(sales_workspace, api_client):
    ws = sales_workspace("presales")
    admin, rep, presales, deal = _deal(ws, api_client)
    assert "hours" in refused(presales.post("/api/v1/effort_log", json={"opportunity": deal["id"], "hours": "0"}))
    rfp = _rfp(presales, deal)
    log = create(presales, "effort_log", {"rfp": rfp["id"], "hours": "4", "activity": "discovery"})
    assert (log["opportunity"], log["user"], log["date"]) == (deal["id"], user_id(admin, "presales"), day(0))
    create(presales, "effort_log", {"opportunity": deal["id"], "hours": "6.5", "activity": "solution_design"})
    assert money(get(rep, "rfp", rfp["id"])["total_effort_hours"]) == Decimal("4")
    assert money(get(rep, "opportunity", deal["id"])["total_effort_hours"]) == Decimal("10.5")
