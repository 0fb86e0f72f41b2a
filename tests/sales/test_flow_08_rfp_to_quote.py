"""Flow 8 (PACKS.md): presales works with deals, quotes and vendors: RFP -> proposal ->
quote. REST API only, as the users of the demo roles: a sales rep owns the deal, a presales
engineer answers the customer's RFP with a proposal, versions it and the rep turns it into
the deal's quote; the effort presales log rolls up to the RFP, the proposal and the deal.
"""

from __future__ import annotations

import io
from decimal import Decimal

from pypdf import PdfReader

from tests.sales.pipeline import account, create, day, get, listing, money, ok, opportunity, patch, refused, user_id


def act(api, entity, record_id, action, body=None):
    return api.post(f"/api/v1/{entity}/{record_id}/actions/{action}", json=body or {})


SECTIONS = [
    {
        "order": 2,
        "title": "Proposed architecture",
        "kind": "architecture",
        "effort_hours": "24",
        "body": "Two core switches in a stack.\n\nWi-Fi 6 access points on every floor.",
    },
    {
        "order": 1,
        "title": "Your requirements",
        "kind": "requirements",
        "effort_hours": "0",
        "body": "A campus network for 1,200 users on three sites.",
    },
    {
        "order": 3,
        "title": "Implementation plan",
        "kind": "implementation",
        "effort_hours": "16.5",
        "body": "Staging in our lab, then one site per weekend.",
    },
]


