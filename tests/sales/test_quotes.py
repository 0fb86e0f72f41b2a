"""The quotes pack: catalog lines and totals, best vendor cost, the two-level approval,
sending and acceptance (the deal's amount, purchase orders), rendering."""

from __future__ import annotations

import datetime as dt
import io

from pypdf import PdfReader

from engine.automation.schedules import run_due
from tests.sales.procurement import (
    account,
    act,
    catalog,
    create,
    day,
    get,
    money,
    ok,
    opportunity,
    price_lists,
    set_manager,
    today,
    user_id,
)


def _setup(sales_workspace, api_client):
    ws = sales_workspace("quotes")
    clients = {role: api_client(ws, role) for role in ("admin", "finance", "sales_rep", "sales_manager", "director")}
    products = catalog(clients["admin"])
    vendors = price_lists(clients["finance"], products)
    set_manager(clients["admin"], "sales_rep", "sales_manager")
    rep = clients["sales_rep"]
    customer = account(rep)
    deal = opportunity(rep, customer["id"], stage="proposal", presales_owner=user_id(clients["admin"], "presales"))
    return ws, clients, products, vendors, deal


def _quote(rep, deal, products, discount=0, **values):
    """Two switches and a firewall from the catalog, a day of installation, a bundle header."""
    lines = [
        {"line_no": 1, "description": "Branch office kit"},
        {"line_no": 2, "parent_line": 1, "product": products["SW-48"]["id"], "qty": 2, "discount_pct": discount},
        {"line_no": 3, "parent_line": 1, "product": products["FW-100"]["id"], "qty": 1, "discount_pct": discount},
        {"line_no": 4, "product": products["SRV-INST"]["id"], "qty": 1},
    ]
    return create(rep, "quote", {"opportunity": deal["id"], "title": "Branch offices", "lines": lines, **values})


def test_lines_take_catalog_prices_and_vendor_costs_and_the_quote_adds_them_up(sales_workspace, api_client):
    _, clients, products, vendors, deal = _setup(sales_workspace, api_client)
    quote = _quote(clients["sales_rep"], deal, products, discount=5)
    assert quote["number"].startswith(f"Q-{today().year}-")
    assert quote["status"] == "draft"
    assert quote["account"] == deal["account"]  # from the opportunity
    assert quote["valid_until"] == day(30)
    lines = {line["line_no"]: line for line in quote["lines"]}
    switch, firewall, service = lines[2], lines[3], lines[4]
    assert switch["description"] == "48-port switch"
    assert money(switch["unit_price"]) == money("1000.00")  # the list price
    assert money(switch["unit_cost"]) == money("760.00")  # the best vendor price valid today
    assert switch["vendor"] == vendors["ingram"]["id"]
    assert firewall["vendor"] == vendors["also"]["id"]
    assert money(firewall["unit_cost"]) == money("1450.00")
    assert service["vendor"] is None and money(service["unit_cost"]) == money("450.00")  # the standard cost
    assert money(switch["line_gross"]) == money("2000.00")
    assert money(switch["line_discount"]) == money("100.00")
    assert money(switch["line_total"]) == money("1900.00")
    assert money(switch["line_margin"]) == money("380.00")
    assert money(quote["subtotal"]) == money("4900.00")  # 2000 + 2000 + 900
    assert money(quote["discount_total"]) == money("200.00")
    assert money(quote["net_total"]) == money("4700.00")
    assert money(quote["tax"]) == money("893.00")  # 19 %
    assert money(quote["total"]) == money("5593.00")
    assert money(quote["cost_total"]) == money("3420.00")  # 1520 + 1450 + 450
    assert money(quote["margin"]) == money("1280.00")
    assert money(quote["margin_pct"]) == money("27.23")
    assert money(quote["max_discount_pct"]) == money("5.00")
    assert quote["approval_level"] == "none"


def test_bundle_components_must_name_another_line(sales_workspace, api_client):
    _, clients, products, _, deal = _setup(sales_workspace, api_client)
    rep = clients["sales_rep"]
    body = {"opportunity": deal["id"], "lines": [{"line_no": 1, "parent_line": 7, "product": products["SW-48"]["id"]}]}
    reply = rep.post("/api/v1/quote", json=body)
    assert reply.status_code == 422
    assert reply.get_json()["errors"] == [
        {"field": "lines", "message": "A component's parent line must be the line number of another line of the quote."}
    ]
    body["lines"][0]["parent_line"] = 1
    reply = rep.post("/api/v1/quote", json=body)
    assert reply.status_code == 422
    assert {"field": "lines[0].parent_line", "message": "A line cannot be a component of itself."} in reply.get_json()[
        "errors"
    ]


