"""UAT of the quotes module (docs/uat/quotes.md): pricing, approval levels, acceptance."""

from __future__ import annotations

import pytest

from tests.sales.procurement import act, get, money, ok
from tests.sales.test_quotes import _quote, _setup


@pytest.mark.uat("UAT-QUOTES-01")
def test_uat_quotes_01_lines_take_catalog_prices_and_the_best_vendor_cost(sales_workspace, api_client):
    _, clients, products, _, deal = _setup(sales_workspace, api_client)
    quote = _quote(clients["sales_rep"], deal, products, discount=5)
    lines = {line["line_no"]: line for line in quote["lines"]}
    assert money(lines[2]["unit_price"]) == money("1000.00")  # the switch's list price
    assert money(lines[2]["unit_cost"]) == money("760.00")  # the cheaper of two distributors
    assert money(lines[3]["unit_cost"]) == money("1450.00")
    assert (quote["status"], quote["account"]) == ("draft", deal["account"])
    figures = ("subtotal", "discount_total", "net_total", "tax", "total", "margin_pct")
    assert [money(quote[f]) for f in figures] == [money(v) for v in ("4900", "200", "4700", "893", "5593", "27.23")]


@pytest.mark.uat("UAT-QUOTES-02")
def test_uat_quotes_02_a_small_discount_is_approved_on_submit(sales_workspace, api_client):
    _, clients, products, _, deal = _setup(sales_workspace, api_client)
    rep = clients["sales_rep"]
    quote = _quote(rep, deal, products, discount=10)
    assert ok(act(rep, "quote", quote["id"], "submit"))["status"] == "approved"


@pytest.mark.uat("UAT-QUOTES-03")
def test_uat_quotes_03_a_discount_over_ten_percent_needs_the_manager(sales_workspace, api_client):
    _, clients, products, _, deal = _setup(sales_workspace, api_client)
    rep, manager = clients["sales_rep"], clients["sales_manager"]
    quote = _quote(rep, deal, products, discount=15)
    assert ok(act(rep, "quote", quote["id"], "submit"))["status"] == "pending_approval"
    assert rep.patch(f"/api/v1/quote/{quote['id']}", json={"title": "x"}).status_code == 409
    assert act(rep, "quote", quote["id"], "approve").status_code in (403, 404)
    approved = ok(act(manager, "quote", quote["id"], "approve", {"comment": "Strategic account"}))
    assert approved["status"] == "approved"
    assert any("approved" in n["title"] for n in ok(rep.get("/api/v1/me/notifications"))["data"])


@pytest.mark.uat("UAT-QUOTES-04")
def test_uat_quotes_04_an_accepted_quote_updates_the_deal_and_raises_orders(sales_workspace, api_client):
    _, clients, products, vendors, deal = _setup(sales_workspace, api_client)
    rep, finance = clients["sales_rep"], clients["finance"]
    quote = _quote(rep, deal, products, discount=5)
    ok(act(rep, "quote", quote["id"], "submit"))
    assert ok(act(rep, "quote", quote["id"], "send"))["status"] == "sent"
    assert ok(act(rep, "quote", quote["id"], "accept"))["status"] == "accepted"
    assert money(get(rep, "opportunity", deal["id"])["amount"]) == money("4700.00")
    orders = ok(finance.get(f"/api/v1/purchase_order?quote={quote['id']}"))["data"]
    assert sorted(o["vendor"] for o in orders) == sorted([vendors["ingram"]["id"], vendors["also"]["id"]])
    assert {o["status"] for o in orders} == {"draft"}
