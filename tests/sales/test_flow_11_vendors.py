"""Flow 11 (PACKS.md): vendors price quote lines and deliver; vendor contracts are kept.
Walked through the REST API only. Delivered orders create their assets (assets pack);
contracts stored as documents come with the documents pack (issue 7): that part is skipped here.
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
    user_id,
    vendor,
)


def test_flow_11_vendors_price_quote_lines_and_deliver(sales_workspace, api_client):
    ws = sales_workspace("quotes")
    admin, finance, manager = api_client(ws, "admin"), api_client(ws, "finance"), api_client(ws, "sales_manager")
    rep = api_client(ws, "sales_rep")
    products = catalog(admin)

    # a gold partner with a reseller contract, and a registered one
    dell = vendor(finance, "TD Synnex", tier="gold", oems="Cisco, Fortinet", lead_time_days=7)
    small = vendor(finance, "Netzwerk Handel Nord", tier="registered")
    contract = create(
        finance,
        "vendor_contract",
        {
            "title": "Reseller agreement 2030",
            "vendor": dell["id"],
            "kind": "reseller",
            "status": "active",
            "start_date": day(-100),
            "end_date": day(265),
            "discount_pct": 18,
        },
    )
    assert contract["number"].startswith("VC-")
    assert ok(manager.get(f"/api/v1/vendor/{dell['id']}/related/vendor_contract"))["data"][0]["id"] == contract["id"]
    assert rep.get(f"/api/v1/vendor_contract/{contract['id']}").status_code == 404  # sales reps do not see terms

    # price lists: the cheapest valid price prices the quote line
    price(finance, dell["id"], products["SW-48"]["id"], "745.00")
    price(finance, small["id"], products["SW-48"]["id"], "770.00")
    switch = get(rep, "product", products["SW-48"]["id"])
    assert (money(switch["best_vendor_cost"]), switch["best_vendor"]) == (money("745.00"), dell["id"])
    # competitiveness: our cost against the list price, per vendor
    assert money(get(finance, "vendor", dell["id"])["avg_cost_vs_list_pct"]) == money("74.50")
    assert money(get(finance, "vendor", small["id"])["avg_cost_vs_list_pct"]) == money("77.00")

    deal = opportunity(rep, account(rep)["id"], stage="negotiation", presales_owner=user_id(admin, "presales"))
    quote = create(
        rep,
        "quote",
        {"opportunity": deal["id"], "lines": [{"product": products["SW-48"]["id"], "qty": 10, "discount_pct": 5}]},
    )
    assert quote["lines"][0]["vendor"] == dell["id"]
    assert money(quote["lines"][0]["unit_cost"]) == money("745.00")
    # the rep may buy from another vendor for this line (its price is then set by hand)
    line = {"id": quote["lines"][0]["id"], "vendor": small["id"], "unit_cost": "770.00"}
    quote = ok(rep.patch(f"/api/v1/quote/{quote['id']}", json={"lines": [line]}))
    assert money(quote["cost_total"]) == money("7700.00")
    for action in ("submit", "send", "accept"):
        ok(act(rep, "quote", quote["id"], action))

    # the vendor delivers: late this time, which shows in its on-time rate
    (order,) = ok(finance.get(f"/api/v1/purchase_order?quote={quote['id']}"))["data"]
    assert order["vendor"] == small["id"]
    ok(act(finance, "purchase_order", order["id"], "send"))
    ok(act(finance, "purchase_order", order["id"], "confirm", {"expected_delivery": day(-2)}))
    delivered = ok(act(finance, "purchase_order", order["id"], "deliver"))
    assert (delivered["delivered_at"], delivered["on_time"]) == (day(0), False)
    figures = get(finance, "vendor", small["id"])
    assert (figures["delivered_count"], money(figures["on_time_rate"])) == (1, money(0))

    # the deal is won: the order counts as a won deal for the vendor
    ok(rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"stage": "closed_won"}))
    figures = get(finance, "vendor", small["id"])
    assert figures["won_order_count"] == 1
    assert money(figures["won_value"]) == money("7700.00")


def test_flow_11_a_delivered_order_creates_its_assets(sales_workspace, api_client):
    """A delivered purchase order creates its assets (in_stock, vendor, purchase date, warranty)."""
    ws = sales_workspace("quotes", "assets")
    admin, finance, rep = api_client(ws, "admin"), api_client(ws, "finance"), api_client(ws, "sales_rep")
    lead = api_client(ws, "support_lead")
    products = catalog(admin)
    ok(admin.patch(f"/api/v1/product/{products['FW-100']['id']}", json={"warranty_months": 24}))
    synnex = vendor(finance, "TD Synnex", tier="gold")
    price(finance, synnex["id"], products["FW-100"]["id"], "1450.00")
    price(finance, synnex["id"], products["LIC-SEC"]["id"], "230.00")

    customer = account(rep)
    deal = opportunity(rep, customer["id"], stage="negotiation", presales_owner=user_id(admin, "presales"))
    lines = [{"product": products["FW-100"]["id"], "qty": 2}, {"product": products["LIC-SEC"]["id"], "qty": 2}]
    quote = create(rep, "quote", {"opportunity": deal["id"], "lines": lines})
    for action in ("submit", "send", "accept"):
        ok(act(rep, "quote", quote["id"], action))
    (order,) = ok(finance.get(f"/api/v1/purchase_order?quote={quote['id']}"))["data"]
    ok(act(finance, "purchase_order", order["id"], "send"))
    ok(act(finance, "purchase_order", order["id"], "deliver"))

    assets = ok(lead.get(f"/api/v1/asset?purchase_order={order['id']}&sort=asset_tag"))["data"]
    assert len(assets) == 2  # one per firewall; the licences are not assets
    warranty_end = f"{int(day(0)[:4]) + 2}{day(0)[4:]}"
    for asset in assets:
        assert (asset["status"], asset["vendor"], asset["account"]) == ("in_stock", synnex["id"], customer["id"])
        assert (asset["purchase_date"], asset["product"]) == (day(0), products["FW-100"]["id"])
        assert asset["warranty_end"] in (warranty_end, f"{warranty_end[:8]}28")  # 29 February has no twin
        assert money(asset["cost"]) == money("1450.00")


# Vendor contracts stored as documents (the rest of flow 11): tests/service/test_flow_09_documents.py