def test_a_quote_belongs_to_the_account_of_its_deal(sales_workspace, api_client):
    _, clients, _, _, deal = _setup(sales_workspace, api_client)
    rep = clients["sales_rep"]
    other = account(rep, "Elbe Kliniken")
    reply = rep.post("/api/v1/quote", json={"opportunity": deal["id"], "account": other["id"]})
    assert reply.status_code == 422
    assert reply.get_json()["errors"][0]["field"] == "account"


def test_a_small_discount_is_approved_on_submit(sales_workspace, api_client):
    _, clients, products, _, deal = _setup(sales_workspace, api_client)
    rep = clients["sales_rep"]
    quote = _quote(rep, deal, products, discount=10)
    submitted = ok(act(rep, "quote", quote["id"], "submit"))
    assert submitted["status"] == "approved"
    assert ok(rep.get(f"/api/v1/quote/{quote['id']}/approvals"))["data"] == []


def test_a_discount_over_ten_percent_needs_the_sales_manager(sales_workspace, api_client):
    _, clients, products, _, deal = _setup(sales_workspace, api_client)
    rep, manager, director = clients["sales_rep"], clients["sales_manager"], clients["director"]
    quote = _quote(rep, deal, products, discount=15)
    assert quote["approval_level"] == "sales_manager"
    assert ok(act(rep, "quote", quote["id"], "submit"))["status"] == "pending_approval"
    steps = ok(rep.get(f"/api/v1/quote/{quote['id']}/approvals"))["data"]
    assert [(s["step"], s["state"]) for s in steps] == [
        ("manager", "pending"),
        ("sales_manager", "skipped"),
        ("director", "skipped"),
    ]
    assert steps[0]["approver"] == user_id(clients["admin"], "sales_manager")
    # locked while pending; the rep and the director cannot decide the manager's step
    assert rep.patch(f"/api/v1/quote/{quote['id']}", json={"title": "x"}).status_code == 409
    assert act(rep, "quote", quote["id"], "approve").status_code in (403, 404)
    assert act(director, "quote", quote["id"], "approve").status_code == 403
    approved = ok(act(manager, "quote", quote["id"], "approve", {"comment": "Strategic account"}))
    assert approved["status"] == "approved"
    notes = ok(rep.get("/api/v1/me/notifications"))["data"]
    assert any("approved" in n["title"] for n in notes)


def test_a_discount_over_twenty_percent_also_needs_a_director(sales_workspace, api_client):
    _, clients, products, _, deal = _setup(sales_workspace, api_client)
    rep, manager, director = clients["sales_rep"], clients["sales_manager"], clients["director"]
    quote = _quote(rep, deal, products, discount=22)
    assert quote["approval_level"] == "director"
    ok(act(rep, "quote", quote["id"], "submit"))
    assert ok(act(manager, "quote", quote["id"], "approve"))["status"] == "pending_approval"
    steps = ok(rep.get(f"/api/v1/quote/{quote['id']}/approvals"))["data"]
    assert [(s["step"], s["state"]) for s in steps] == [
        ("manager", "approved"),
        ("sales_manager", "skipped"),
        ("director", "pending"),
    ]
    assert act(manager, "quote", quote["id"], "approve").status_code == 403
    assert ok(act(director, "quote", quote["id"], "approve"))["status"] == "approved"


def test_a_thin_margin_goes_to_the_director_even_without_discount(sales_workspace, api_client):
    _, clients, products, _, deal = _setup(sales_workspace, api_client)
    rep, manager, director = clients["sales_rep"], clients["sales_manager"], clients["director"]
    # priced close to cost: 5 % margin, no discount
    body = {
        "opportunity": deal["id"],
        "lines": [{"product": products["SW-48"]["id"], "qty": 10, "unit_price": "800.00"}],
    }
    quote = create(rep, "quote", body)
    assert money(quote["margin_pct"]) == money("5.00")
    assert quote["approval_level"] == "director"
    ok(act(rep, "quote", quote["id"], "submit"))
    ok(act(manager, "quote", quote["id"], "approve"))
    rejected = ok(act(director, "quote", quote["id"], "reject", {"comment": "Margin below policy"}))
    assert rejected["status"] == "draft"  # back to the rep to rework
    states = [s["state"] for s in ok(rep.get(f"/api/v1/quote/{quote['id']}/approvals"))["data"]]
    assert states == ["approved", "skipped", "rejected"]


