"""Flow 14 (PACKS.md): forecasting pulls from deals and quotes.

A rep works deals through the pipeline, a quote is accepted on one of them, a deal slips
into the next month, one is won and one lost; after every step the executive's forecast
(weighted pipeline by close month and category, commit versus best case) shows it. REST
API only, as the users of the demo roles.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.sales.pipeline import aggregate, lose, money, ok, patch
from tests.sales.procurement import (
    act,
    catalog,
    create,
    get,
    price_lists,
    set_manager,
    user_id,
)

OPEN = 'not (stage in ("closed_won", "closed_lost"))'


def first_of_month(months_ahead: int) -> dt.date:
    today = dt.datetime.now(dt.UTC).date().replace(day=1)
    year, month = divmod(today.month - 1 + months_ahead, 12)
    return today.replace(year=today.year + year, month=month + 1)


def forecast(executive):
    """What the forecast dashboard shows: weighted open pipeline per close month, totals per category."""
    months = aggregate(
        executive,
        "opportunity",
        {"filter": OPEN, "group_by": ["close_month"], "metrics": {"w": "sum(weighted_amount)"}},
    )
    categories = aggregate(
        executive, "opportunity", {"group_by": ["forecast_category"], "metrics": {"a": "sum(amount)"}}
    )
    by_month = {r["close_month"]: money(r["w"]) for r in months}
    by_category = {r["forecast_category"]: money(r["a"]) for r in categories}
    commit = by_category.get("closed", 0) + by_category.get("commit", 0)
    return by_month, by_category, (commit, commit + by_category.get("best_case", 0))


def test_deals_and_quotes_feed_the_forecast(sales_workspace, api_client):
    ws = sales_workspace("forecasting", "quotes")
    admin, rep, finance, executive = (api_client(ws, r) for r in ("admin", "sales_rep", "finance", "executive"))
    products = catalog(admin)
    price_lists(finance, products)
    set_manager(admin, "sales_rep", "sales_manager")
    presales = user_id(admin, "presales")
    this_month, next_month = first_of_month(0), first_of_month(1)
    close_now = (this_month + dt.timedelta(days=27)).isoformat()
    close_next = (next_month + dt.timedelta(days=14)).isoformat()

    customer = create(rep, "account", {"name": "Hafenwerk Bremen GmbH", "city": "Bremen"})
    campus = create(
        rep,
        "opportunity",
        {"name": "Campus LAN", "account": customer["id"], "amount": "40000", "expected_close": close_now},
    )
    firewall = create(
        rep,
        "opportunity",
        {"name": "Perimeter firewalls", "account": customer["id"], "amount": "10000", "expected_close": close_now},
    )
    wifi = create(
        rep,
        "opportunity",
        {"name": "Warehouse Wi-Fi", "account": customer["id"], "amount": "20000", "expected_close": close_next},
    )
    by_month, by_category, (commit, best) = forecast(executive)
    assert by_month == {this_month.isoformat(): Decimal("5000.00"), next_month.isoformat(): Decimal("2000.00")}
    assert by_category == {"pipeline": Decimal("70000")} and (commit, best) == (0, 0)

    # progress: probability and category follow the stages
    patch(rep, "opportunity", campus["id"], {"stage": "qualification"})
    patch(rep, "opportunity", campus["id"], {"stage": "solution_design", "presales_owner": presales})
    patch(rep, "opportunity", campus["id"], {"stage": "proposal"})
    patch(rep, "opportunity", firewall["id"], {"stage": "negotiation", "presales_owner": presales})
    by_month, by_category, (commit, best) = forecast(executive)
    assert by_month[this_month.isoformat()] == Decimal("32000.00")  # 40,000 x 60 % + 10,000 x 80 %
    assert by_category == {"pipeline": Decimal("20000"), "best_case": Decimal("40000"), "commit": Decimal("10000")}
    assert (commit, best) == (Decimal("10000"), Decimal("50000"))

    # a quote is accepted: its net total becomes the deal's amount, and the forecast follows
    lines = [{"product": products["SW-48"]["id"], "qty": 20}, {"product": products["SRV-INST"]["id"], "qty": 5}]
    quote = create(rep, "quote", {"opportunity": campus["id"], "title": "Campus LAN", "lines": lines})
    ok(act(rep, "quote", quote["id"], "submit"))
    ok(act(rep, "quote", quote["id"], "send"))
    ok(act(rep, "quote", quote["id"], "accept"))
    campus = get(rep, "opportunity", campus["id"])
    assert money(campus["amount"]) == Decimal("24500.00")  # 20 x 1,000 + 5 x 900
    assert money(campus["weighted_amount"]) == Decimal("14700.00")
    by_month, _, (commit, best) = forecast(executive)
    assert by_month[this_month.isoformat()] == Decimal("22700.00")
    assert best == Decimal("34500")

    # the firewall deal slips into next month; the Wi-Fi deal is lost; the campus deal is won
    patch(rep, "opportunity", firewall["id"], {"expected_close": close_next})
    lose(rep, wifi, [create(rep, "competitor", {"name": "Rival Networks AG"})["id"]], "price")
    patch(rep, "opportunity", campus["id"], {"stage": "negotiation"})
    patch(rep, "opportunity", campus["id"], {"stage": "closed_won"})
    by_month, by_category, (commit, best) = forecast(executive)
    assert by_month == {next_month.isoformat(): Decimal("8000.00")}
    assert by_category == {"closed": Decimal("24500.00"), "commit": Decimal("10000"), "omitted": Decimal("20000")}
    assert (commit, best) == (Decimal("34500.00"), Decimal("34500.00"))
    # the executive reads, never writes
    assert executive.patch(f"/api/v1/opportunity/{firewall['id']}", json={"amount": "1"}).status_code == 403
