"""UAT of the vendors module (docs/uat/vendors.md): best price, purchase orders, performance,
access."""

from __future__ import annotations

import pytest

from tests.sales.procurement import act, catalog, create, day, get, money, ok, price_lists, vendor


def _order(finance, vendor_id, products, **values):
    lines = [{"product": products["SW-48"]["id"], "qty": 4}]
    return create(
        finance, "purchase_order", {"vendor": vendor_id, "expected_delivery": day(10), "lines": lines, **values}
    )


@pytest.mark.uat("UAT-VENDORS-01")
def test_uat_vendors_01_the_best_current_vendor_price_is_the_purchase_cost(sales_workspace, api_client):
    ws = sales_workspace("vendors")
    admin, finance = api_client(ws, "admin"), api_client(ws, "finance")
    products = catalog(admin)
    vendors = price_lists(finance, products)
    switch = get(admin, "product", products["SW-48"]["id"])
    assert (money(switch["best_vendor_cost"]), switch["best_vendor"]) == (money("760.00"), vendors["ingram"]["id"])
    assert money(get(admin, "product", products["SRV-INST"]["id"])["purchase_cost"]) == money("450.00")


@pytest.mark.uat("UAT-VENDORS-02")
def test_uat_vendors_02_a_purchase_order_goes_from_draft_to_delivered(sales_workspace, api_client):
    ws = sales_workspace("vendors")
    admin, finance = api_client(ws, "admin"), api_client(ws, "finance")
    products = catalog(admin)
    order = _order(finance, price_lists(finance, products)["ingram"]["id"], products)
    assert (order["status"], money(order["total"])) == ("draft", money("3040.00"))
    assert ok(act(finance, "purchase_order", order["id"], "send"))["status"] == "sent"
    assert (
        ok(act(finance, "purchase_order", order["id"], "confirm", {"expected_delivery": day(7)}))["status"]
        == "confirmed"
    )
    delivered = ok(act(finance, "purchase_order", order["id"], "deliver"))
    assert (delivered["status"], delivered["delivered_at"], delivered["on_time"]) == ("delivered", day(0), True)
    assert act(finance, "purchase_order", order["id"], "cancel").status_code == 409


@pytest.mark.uat("UAT-VENDORS-03")
def test_uat_vendors_03_on_time_delivery_is_measured(sales_workspace, api_client):
    ws = sales_workspace("vendors")
    admin, finance = api_client(ws, "admin"), api_client(ws, "finance")
    products = catalog(admin)
    ingram = price_lists(finance, products)["ingram"]["id"]
    for expected in (-3, 10):
        order = _order(finance, ingram, products, expected_delivery=day(expected))
        ok(act(finance, "purchase_order", order["id"], "send"))
        ok(act(finance, "purchase_order", order["id"], "deliver"))
    figures = get(finance, "vendor", ingram)
    assert (figures["delivered_count"], figures["on_time_count"]) == (2, 1)
    assert money(figures["on_time_rate"]) == money("50.0")


@pytest.mark.uat("UAT-VENDORS-04")
def test_uat_vendors_04_sales_reads_vendors_customers_do_not(sales_workspace, api_client):
    ws = sales_workspace("vendors")
    finance, rep, customer = (api_client(ws, r) for r in ("finance", "sales_rep", "customer"))
    ingram = vendor(finance, "Ingram Micro")
    assert ok(rep.get(f"/api/v1/vendor/{ingram['id']}"))["name"] == "Ingram Micro"
    assert rep.post("/api/v1/vendor", json={"name": "Shady Distribution"}).status_code == 403
    assert customer.get(f"/api/v1/vendor/{ingram['id']}").status_code == 404