def test_without_a_manager_any_sales_manager_approves_and_the_rep_may_recall(sales_workspace, api_client):
    _, clients, products, _, deal = _setup(sales_workspace, api_client)
    admin, rep, manager = clients["admin"], clients["sales_rep"], clients["sales_manager"]
    # no manager, but one sales team: its sales managers see (and approve) the team's quotes
    team = create(admin, "team", {"name": "Sales North"})
    for role in ("sales_rep", "sales_manager"):
        ok(admin.patch(f"/api/v1/user/{user_id(admin, role)}", json={"teams": [team["id"]]}))
    ok(admin.patch(f"/api/v1/user/{user_id(admin, 'sales_rep')}", json={"manager": None}))
    quote = _quote(rep, deal, products, discount=12)
    ok(act(rep, "quote", quote["id"], "submit"))
    steps = ok(rep.get(f"/api/v1/quote/{quote['id']}/approvals"))["data"]
    assert [(s["step"], s["state"], s["approver_role"]) for s in steps] == [
        ("manager", "skipped", None),
        ("sales_manager", "pending", "sales_manager"),
        ("director", "skipped", None),
    ]
    assert ok(act(rep, "quote", quote["id"], "recall"))["status"] == "draft"
    ok(act(rep, "quote", quote["id"], "submit"))
    assert ok(act(manager, "quote", quote["id"], "approve"))["status"] == "approved"


def test_an_approved_quote_is_frozen_until_revised(sales_workspace, api_client):
    _, clients, products, _, deal = _setup(sales_workspace, api_client)
    rep = clients["sales_rep"]
    quote = _quote(rep, deal, products)
    ok(act(rep, "quote", quote["id"], "submit"))
    reply = rep.patch(f"/api/v1/quote/{quote['id']}", json={"lines": [{"product": products["SW-48"]["id"]}]})
    assert reply.status_code == 422
    assert reply.get_json()["errors"] == [{"field": "lines", "message": "Is read-only in this state."}]
    assert ok(act(rep, "quote", quote["id"], "revise"))["status"] == "draft"
    ok(rep.patch(f"/api/v1/quote/{quote['id']}", json={"lines": [{"product": products["SW-48"]["id"]}]}))


def test_an_accepted_quote_updates_the_deal_and_raises_purchase_orders(sales_workspace, api_client):
    _, clients, products, vendors, deal = _setup(sales_workspace, api_client)
    rep, finance = clients["sales_rep"], clients["finance"]
    quote = _quote(rep, deal, products, discount=5)
    ok(act(rep, "quote", quote["id"], "submit"))
    sent = ok(act(rep, "quote", quote["id"], "send"))
    assert sent["status"] == "sent" and sent["sent_at"]
    assert finance.get(f"/api/v1/purchase_order?quote={quote['id']}").get_json()["data"] == []
    accepted = ok(act(rep, "quote", quote["id"], "accept"))
    assert accepted["status"] == "accepted" and accepted["accepted_at"]
    won = get(rep, "opportunity", deal["id"])
    assert money(won["amount"]) == money("4700.00")  # the net total
    assert money(won["margin_pct"]) == money("27.23")
    assert (won["quote_count"], won["accepted_quote_count"]) == (1, 1)
    orders = finance.get(f"/api/v1/purchase_order?quote={quote['id']}&sort=number").get_json()["data"]
    # one draft order per vendor of the lines; the service is ours, the header has no product
    assert sorted((o["vendor"], o["status"]) for o in orders) == sorted(
        [(vendors["ingram"]["id"], "draft"), (vendors["also"]["id"], "draft")]
    )
    by_vendor = {o["vendor"]: o for o in orders}
    switch_order = by_vendor[vendors["ingram"]["id"]]
    assert switch_order["opportunity"] == deal["id"] and switch_order["account"] == deal["account"]
    assert [(line["product"], money(line["qty"]), money(line["unit_cost"])) for line in switch_order["lines"]] == [
        (products["SW-48"]["id"], money(2), money("760.00"))
    ]
    assert money(switch_order["total"]) == money("1520.00")
    # the rep who accepted owns the orders and sees them
    assert len(rep.get(f"/api/v1/purchase_order?quote={quote['id']}").get_json()["data"]) == 2


