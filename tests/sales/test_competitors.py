"""The competitors pack through the REST API: the competitor database, observed prices and
the benchmark against our list price, deal tagging, win/loss figures, loss analysis and
the open pipeline each competitor threatens."""

from __future__ import annotations

from decimal import Decimal

from tests.sales.pipeline import (
    account,
    advance,
    aggregate,
    competitor,
    create,
    day,
    get,
    lose,
    money,
    ok,
    opportunity,
    patch,
    product,
    refused,
    user_id,
)


def test_the_competitor_database(sales_workspace, api_client):
    ws = sales_workspace("competitors")
    rep = api_client(ws, "sales_rep")
    rival = competitor(
        rep,
        "Rival Networks AG",
        website="https://rival.example",
        strengths="Aggressive hardware discounts",
        weaknesses="Thin service coverage outside Bavaria",
        focus=["networking", "security"],
    )
    assert rival["threat_level"] == "medium" and rival["active"] is True
    assert ok(rep.post("/api/v1/competitor", json={"name": "Rival Networks AG"}), 409)
    assert set(refused(rep.post("/api/v1/competitor", json={"website": "not a url"}))) == {"website"}
    assert set(refused(rep.post("/api/v1/competitor", json={"website": "https://x.example"}))) == {"name"}
    found = ok(rep.get("/api/v1/competitor", query_string={"filter": 'name ~ "rival"'}))["data"]
    assert [c["name"] for c in found] == ["Rival Networks AG"]


def test_observed_prices_are_benchmarked_against_our_list_price(sales_workspace, api_client):
    ws = sales_workspace("competitors")
    admin, rep = api_client(ws, "admin"), api_client(ws, "sales_rep")
    switch, firewall = product(admin, "SW-48", "1000.00"), product(admin, "FW-100", "2000.00")
    rival, other = competitor(rep, "Rival Networks AG"), competitor(rep, "Budget IT GmbH")
    seen = create(rep, "competitor_price", {"competitor": rival["id"], "product": switch["id"], "price": "850.00"})
    assert seen["observed_on"] == day(0) and seen["source"] == "customer"
    assert money(seen["list_price"]) == Decimal("1000.00")
    assert money(seen["price_gap_pct"]) == Decimal("-15.00")
    rows = [
        (rival, switch, "900.00", -40, "tender"),
        (other, switch, "780.00", -10, "price_list"),
        (other, firewall, "2100.00", -5, "web"),
    ]
    for comp, prod, price, offset, source in rows:
        create(
            rep,
            "competitor_price",
            {
                "competitor": comp["id"],
                "product": prod["id"],
                "price": price,
                "observed_on": day(offset),
                "source": source,
            },
        )
    # the benchmark: per product and competitor, the average price and gap to our list price
    bench = aggregate(
        rep,
        "competitor_price",
        {
            "group_by": ["product", "competitor"],
            "metrics": {
                "quotes": "count()",
                "avg_price": "avg(price)",
                "avg_gap": "avg(price_gap_pct)",
                "lowest": "min(price)",
            },
        },
    )
    by_key = {(r["product"], r["competitor"]): r for r in bench}
    assert by_key[(switch["id"], rival["id"])]["quotes"] == 2
    assert money(by_key[(switch["id"], rival["id"])]["avg_price"]) == Decimal("875")
    assert money(by_key[(switch["id"], rival["id"])]["avg_gap"]) == Decimal("-12.5")
    assert money(by_key[(switch["id"], other["id"])]["lowest"]) == Decimal("780")
    assert money(by_key[(firewall["id"], other["id"])]["avg_gap"]) == Decimal("5")
    # the latest observations only (a DSL filter on the date)
    recent = aggregate(
        rep,
        "competitor_price",
        {"filter": f"observed_on >= {day(-30)}", "group_by": ["competitor"], "metrics": {"n": "count()"}},
    )
    assert {r["competitor"]: r["n"] for r in recent} == {rival["id"]: 1, other["id"]: 2}
    # a price needs a competitor, a product and a price; negative prices are refused
    errors = refused(rep.post("/api/v1/competitor_price", json={"source": "tender"}))
    assert set(errors) == {"competitor", "product", "price"}
    errors = refused(
        rep.post("/api/v1/competitor_price", json={"competitor": rival["id"], "product": switch["id"], "price": "-1"})
    )
    assert set(errors) == {"price"}


