"""The commerce pack: orders (by hand, from an accepted quote), payments in full or by
instalments, card payment approval, overdue alerts. Walked through the REST API as the demo
roles, on SQLite and PostgreSQL; scheduled rules run with ``run_due(ws, now)``."""

from __future__ import annotations

from typing import Any

from tests.sales.rest import account, act, create, get, listing, money, ok, patch


def order(api: Any, **values: Any) -> dict[str, Any]:
    lines = [{"description": "Switch 48 port", "quantity": 2, "price": 1500}, {"description": "Setup", "price": 600}]
    return create(api, "order", {"lines": lines, **values})


def test_an_order_totals_its_lines_and_is_paid_by_instalments(sales_workspace, api_client):
    ws = sales_workspace("commerce")
    rep, finance = api_client(ws, "sales_rep"), api_client(ws, "finance")
    customer = account(rep)
    placed = order(rep, account=customer["id"])
    assert (placed["status"], placed["source"], money(placed["total"]), money(placed["balance"])) == (
        "draft",
        "manual",
        3600,
        3600,
    )
    assert placed["number"].startswith("SO-")

    body = {"count": 3, "first_due": "2030-01-15", "method": "bank_transfer"}
    scheduled = ok(act(rep, "order", placed["id"], "schedule_instalments", body))
    assert scheduled["status"] == "confirmed"
    payments = sorted(listing(rep, "payment", order=placed["id"]), key=lambda p: p["instalment_no"])
    assert [(p["instalment_no"], money(p["amount"]), p["due_on"], p["status"]) for p in payments] == [
        (1, 1200, "2030-01-15", "pending"),
        (2, 1200, "2030-02-15", "pending"),
        (3, 1200, "2030-03-15", "pending"),
    ]
    # a second schedule is refused
    assert act(rep, "order", placed["id"], "schedule_instalments", {"count": 2}).status_code == 409

    for payment in payments:
        patch(finance, "payment", payment["id"], {"status": "paid"})
    done = get(rep, "order", placed["id"])
    assert (done["status"], money(done["paid_total"]), money(done["balance"])) == ("paid", 3600, 0)
    assert get(finance, "payment", payments[0]["id"])["paid_on"] is not None