def test_a_declined_quote_is_rejected_and_may_be_revised(sales_workspace, api_client):
    _, clients, products, _, deal = _setup(sales_workspace, api_client)
    rep = clients["sales_rep"]
    quote = _quote(rep, deal, products)
    ok(act(rep, "quote", quote["id"], "submit"))
    assert act(rep, "quote", quote["id"], "accept").status_code == 409  # not sent yet
    ok(act(rep, "quote", quote["id"], "send"))
    ok(rep.patch(f"/api/v1/quote/{quote['id']}", json={"decline_reason": "Budget moved to next year"}))
    declined = ok(act(rep, "quote", quote["id"], "decline"))
    assert declined["status"] == "rejected" and declined["declined_at"]
    assert get(rep, "opportunity", deal["id"])["amount"] is None
    assert ok(act(rep, "quote", quote["id"], "revise"))["status"] == "draft"


def test_approved_and_sent_quotes_expire_overnight(sales_workspace, api_client):
    ws, clients, products, _, deal = _setup(sales_workspace, api_client)
    rep = clients["sales_rep"]
    quote = _quote(rep, deal, products, valid_until=day(2))
    ok(act(rep, "quote", quote["id"], "submit"))
    ok(act(rep, "quote", quote["id"], "send"))
    run_due(ws, dt.datetime.combine(today() + dt.timedelta(days=3), dt.time(1, 30), tzinfo=dt.UTC))
    assert get(rep, "quote", quote["id"])["status"] == "expired"


def test_reps_see_their_own_quotes_and_managers_their_teams(sales_workspace, api_client):
    ws, clients, products, _, deal = _setup(sales_workspace, api_client)
    rep = clients["sales_rep"]
    quote = _quote(rep, deal, products)
    # presales and support have no grant on quotes; finance reads them all
    for role in ("presales", "customer", "support_agent"):
        assert api_client(ws, role).get(f"/api/v1/quote/{quote['id']}").status_code == 404, role
    assert get(clients["finance"], "quote", quote["id"])["number"] == quote["number"]
    # the rep's manager sees (and may change) the quotes of their reports
    assert get(clients["sales_manager"], "quote", quote["id"])["number"] == quote["number"]
    ok(clients["sales_manager"].patch(f"/api/v1/quote/{quote['id']}", json={"title": "Reviewed"}))
    # a quote of the manager's own is not the rep's
    own = create(clients["sales_manager"], "quote", {"opportunity": None, "account": deal["account"]})
    assert rep.get(f"/api/v1/quote/{own['id']}").status_code == 404
    assert clients["finance"].patch(f"/api/v1/quote/{quote['id']}", json={"title": "x"}).status_code == 403


def test_a_quote_renders_for_the_customer_without_costs(sales_workspace, api_client):
    ws, clients, products, _, deal = _setup(sales_workspace, api_client)
    rep = clients["sales_rep"]
    quote = _quote(rep, deal, products, discount=5, terms="Net 30 days. Delivery 4-6 weeks.")
    reply = rep.get(f"/api/v1/quote/{quote['id']}/render/quote")
    assert reply.status_code == 200
    html = reply.get_data(as_text=True)
    assert f"Quote {quote['number']}" in html
    assert "Nordwind Logistik GmbH" in html
    assert "48-port switch" in html and "SW-48" in html
    assert "5,593.00 EUR" in html  # the total
    assert "760.00" not in html and "Margin" not in html  # costs and margins stay internal
    # components are listed under their bundle line
    assert html.index("Branch office kit") < html.index("48-port switch") < html.index("Installation day")
    pdf = rep.get(f"/api/v1/quote/{quote['id']}/render/quote?format=pdf")
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert quote["number"] in text and "5,593.00 EUR" in text
    assert api_client(ws, "customer").get(f"/api/v1/quote/{quote['id']}/render/quote").status_code == 404
