"""UAT of the competitors module (docs/uat/competitors.md): the database, price benchmark,
deal tagging, loss analysis."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.sales.pipeline import account, aggregate, competitor, create, get, lose, money, ok, opportunity, product


@pytest.mark.uat("UAT-COMPETITORS-01")
def test_uat_competitors_01_a_rep_records_a_competitor_once(sales_workspace, api_client):
    ws = sales_workspace("competitors")
    rep = api_client(ws, "sales_rep")
    rival = competitor(rep, "Rival Networks AG", website="https://rival.example", strengths="Aggressive discounts")
    assert rival["active"] is True
    assert rep.post("/api/v1/competitor", json={"name": "Rival Networks AG"}).status_code == 409
    found = ok(rep.get("/api/v1/competitor", query_string={"filter": 'name ~ "rival"'}))["data"]
    assert [c["name"] for c in found] == ["Rival Networks AG"]


@pytest.mark.uat("UAT-COMPETITORS-02")
def test_uat_competitors_02_an_observed_price_is_compared_with_our_list_price(sales_workspace, api_client):
    ws = sales_workspace("competitors")
    admin, rep = api_client(ws, "admin"), api_client(ws, "sales_rep")
    switch = product(admin, "SW-48", "1000.00")
    rival = competitor(rep, "Rival Networks AG")
    seen = create(rep, "competitor_price", {"competitor": rival["id"], "product": switch["id"], "price": "850.00"})
    assert (money(seen["list_price"]), money(seen["price_gap_pct"])) == (Decimal("1000.00"), Decimal("-15.00"))


@pytest.mark.uat("UAT-COMPETITORS-03")
def test_uat_competitors_03_tagged_deals_give_win_and_loss_figures(sales_workspace, api_client):
    ws = sales_workspace("deals")
    rep = api_client(ws, "sales_rep")
    rival = competitor(rep, "Rival Networks AG")
    acc = account(rep)
    opportunity(rep, acc["id"], amount="100000", competitors=[rival["id"]])
    lost = opportunity(rep, acc["id"], amount="40000", competitors=[rival["id"]])
    assert money(get(rep, "competitor", rival["id"])["open_pipeline_value"]) == 140000
    lose(rep, lost, [rival["id"]], "price")
    figures = get(rep, "competitor", rival["id"])
    assert (figures["deals_lost"], figures["open_deals"], money(figures["lost_value"])) == (1, 1, 40000)


@pytest.mark.uat("UAT-COMPETITORS-04")
def test_uat_competitors_04_losses_by_competitor_and_reason(sales_workspace, api_client):
    ws = sales_workspace("deals")
    rep = api_client(ws, "sales_rep")
    rival, other = competitor(rep, "Rival Networks AG"), competitor(rep, "Budget IT GmbH")
    acc = account(rep)
    for amount, comps, reason in (
        ("30000", [rival], "price"),
        ("20000", [rival], "price"),
        ("15000", [other], "features"),
    ):
        lose(rep, opportunity(rep, acc["id"], amount=amount), [c["id"] for c in comps], reason)
    body = {
        "filter": 'stage == "closed_lost"',
        "group_by": ["competitors", "loss_reason"],
        "metrics": {"deals": "count()", "value": "sum(amount)"},
    }
    got = {
        (r["competitors"], r["loss_reason"]): (r["deals"], money(r["value"]))
        for r in aggregate(rep, "opportunity", body)
    }
    assert got == {(rival["id"], "price"): (2, Decimal("50000")), (other["id"], "features"): (1, Decimal("15000"))}
