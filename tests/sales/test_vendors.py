"""The vendors pack: price lists and the best valid price, purchase orders, vendor figures."""

from __future__ import annotations

import datetime as dt

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
    price,
    price_lists,
    today,
    user_id,
    vendor,
)


def test_the_best_valid_vendor_price_is_the_products_purchase_cost(sales_workspace, api_client):
    ws = sales_workspace("vendors")
    admin, finance = api_client(ws, "admin"), api_client(ws, "finance")
    products = catalog(admin)
    vendors = price_lists(finance, products)
    switch = get(admin, "product", products["SW-48"]["id"])
    assert money(switch["best_vendor_cost"]) == money("760.00")
    assert switch["best_vendor"] == vendors["ingram"]["id"]
    assert money(switch["purchase_cost"]) == money("760.00")
    # without any vendor price the standard cost applies
    service = get(admin, "product", products["SRV-INST"]["id"])
    assert service["best_vendor_cost"] is None and service["best_vendor"] is None
    assert money(service["purchase_cost"]) == money("450.00")

    # an expired and a future price do not count; a cheaper current one takes over at once
    price(finance, vendors["also"]["id"], products["SW-48"]["id"], "500.00", valid_from=-60, valid_to=-1)
    price(finance, vendors["also"]["id"], products["SW-48"]["id"], "600.00", valid_from=5)
    assert money(get(admin, "product", products["SW-48"]["id"])["best_vendor_cost"]) == money("760.00")
    cheaper = price(finance, vendors["also"]["id"], products["SW-48"]["id"], "740.00")
    switch = get(admin, "product", products["SW-48"]["id"])
    assert money(switch["best_vendor_cost"]) == money("740.00")
    assert switch["best_vendor"] == vendors["also"]["id"]
    # removing it brings the next best price back (the vendor follows overnight)
    assert finance.delete(f"/api/v1/vendor_price/{cheaper['id']}").status_code == 204
    assert money(get(admin, "product", products["SW-48"]["id"])["best_vendor_cost"]) == money("760.00")
    run_due(ws, dt.datetime.combine(today(), dt.time(0, 45), tzinfo=dt.UTC) + dt.timedelta(days=1))
    switch = get(admin, "product", products["SW-48"]["id"])
    assert switch["best_vendor"] == vendors["ingram"]["id"]


def test_prices_that_start_or_end_are_counted_overnight(sales_workspace, api_client):
    ws = sales_workspace("vendors")
    admin, finance = api_client(ws, "admin"), api_client(ws, "finance")
    products = catalog(admin)
    ingram = vendor(finance, "Ingram Micro")
    also = vendor(finance, "ALSO Deutschland")
    price(finance, ingram["id"], products["FW-100"]["id"], "1480.00", valid_to=2)
    price(finance, also["id"], products["FW-100"]["id"], "1520.00", valid_from=3)
    assert money(get(admin, "product", products["FW-100"]["id"])["best_vendor_cost"]) == money("1480.00")
    in_three_days = dt.datetime.combine(today() + dt.timedelta(days=3), dt.time(0, 0), tzinfo=dt.UTC)
    for minutes in (12, 25, 45):  # the ticks after the nightly recounts (00:10, 00:15) and the vendor check (00:20)
        run_due(ws, in_three_days + dt.timedelta(minutes=minutes))
    firewall = get(admin, "product", products["FW-100"]["id"])
    assert money(firewall["best_vendor_cost"]) == money("1520.00")
    assert firewall["best_vendor"] == also["id"]
    assert get(admin, "vendor", ingram["id"])["price_count"] == 0
    assert get(admin, "vendor", also["id"])["price_count"] == 1


def test_a_price_cannot_end_before_it_starts(sales_workspace, api_client):
    ws = sales_workspace("vendors")
    admin, finance = api_client(ws, "admin"), api_client(ws, "finance")
    products = catalog(admin)
    ingram = vendor(finance, "Ingram Micro")
    reply = finance.post(
        "/api/v1/vendor_price",
        json={
            "vendor": ingram["id"],
            "product": products["SW-48"]["id"],
            "cost": "1",
            "valid_from": day(5),
            "valid_to": day(1),
        },
    )
    assert reply.status_code == 422
    assert reply.get_json()["errors"] == [{"field": "valid_to", "message": "A price cannot end before it starts."}]


def _order(finance, vendor_id, products, **values):
    return create(
        finance,
        "purchase_order",
        {
            "vendor": vendor_id,
            "expected_delivery": day(10),
            "lines": [
                {"product": products["SW-48"]["id"], "qty": 4},
                {"description": "Rack mounting kit", "qty": 4, "unit_cost": "35.50"},
            ],
            **values,
        },
    )


