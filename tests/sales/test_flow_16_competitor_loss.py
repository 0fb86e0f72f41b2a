"""Flow 16 (PACKS.md): competitors are tagged on deals, lost deals name them and a reason,
and the loss trends are analysed: lost value by competitor and reason per quarter, the
open pipeline each competitor threatens, and their prices against our list prices. REST
API only, as the users of the demo roles.
"""

from __future__ import annotations

from decimal import Decimal

from tests.sales.pipeline import (
    account,
    aggregate,
    competitor,
    create,
    day,
    get,
    money,
    ok,
    opportunity,
    patch,
    product,
    refused,
)


def test_competitors_tagged_on_lost_deals_and_the_loss_trend(sales_workspace, api_client):
    ws = sales_workspace("forecasting")
    admin, rep, manager, executive = (api_client(ws, r) for r in ("admin", "sales_rep", "sales_manager", "executive"))
    switch = product(admin, "SW-48", "1000.00")

    # the competitor database and what the market says about prices
    rival = competitor(rep, "Rival Networks AG", threat_level="high", strengths="Price")
    budget = competitor(manager, "Budget IT GmbH", threat_level="medium")
    create(
        rep,
        "competitor_price",
        {"competitor": rival["id"], "product": switch["id"], "price": "820.00", "source": "tender"},
    )
    create(rep, "competitor_price", {"competitor": budget["id"], "product": switch["id"], "price": "950.00"})

    # deals meet competitors
    acc = account(rep)
    deals = {
        name: opportunity(rep, acc["id"], name=name, amount=amount, competitors=[c["id"] for c in comps])
        for name, amount, comps in (
            ("Core switches", "60000", [rival]),
            ("Branch routers", "25000", [rival, budget]),
            ("Backup appliance", "15000", [budget]),
            ("Data centre LAN", "90000", [rival]),
        )
    }
    assert money(get(rep, "competitor", rival["id"])["open_pipeline_value"]) == Decimal("175000")

    # losing needs a reason and the competitors it was lost to
    errors = refused(
        rep.patch(
            f"/api/v1/opportunity/{deals['Core switches']['id']}", json={"stage": "closed_lost", "competitors": []}
        )
    )
    assert set(errors) == {"loss_reason", "competitors"}
    assert get(rep, "opportunity", deals["Core switches"]["id"])["stage"] == "prospecting"
    for name, reason, closed in (
        ("Core switches", "price", day(-120)),
        ("Branch routers", "price", day(0)),
        ("Backup appliance", "features", day(0)),
    ):
        patch(
            rep, "opportunity", deals[name]["id"], {"stage": "closed_lost", "loss_reason": reason, "closed_at": closed}
        )

    # the competitor record shows what we lost and what is still at stake
    figures = get(executive, "competitor", rival["id"])
    assert (figures["deals_lost"], money(figures["lost_value"])) == (2, Decimal("85000"))
    assert (figures["open_deals"], money(figures["open_pipeline_value"])) == (1, Decimal("90000"))

    # loss analysis: lost value by competitor and reason, and per quarter (the trend)
    lost = 'stage == "closed_lost"'
    by_reason = aggregate(
        executive,
        "opportunity",
        {
            "filter": lost,
            "group_by": ["competitors", "loss_reason"],
            "metrics": {"value": "sum(amount)", "deals": "count()"},
        },
    )
    assert {(r["competitors"], r["loss_reason"]): money(r["value"]) for r in by_reason} == {
        (rival["id"], "price"): Decimal("85000"),
        (budget["id"], "price"): Decimal("25000"),
        (budget["id"], "features"): Decimal("15000"),
    }
    trend = aggregate(
        executive,
        "opportunity",
        {"filter": lost, "group_by": ["closed_quarter", "competitors"], "metrics": {"value": "sum(amount)"}},
    )
    quarters = sorted({r["closed_quarter"] for r in trend})
    assert len(quarters) == 2
    assert [(r["competitors"], money(r["value"])) for r in trend if r["closed_quarter"] == quarters[0]] == [
        (rival["id"], Decimal("60000"))
    ]
    latest = {r["competitors"]: money(r["value"]) for r in trend if r["closed_quarter"] == quarters[1]}
    assert latest == {rival["id"]: Decimal("25000"), budget["id"]: Decimal("40000")}

    # future pipeline impact and the price benchmark
    impact = aggregate(
        executive,
        "opportunity",
        {
            "filter": 'not (stage in ("closed_won", "closed_lost"))',
            "group_by": ["competitors"],
            "metrics": {"open": "sum(amount)"},
        },
    )
    assert {r["competitors"]: money(r["open"]) for r in impact} == {rival["id"]: Decimal("90000")}
    bench = aggregate(
        executive, "competitor_price", {"group_by": ["competitor"], "metrics": {"gap": "avg(price_gap_pct)"}}
    )
    assert {r["competitor"]: money(r["gap"]) for r in bench} == {
        rival["id"]: Decimal("-18"),
        budget["id"]: Decimal("-5"),
    }
    assert ok(executive.post("/api/v1/competitor", json={"name": "Nope"}), 403)
