"""Flow 4 (PACKS.md): quote lines pull catalog prices and vendor costs; an accepted quote
raises purchase orders. Walked through the REST API only, each step by the role that does
it in an IT integrator: the catalog by an admin, price lists and orders by finance, the
deal and the quote by a sales rep, the discount approval by the rep's sales manager.
"""

from __future__ import annotations

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
    price,
    set_manager,
    user_id,
    vendor,
)


def test_flow_04_quote_to_purchase_orders(sales_workspace, api_client):
    ws = sales_workspace("quotes")
    admin, finance = api_client(ws, "admin"), api_client(ws, "finance")
    rep, manager = api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    set_manager(admin, "sales_rep", "sales_manager")

    # the catalog and two distributors' price lists (one price already expired)
    products = catalog(admin)
    ingram = vendor(finance, "Ingram Micro", categories=["hardware", "license"])
    also = vendor(finance, "ALSO Deutschland", categories=["hardware", "license"])
    price(finance, ingram["id"], products["SW-48"]["id"], "760.00")
    price(finance, also["id"], products["SW-48"]["id"], "700.00", valid_from=-90, valid_to=-1)
    price(finance, also["id"], products["FW-100"]["id"], "1450.00")
    price(finance, also["id"], products["LIC-SEC"]["id"], "230.00")

    # the rep's deal and quote: lines give only product, quantity and discount
    customer = account(rep)
    deal = opportunity(rep, customer["id"], stage="proposal", presales_owner=user_id(admin, "presales"))
    lines = [
        {"line_no": 1, "product": products["SW-48"]["id"], "qty": 8, "discount_pct": 12},
        {"line_no": 2, "product": products["FW-100"]["id"], "qty": 2, "discount_pct": 12},
        {"line_no": 3, "parent_line": 2, "product": products["LIC-SEC"]["id"], "qty": 2},
        {"line_no": 4, "product": products["SRV-INST"]["id"], "qty": 3},
    ]
    quote = create(rep, "quote", {"opportunity": deal["id"], "title": "Campus refresh", "lines": lines})
    by_no = {line["line_no"]: line for line in quote["lines"]}
    # list prices from the catalog; costs from the best valid vendor price, else the product's cost
    assert [money(by_no[n]["unit_price"]) for n in (1, 2, 3, 4)] == [money(p) for p in ("1000", "2000", "300", "900")]
    assert [money(by_no[n]["unit_cost"]) for n in (1, 2, 3, 4)] == [money(c) for c in ("760", "1450", "230", "450")]
    assert [by_no[n]["vendor"] for n in (1, 2, 3, 4)] == [ingram["id"], also["id"], also["id"], None]
    # 8000 + 4000 + 600 + 2700 = 15300 gross, 12 % off the first two lines
    assert money(quote["subtotal"]) == money("15300.00")
    assert money(quote["discount_total"]) == money("1440.00")
    assert money(quote["net_total"]) == money("13860.00")
    assert money(quote["cost_total"]) == money("10790.00")
    assert money(quote["margin_pct"]) == money("22.15")
    assert quote["approval_level"] == "sales_manager"

    # 12 % needs the sales manager: submit, approve, send, accept
    assert ok(act(rep, "quote", quote["id"], "submit"))["status"] == "pending_approval"
    assert act(rep, "quote", quote["id"], "send").status_code == 409  # not before the approval
    assert ok(act(manager, "quote", quote["id"], "approve"))["status"] == "approved"
    assert ok(act(rep, "quote", quote["id"], "send"))["status"] == "sent"
    assert ok(act(rep, "quote", quote["id"], "accept"))["status"] == "accepted"

    # the deal now carries the accepted price and margin
    won = get(rep, "opportunity", deal["id"])
    assert (money(won["amount"]), money(won["margin_pct"]), won["accepted_quote_count"]) == (
        money("13860.00"),
        money("22.15"),
        1,
    )

    # draft purchase orders: one per vendor with that vendor's lines, none for our own service
    orders = ok(finance.get(f"/api/v1/purchase_order?quote={quote['id']}&limit=50"))["data"]
    assert len(orders) == 2
    assert all(o["status"] == "draft" and o["opportunity"] == deal["id"] for o in orders)
    assert all(o["account"] == customer["id"] for o in orders)
    by_vendor = {o["vendor"]: o for o in orders}
    bought = {
        vendor_id: [(line["product"], money(line["qty"]), money(line["unit_cost"])) for line in order["lines"]]
        for vendor_id, order in by_vendor.items()
    }
    assert bought == {
        ingram["id"]: [(products["SW-48"]["id"], money(8), money("760.00"))],
        also["id"]: [
            (products["FW-100"]["id"], money(2), money("1450.00")),
            (products["LIC-SEC"]["id"], money(2), money("230.00")),
        ],
    }
    assert (money(by_vendor[ingram["id"]]["total"]), money(by_vendor[also["id"]]["total"])) == (
        money("6080.00"),
        money("3360.00"),
    )

    # finance places and receives them; the vendors' figures follow
    for order in orders:
        ok(act(finance, "purchase_order", order["id"], "send"))
        ok(act(finance, "purchase_order", order["id"], "confirm", {"expected_delivery": day(14)}))
        ok(act(finance, "purchase_order", order["id"], "deliver"))
    figures = get(finance, "vendor", also["id"])
    assert (figures["order_count"], figures["delivered_count"], money(figures["on_time_rate"])) == (1, 1, money(100))
    assert money(figures["purchased_total"]) == money("3360.00")

    # the accepted quote is frozen, and the customer copy is ready
    assert rep.patch(f"/api/v1/quote/{quote['id']}", json={"tax_rate": 0}).status_code == 422
    document = rep.get(f"/api/v1/quote/{quote['id']}/render/quote?format=pdf")
    assert document.status_code == 200 and document.data.startswith(b"%PDF")
