"""The commerce pack's flows: an accepted quote raises an order; card payments wait for
finance's approval; pending instalments past due are flagged and alert the owner; expenses
make a campaign's cost, cost per lead and ROI, shown on the monitor dashboard and in the
cost report. Through the REST API as the demo roles, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.automation.schedules import run_due
from tests.dashboard_figures import check_figures
from tests.sales.rest import account, act, create, get, listing, money, ok, patch, set_manager


def test_an_accepted_quote_raises_an_order(sales_workspace, api_client):
    ws = sales_workspace("commerce")
    admin, rep, manager = api_client(ws, "admin"), api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    set_manager(admin, "sales_rep", "sales_manager")
    customer = account(rep)
    quote = create(
        rep,
        "quote",
        {
            "account": customer["id"],
            "title": "Wi-Fi",
            "lines": [{"description": "Access point", "qty": 4, "unit_price": 250, "unit_cost": 150}],
        },
    )
    assert ok(act(rep, "quote", quote["id"], "submit"))["status"] == "approved"
    ok(act(rep, "quote", quote["id"], "send"))
    accepted = ok(act(rep, "quote", quote["id"], "accept"))
    orders = listing(rep, "order", quote=quote["id"])
    assert len(orders) == 1
    placed = orders[0]
    assert (placed["account"], placed["source"], placed["status"], money(placed["total"])) == (
        customer["id"],
        "quote",
        "confirmed",
        money(accepted["total"]),
    )
    assert manager.get(f"/api/v1/order/{placed['id']}").status_code == 200


def test_card_payments_need_finance_approval(sales_workspace, api_client):
    ws = sales_workspace("commerce")
    rep, finance = api_client(ws, "sales_rep"), api_client(ws, "finance")
    placed = create(rep, "order", {"account": account(rep)["id"], "total": 900})
    card = create(rep, "payment", {"order": placed["id"], "amount": 900, "method": "card"})
    assert (card["status"], card["approval"]) == ("pending", "not_required")
    # not paid before the approval
    assert finance.patch(f"/api/v1/payment/{card['id']}", json={"status": "paid"}).status_code == 422
    assert ok(act(rep, "payment", card["id"], "submit"))["approval"] == "pending_approval"
    assert act(rep, "payment", card["id"], "approve").status_code == 403  # finance decides
    approved = ok(act(finance, "payment", card["id"], "approve"))
    assert (approved["approval"], approved["status"]) == ("approved", "approved")
    paid = patch(finance, "payment", card["id"], {"status": "paid"})
    assert paid["paid_on"] is not None
    assert get(rep, "order", placed["id"])["status"] == "paid"
    # a rejected card payment fails; a bank transfer needs no approval
    other = create(rep, "payment", {"order": placed["id"], "amount": 10, "method": "card"})
    ok(act(rep, "payment", other["id"], "submit"))
    rejected = ok(act(finance, "payment", other["id"], "reject", {"comment": "Card declined"}))
    assert (rejected["approval"], rejected["status"]) == ("rejected", "failed")
    transfer = create(rep, "payment", {"order": placed["id"], "amount": 10})
    assert patch(finance, "payment", transfer["id"], {"status": "paid"})["status"] == "paid"


def test_overdue_instalments_alert_the_owner(sales_workspace, api_client):
    ws = sales_workspace("commerce")
    rep, finance = api_client(ws, "sales_rep"), api_client(ws, "finance")
    placed = create(rep, "order", {"account": account(rep)["id"], "total": 1000})
    ok(
        act(
            rep,
            "order",
            placed["id"],
            "schedule_instalments",
            {"count": 2, "first_due": "2030-01-10", "every_months": 1},
        )
    )
    first, second = sorted(listing(rep, "payment", order=placed["id"]), key=lambda p: p["instalment_no"])
    assert [money(first["amount"]), money(second["amount"])] == [500, 500]
    patch(finance, "payment", second["id"], {"status": "paid", "paid_on": "2030-01-05"})
    run_due(ws, dt.datetime(2030, 1, 11, 8, tzinfo=dt.UTC))
    assert get(rep, "payment", first["id"])["overdue"] is True
    assert get(rep, "payment", second["id"])["overdue"] is False
    assert get(rep, "order", placed["id"])["overdue_count"] == 1
    notes = listing(rep, "notification")
    assert any(first["number"] in n["title"] for n in notes), notes
    # paid late: no longer overdue
    assert patch(finance, "payment", first["id"], {"status": "paid"})["overdue"] is False


def test_expenses_give_cost_per_lead_and_roi_on_the_monitor(sales_workspace, api_client):
    ws = sales_workspace("dashboards")
    ads, rep, finance = api_client(ws, "advertising_manager"), api_client(ws, "sales_rep"), api_client(ws, "finance")
    insta = create(
        ads,
        "campaign",
        {
            "name": "Instagram spring",
            "kind": "advertising",
            "channel": "instagram",
            "source": "social",
            "status": "active",
        },
    )
    fair = create(ads, "campaign", {"name": "Trade fair", "kind": "event", "source": "event", "status": "active"})
    create(ads, "expense", {"description": "Ads March", "amount": 600, "campaign": insta["id"]})
    create(
        finance, "expense", {"description": "Ads April", "amount": 400, "campaign": insta["id"], "kind": "advertising"}
    )
    create(ads, "expense", {"description": "Booth", "amount": 3000, "campaign": fair["id"], "kind": "event"})
    create(
        finance, "expense", {"description": "Travel", "amount": 120, "kind": "travel", "rep": ws_user(ads, "sales_rep")}
    )
    leads = [
        create(rep, "lead", {"last_name": f"L{i}", "email": f"l{i}@example.com", "campaign": insta["id"]})
        for i in range(4)
    ]
    create(rep, "lead", {"last_name": "Visitor", "email": "v@example.com", "campaign": fair["id"]})
    stats = get(ads, "campaign", insta["id"])
    assert (money(stats["cost"]), stats["leads"], money(stats["cost_per_lead"])) == (1000, 4, 250)
    assert get(rep, "lead", leads[0]["id"])["source"] == "social"
    # a won order of a campaign lead is the campaign's revenue
    sold = create(rep, "order", {"lead": leads[0]["id"], "total": 2500, "status": "confirmed"})
    assert sold["campaign"] == insta["id"]
    assert (money(get(ads, "campaign", insta["id"])["revenue"]), money(get(ads, "campaign", insta["id"])["roi"])) == (
        2500,
        150,
    )

    board = ok(ads.get("/api/v1/dashboards/monitor"))
    figures = {w["name"]: w for w in board["widgets"]}
    by_source = {g["key"]: money(g["value"]) for g in figures["cost_per_lead_by_source"]["series"]}
    assert (by_source["social"], by_source["event"]) == (250, 3000)
    assert money(figures["ad_spend"]["value"]) == 4000
    check_figures(ads, board)
    report = ok(finance.get("/api/v1/reports/costs_by_source"))
    assert report["rows"]


def ws_user(api: Any, role: str) -> str:
    return str(ok(api.get(f"/api/v1/user?email={role}@test.dev"))["data"][0]["id"])