def test_a_purchase_order_goes_from_draft_to_delivered(sales_workspace, api_client):
    ws = sales_workspace("vendors")
    admin, finance = api_client(ws, "admin"), api_client(ws, "finance")
    products = catalog(admin)
    vendors = price_lists(finance, products)
    order = _order(finance, vendors["ingram"]["id"], products)
    assert order["number"].startswith(f"PO-{today().year}-")
    assert order["status"] == "draft"
    # lines take the product's name and best cost unless given
    assert [(line["description"], money(line["unit_cost"]), money(line["line_total"])) for line in order["lines"]] == [
        ("48-port switch", money("760.00"), money("3040.00")),
        ("Rack mounting kit", money("35.50"), money("142.00")),
    ]
    assert money(order["total"]) == money("3182.00")
    # the status belongs to the workflow
    reply = finance.patch(f"/api/v1/purchase_order/{order['id']}", json={"status": "sent"})
    assert reply.status_code == 422
    empty = create(finance, "purchase_order", {"vendor": vendors["ingram"]["id"]})
    assert act(finance, "purchase_order", empty["id"], "send").status_code == 422
    assert ok(act(finance, "purchase_order", order["id"], "send"))["status"] == "sent"
    reply = act(finance, "purchase_order", order["id"], "confirm", {"expected_delivery": day(7)})
    assert ok(reply)["status"] == "confirmed"
    delivered = ok(act(finance, "purchase_order", order["id"], "deliver"))
    assert delivered["status"] == "delivered"
    assert delivered["delivered_at"] == day(0)
    assert delivered["on_time"] is True
    assert act(finance, "purchase_order", order["id"], "cancel").status_code == 409


def test_vendor_figures_follow_their_orders(sales_workspace, api_client):
    ws = sales_workspace("vendors")
    admin, finance = api_client(ws, "admin"), api_client(ws, "finance")
    products = catalog(admin)
    vendors = price_lists(finance, products)
    ingram = vendors["ingram"]["id"]
    late = _order(finance, ingram, products, expected_delivery=day(-3))
    punctual = _order(finance, ingram, products)
    cancelled = _order(finance, ingram, products)
    for order in (late, punctual):
        ok(act(finance, "purchase_order", order["id"], "send"))
        ok(act(finance, "purchase_order", order["id"], "deliver"))
    ok(act(finance, "purchase_order", cancelled["id"], "cancel"))
    figures = get(finance, "vendor", ingram)
    assert figures["order_count"] == 2
    assert figures["delivered_count"] == 2
    assert figures["on_time_count"] == 1
    assert money(figures["on_time_rate"]) == money("50.0")
    assert money(figures["purchased_total"]) == money("6364.00")
    # cost against list price over the vendor's valid prices: 760/1000 and 1480/2000
    assert money(figures["avg_cost_vs_list_pct"]) == money("75.00")
    assert figures["won_order_count"] == 0


def test_orders_of_won_deals_count_for_the_vendor(sales_workspace, api_client):
    ws = sales_workspace("vendors")
    admin, finance, rep = api_client(ws, "admin"), api_client(ws, "finance"), api_client(ws, "sales_rep")
    products = catalog(admin)
    vendors = price_lists(finance, products)
    deal = opportunity(rep, account(rep)["id"], stage="negotiation", presales_owner=user_id(admin, "presales"))
    order = _order(finance, vendors["also"]["id"], products, opportunity=deal["id"])
    assert order["deal_won"] is False
    assert order["account"] == deal["account"]  # the deal's customer is the ship-to account
    ok(rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"stage": "closed_won"}))
    assert get(finance, "purchase_order", order["id"])["deal_won"] is True
    figures = get(finance, "vendor", vendors["also"]["id"])
    assert figures["won_order_count"] == 1
    assert money(figures["won_value"]) == money(order["total"])


def test_who_may_see_and_change_vendors(sales_workspace, api_client):
    ws = sales_workspace("vendors")
    finance, rep, customer = (api_client(ws, r) for r in ("finance", "sales_rep", "customer"))
    ingram = vendor(finance, "Ingram Micro")
    assert ok(rep.get(f"/api/v1/vendor/{ingram['id']}"))["name"] == "Ingram Micro"
    assert rep.post("/api/v1/vendor", json={"name": "Shady Distribution"}).status_code == 403
    assert rep.patch(f"/api/v1/vendor/{ingram['id']}", json={"rating": 1}).status_code == 403
    assert customer.get(f"/api/v1/vendor/{ingram['id']}").status_code == 404
    assert customer.get("/api/v1/purchase_order").status_code == 404
    # the performance figures are the engine's
    reply = finance.patch(f"/api/v1/vendor/{ingram['id']}", json={"on_time_count": 99})
    assert reply.status_code == 422
