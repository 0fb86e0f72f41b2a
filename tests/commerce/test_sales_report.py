"""The commerce pack's ``sales_by_month`` report: confirmed and paid orders per month and
source with revenue and payments, for finance and not for sales reps. Through
``GET /api/v1/reports/sales_by_month`` as the demo roles, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.sales.rest import account, create, money, ok, patch


def test_sales_by_month_counts_orders_revenue_and_payments_per_month_and_source(sales_workspace, api_client):
    ws = sales_workspace("commerce")
    rep, finance = api_client(ws, "sales_rep"), api_client(ws, "finance")
    customer = account(rep)
    placed = [
        ("2030-01-10", "manual", 1000, "confirmed"),
        ("2030-01-20", "manual", 500, "confirmed"),
        ("2030-01-25", "woocommerce", 200, "confirmed"),
        ("2030-02-03", "manual", 3000, "confirmed"),
        ("2030-02-04", "manual", 9999, "draft"),  # not sold yet: not in the report
        ("2030-02-05", "manual", 8888, "cancelled"),
    ]
    orders = [
        create(
            rep,
            "order",
            {"account": customer["id"], "placed_on": day, "source": source, "total": total, "status": status},
        )
        for day, source, total, status in placed
    ]
    # the second January order is paid in full (it becomes paid), half of the February one
    for index, amount in ((1, 500), (3, 1500)):
        payment = create(
            finance, "payment", {"order": orders[index]["id"], "amount": amount, "method": "bank_transfer"}
        )
        patch(finance, "payment", payment["id"], {"status": "paid"})
    assert ok(finance.get(f"/api/v1/order/{orders[1]['id']}"))["status"] == "paid"

    report = ok(finance.get("/api/v1/reports/sales_by_month"))
    assert [c["name"] for c in report["columns"]] == ["placed_on:month", "source", "orders", "revenue", "paid"]
    figures = [
        (month, source, n, money(revenue), money(paid))
        for month, source, n, revenue, paid in (r["values"] for r in report["rows"])
    ]
    assert figures == [  # by revenue, highest first
        ("2030-02", "Manual", 1, 3000, 1500),
        ("2030-01", "Manual", 2, 1500, 500),
        ("2030-01", "WooCommerce", 1, 200, 0),
    ]
    assert not report["truncated"]
    # the figures are finance's and management's, not the sales rep's
    assert rep.get("/api/v1/reports/sales_by_month").status_code == 404  # not even listed for them