def test_rfp_to_proposal_to_quote(sales_workspace, api_client):
    ws = sales_workspace("presales")
    admin, rep, presales = (api_client(ws, r) for r in ("admin", "sales_rep", "presales"))
    service = create(
        admin,
        "product",
        {
            "sku": "SVC-INST-HR",
            "name": "Installation (hourly)",
            "category": "service",
            "unit": "hour",
            "list_price": "145",
            "cost": "72",
        },
    )
    customer = account(rep)
    deal = opportunity(rep, customer["id"], stage="solution_design", presales_owner=user_id(admin, "presales"))

    # --- the customer's RFP, logged by presales with its documents and deadline -------------
    other = account(rep, "Elbe Kliniken gGmbH")
    assert set(
        refused(
            presales.post(
                "/api/v1/rfp", json={"title": "x", "opportunity": deal["id"], "account": other["id"], "due_on": day(14)}
            )
        )
    ) == {"account"}
    rfp = create(
        presales,
        "rfp",
        {
            "title": "Campus LAN and Wi-Fi renewal",
            "opportunity": deal["id"],
            "customer_reference": "NWL-2026-117",
            "questions_due_on": day(5),
            "due_on": day(14),
            "documents": [
                {"title": "Tender document", "kind": "tender_document", "file": "https://files.example/nwl/rfp.pdf"},
                {"title": "Pricing sheet", "kind": "pricing_sheet", "file": "https://files.example/nwl/prices.xlsx"},
            ],
        },
    )
    assert rfp["number"].startswith("RFP-") and rfp["status"] == "received"
    assert rfp["account"] == customer["id"]  # the deal's account
    assert rfp["presales_owner"] == user_id(admin, "presales")  # the deal's presales owner
    assert [d["title"] for d in rfp["documents"]] == ["Tender document", "Pricing sheet"]
    patch(presales, "rfp", rfp["id"], {"status": "in_progress"})
    assert rfp["id"] in {r["id"] for r in listing(rep, "rfp")}  # the rep sees the RFPs of their deal

    # --- the proposal, with sections and the effort they stand for --------------------------
    proposal = create(
        presales,
        "proposal",
        {
            "title": "Campus network for Nordwind",
            "rfp": rfp["id"],
            "services_product": service["id"],
            "summary": "A resilient campus network.\n\nDelivered in six weeks.",
            "sections": SECTIONS,
        },
    )
    assert proposal["opportunity"] == deal["id"] and proposal["account"] == customer["id"]  # from the RFP
    assert proposal["status"] == "draft" and proposal["version_no"] == 1
    assert money(proposal["total_effort_hours"]) == Decimal("40.5")

    reply = rep.get(f"/api/v1/proposal/{proposal['id']}/render/proposal?format=html")
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("text/html")
    page = reply.get_data(as_text=True)
    assert proposal["number"] in page and "Nordwind Logistik GmbH" in page and "NWL-2026-117" in page
    # sections print by their order
    assert (
        page.index("1. Your requirements")
        < page.index("2. Proposed architecture")
        < page.index("3. Implementation plan")
    )
    assert "Wi-Fi 6 access points" in page and "40.5" in page
    pdf = rep.get(f"/api/v1/proposal/{proposal['id']}/render/proposal?format=pdf")
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert proposal["number"] in text and "Implementation plan" in text

    # --- review, submission (the RFP follows), then a second version ------------------------
    for step in ("review", "submit"):
        proposal = ok(act(presales, "proposal", proposal["id"], step))
    assert proposal["status"] == "submitted" and proposal["submitted_at"]
    assert get(rep, "rfp", rfp["id"])["status"] == "submitted"
    assert get(rep, "rfp", rfp["id"])["submitted_on"] == day(0)

    old = ok(act(presales, "proposal", proposal["id"], "new_version", {"comment": "Customer asked for a PoC"}))
    assert old["status"] == "superseded" and old["superseded_by"]
    latest = get(presales, "proposal", old["superseded_by"])
    assert latest["version_no"] == 2 and latest["status"] == "draft"
    assert latest["previous_version"] == old["id"] and latest["rfp"] == rfp["id"]
    assert [s["title"] for s in latest["sections"]] == [s["title"] for s in old["sections"]]
    assert {s["id"] for s in latest["sections"]}.isdisjoint({s["id"] for s in old["sections"]})  # copies
    assert ok(act(presales, "proposal", old["id"], "new_version"), 409)["status"] == 409
    sections = latest["sections"] + [{"order": 4, "title": "Proof of concept", "effort_hours": "8"}]
    latest = patch(presales, "proposal", latest["id"], {"sections": sections})
    assert money(latest["total_effort_hours"]) == Decimal("48.5")
    assert money(get(presales, "proposal", old["id"])["total_effort_hours"]) == Decimal("40.5")  # unchanged

    # --- the rep creates the deal's quote from the latest version ---------------------------
    linked = ok(act(rep, "proposal", latest["id"], "create_quote"))
    quote = get(rep, "quote", linked["quote"])
    assert quote["status"] == "draft" and quote["opportunity"] == deal["id"] and quote["account"] == customer["id"]
    assert quote["title"] == "Campus network for Nordwind" and latest["number"] in quote["notes"]
    [line] = quote["lines"]
    assert line["product"] == service["id"] and money(line["qty"]) == Decimal("48.5")
    assert money(line["unit_price"]) == Decimal("145")  # the catalog price of the service
    assert money(quote["subtotal"]) == Decimal("7032.50")
    assert [p["id"] for p in ok(rep.get(f"/api/v1/quote/{quote['id']}/related/proposal.quote"))["data"]] == [
        latest["id"]
    ]
    assert quote["id"] in {q["id"] for q in listing(rep, "quote", opportunity=deal["id"])}
    assert get(presales, "quote", quote["id"])["id"] == quote["id"]  # presales reads their deal's quote
    again = ok(act(rep, "proposal", latest["id"], "create_quote"), 409)
    assert "already has its quote" in again["detail"]
    assert ok(act(presales, "proposal", old["id"], "create_quote"), 409)["status"] == 409  # superseded
    assert len(listing(admin, "quote", opportunity=deal["id"])) == 1

    # --- effort logs roll up to the RFP, the proposal and the deal -------------------------
    logs = [
        {"rfp": rfp["id"], "hours": "4", "activity": "discovery", "date": day(-6)},
        {"opportunity": deal["id"], "hours": "6.5", "activity": "solution_design", "date": day(-3)},
        {"proposal": latest["id"], "rfp": rfp["id"], "hours": "3", "activity": "proposal_writing"},
    ]
    for values in logs:
        log = create(presales, "effort_log", values)
        assert log["opportunity"] == deal["id"] and log["user"] == user_id(admin, "presales")
    assert money(get(rep, "rfp", rfp["id"])["total_effort_hours"]) == Decimal("7")
    assert money(get(rep, "proposal", latest["id"])["logged_hours"]) == Decimal("3")
    assert money(get(rep, "opportunity", deal["id"])["total_effort_hours"]) == Decimal("13.5")
    on_deal = ok(rep.get(f"/api/v1/opportunity/{deal['id']}/related/effort_log.opportunity"))["data"]
    assert sorted(money(e["hours"]) for e in on_deal) == [Decimal("3"), Decimal("4"), Decimal("6.5")]

    # --- the deal is won: so is the RFP ------------------------------------------------------
    patch(rep, "opportunity", deal["id"], {"stage": "closed_won"})
    won = get(presales, "rfp", rfp["id"])
    assert won["status"] == "won" and won["decided_on"] == day(0)
