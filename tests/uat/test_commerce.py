"""UAT of the commerce module (docs/uat/commerce.md): orders from accepted quotes,
instalments, card payment approval, overdue alerts."""

from __future__ import annotations

import datetime as dt

import pytest

from engine.automation.schedules import run_due
from tests.commerce.test_orders import order
from tests.sales.rest import account, act, create, get, listing, money, ok, patch, set_manager


@pytest.mark.uat("UAT-COMMERCE-01")
def test_uat_commerce_01_an_accepted_quote_raises_an_order(sales_workspace, api_client):
    ws = sales_workspace("commerce")
    admin, rep = api_client(ws, "admin"), api_client(ws, "sales_rep")
    set_manager(admin, "sales_rep", "sales_manager")
    customer = account(rep)
    lines = [{"description": "Access point", "qty": 4, "unit_price": 250, "unit_cost": 150}]
    quote = create(rep, "quote", {"account": customer["id"], "title": "Wi-Fi", "lines": lines})
    ok(act(rep, "quote", quote["id"], "submit"))
    ok(act(rep, "quote", quote["id"], "send"))
    accepted = ok(act(rep, "quote", quote["id"], "accept"))
    [placed] = listing(rep, "order", quote=quote["id"])
    assert (placed["account"], placed["source"], placed["status"]) == (customer["id"], "quote", "confirmed")
    assert money(placed["total"]) == money(accepted["total"])


@pytest.mark.uat("UAT-COMMERCE-02")
def test_uat_commerce_02_an_order_is_paid_by_instalments(sales_workspace, api_client):
    ws = sales_workspace("commerce")
    rep, finance = api_client(ws, "sales_rep"), api_client(ws, "finance")
    placed = order(rep, account=account(rep)["id"])
    assert (placed["status"], money(placed["total"])) == ("draft", 3600)
    body = {"count": 3, "first_due": "2030-01-15", "method": "bank_transfer"}
    assert ok(act(rep, "order", placed["id"], "schedule_instalments", body))["status"] == "confirmed"
    payments = sorted(listing(rep, "payment", order=placed["id"]), key=lambda p: p["instalment_no"])
    assert [(money(p["amount"]), p["due_on"]) for p in payments] == [
        (1200, "2030-01-15"),
        (1200, "2030-02-15"),
        (1200, "2030-03-15"),
    ]
    for payment in payments:
        patch(finance, "payment", payment["id"], {"status": "paid"})
    done = get(rep, "order", placed["id"])
    assert (done["status"], money(done["balance"])) == ("paid", 0)


@pytest.mark.uat("UAT-COMMERCE-03")
def test_uat_commerce_03_card_payments_need_finance_approval(sales_workspace, api_client):
    ws = sales_workspace("commerce")
    rep, finance = api_client(ws, "sales_rep"), api_client(ws, "finance")
    placed = create(rep, "order", {"account": account(rep)["id"], "total": 900})
    card = create(rep, "payment", {"order": placed["id"], "amount": 900, "method": "card"})
    assert finance.patch(f"/api/v1/payment/{card['id']}", json={"status": "paid"}).status_code == 422
    assert ok(act(rep, "payment", card["id"], "submit"))["approval"] == "pending_approval"
    assert act(rep, "payment", card["id"], "approve").status_code == 403
    assert ok(act(finance, "payment", card["id"], "approve"))["status"] == "approved"
    patch(finance, "payment", card["id"], {"status": "paid"})
    assert get(rep, "order", placed["id"])["status"] == "paid"


@pytest.mark.uat("UAT-COMMERCE-04")
def test_uat_commerce_04_an_overdue_instalment_alerts_the_owner(sales_workspace, api_client):
    ws = sales_workspace("commerce")
    rep = api_client(ws, "sales_rep")
    placed = create(rep, "order", {"account": account(rep)["id"], "total": 1000})
    ok(act(rep, "order", placed["id"], "schedule_instalments", {"count": 2, "first_due": "2030-01-10"}))
    first, _ = sorted(listing(rep, "payment", order=placed["id"]), key=lambda p: p["instalment_no"])
    run_due(ws, dt.datetime(2030, 1, 11, 8, tzinfo=dt.UTC))
    assert get(rep, "payment", first["id"])["overdue"] is True
    assert any(first["number"] in n["title"] for n in listing(rep, "notification"))