def test_deal_tagging_keeps_each_competitors_win_loss_and_pipeline_figures(sales_workspace, api_client):
    ws = sales_workspace("deals")
    admin, rep = api_client(ws, "admin"), api_client(ws, "sales_rep")
    presales = user_id(admin, "presales")
    rival, other = competitor(rep, "Rival Networks AG"), competitor(rep, "Budget IT GmbH")
    acc = account(rep)
    a = opportunity(rep, acc["id"], amount="100000", competitors=[rival["id"]])
    b = opportunity(rep, acc["id"], amount="40000", competitors=[rival["id"], other["id"]])
    c = opportunity(rep, acc["id"], amount="25000")
    figures = get(rep, "competitor", rival["id"])
    assert figures["open_deals"] == 2 and money(figures["open_pipeline_value"]) == 140000
    assert figures["deals_won"] == 0 and figures["deals_lost"] == 0 and figures["win_rate_pct"] is None

    patch(rep, "opportunity", c["id"], {"competitors": [other["id"]]})  # tagging later counts too
    assert money(get(rep, "competitor", other["id"])["open_pipeline_value"]) == 65000
    patch(rep, "opportunity", b["id"], {"amount": "50000"})
    assert money(get(rep, "competitor", rival["id"])["open_pipeline_value"]) == 150000

    advance(rep, a, "negotiation", presales_owner=presales)
    advance(rep, a, "closed_won")
    lose(rep, b, [rival["id"], other["id"]], "price")
    rival_now, other_now = get(rep, "competitor", rival["id"]), get(rep, "competitor", other["id"])
    assert (rival_now["deals_won"], rival_now["deals_lost"], rival_now["open_deals"]) == (1, 1, 0)
    assert money(rival_now["won_value"]) == 100000 and money(rival_now["lost_value"]) == 50000
    assert money(rival_now["win_rate_pct"]) == 50
    assert (other_now["deals_lost"], other_now["open_deals"]) == (1, 1)
    # untagging, deleting and restoring a deal are counted at once
    patch(rep, "opportunity", c["id"], {"competitors": []})
    assert get(rep, "competitor", other["id"])["open_deals"] == 0
    ok(admin.delete(f"/api/v1/opportunity/{b['id']}"), 204)
    assert get(rep, "competitor", rival["id"])["deals_lost"] == 0
    ok(admin.post(f"/api/v1/opportunity/{b['id']}/restore"))
    assert get(rep, "competitor", rival["id"])["deals_lost"] == 1
    # the figures are read-only, and the deals that tag a competitor are its related list
    assert set(refused(rep.patch(f"/api/v1/competitor/{rival['id']}", json={"deals_lost": 0}))) == {"deals_lost"}
    related = ok(rep.get(f"/api/v1/competitor/{rival['id']}/related/opportunity.competitors"))["data"]
    assert {d["id"] for d in related} == {a["id"], b["id"]}


def test_loss_analysis_by_competitor_reason_and_quarter(sales_workspace, api_client):
    ws = sales_workspace("deals")
    rep = api_client(ws, "sales_rep")
    rival, other = competitor(rep, "Rival Networks AG"), competitor(rep, "Budget IT GmbH")
    acc = account(rep)
    losses = [
        ("30000", [rival], "price", -200),
        ("20000", [rival, other], "price", -10),
        ("15000", [other], "features", -10),
        ("5000", [rival], "relationship", 0),
    ]
    for amount, comps, reason, closed in losses:
        deal = opportunity(rep, acc["id"], amount=amount)
        patch(
            rep,
            "opportunity",
            deal["id"],
            {
                "stage": "closed_lost",
                "loss_reason": reason,
                "competitors": [c["id"] for c in comps],
                "closed_at": day(closed),
            },
        )
    opportunity(rep, acc["id"], amount="99999", competitors=[rival["id"]])  # open: not a loss
    by_competitor = aggregate(
        rep,
        "opportunity",
        {
            "filter": 'stage == "closed_lost"',
            "group_by": ["competitors", "loss_reason"],
            "metrics": {"deals": "count()", "value": "sum(amount)"},
        },
    )
    got = {(r["competitors"], r["loss_reason"]): (r["deals"], money(r["value"])) for r in by_competitor}
    assert got == {
        (rival["id"], "price"): (2, Decimal("50000")),
        (rival["id"], "relationship"): (1, Decimal("5000")),
        (other["id"], "price"): (1, Decimal("20000")),
        (other["id"], "features"): (1, Decimal("15000")),
    }
    trend = aggregate(
        rep,
        "opportunity",
        {
            "filter": 'stage == "closed_lost"',
            "group_by": ["closed_quarter", "competitors"],
            "metrics": {"value": "sum(amount)"},
        },
    )
    quarters = sorted({r["closed_quarter"] for r in trend})
    assert len(quarters) in (2, 3)  # -200 days is two or three quarters back
    first = [r for r in trend if r["closed_quarter"] == quarters[0]]
    assert [(r["competitors"], money(r["value"])) for r in first] == [(rival["id"], Decimal("30000"))]
    # pipeline impact: open value where each competitor is tagged
    impact = aggregate(
        rep,
        "opportunity",
        {
            "filter": 'not (stage in ("closed_won", "closed_lost"))',
            "group_by": ["competitors"],
            "metrics": {"open": "sum(amount)"},
        },
    )
    assert {r["competitors"]: money(r["open"]) for r in impact} == {rival["id"]: Decimal("99999")}
    # one links field per aggregate, and a clear refusal beyond that
    assert ok(rep.post("/api/v1/opportunity/aggregate", json={"group_by": ["competitors", "competitors"]}), 400)
