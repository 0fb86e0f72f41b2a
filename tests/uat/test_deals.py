"""UAT of the deals module (docs/uat/deals.md): stages, probability, presales, visibility."""

from __future__ import annotations

import pytest

from tests.sales.pipeline import account, advance, competitor, listing, lose, money, opportunity, patch, user_id


@pytest.mark.uat("UAT-DEALS-01")
def test_uat_deals_01_a_new_deal_starts_in_prospecting_at_ten_percent(sales_workspace, api_client):
    ws = sales_workspace("deals")
    rep = api_client(ws, "sales_rep")
    deal = opportunity(rep, account(rep)["id"])
    assert (deal["stage"], money(deal["probability"]), deal["forecast_category"]) == ("prospecting", 10, "pipeline")
    assert deal["owner"] == user_id(rep, "sales_rep")


@pytest.mark.uat("UAT-DEALS-02")
def test_uat_deals_02_solution_design_needs_a_presales_owner(sales_workspace, api_client):
    ws = sales_workspace("deals")
    rep, presales = api_client(ws, "sales_rep"), api_client(ws, "presales")
    deal = advance(rep, opportunity(rep, account(rep)["id"]), "qualification")
    assert money(deal["probability"]) == 20
    refused = rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"stage": "solution_design"})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.get_json()["errors"]] == ["presales_owner"]
    moved = advance(rep, deal, "solution_design", presales_owner=user_id(rep, "presales"))
    assert (moved["stage"], money(moved["probability"])) == ("solution_design", 40)
    assert presales.get(f"/api/v1/opportunity/{deal['id']}").status_code == 200


@pytest.mark.uat("UAT-DEALS-03")
def test_uat_deals_03_a_lost_deal_records_reason_and_competitor(sales_workspace, api_client):
    ws = sales_workspace("deals")
    rep = api_client(ws, "sales_rep")
    deal = opportunity(rep, account(rep)["id"])
    no_reason = rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"stage": "closed_lost"})
    assert no_reason.status_code == 422
    rival = competitor(rep, "Rival Systems")
    lost = lose(rep, deal, [rival["id"]], "price")
    assert (lost["stage"], money(lost["probability"]), lost["loss_reason"]) == ("closed_lost", 0, "price")
    assert lost["competitors"] == [rival["id"]]


@pytest.mark.uat("UAT-DEALS-04")
def test_uat_deals_04_reps_see_their_own_deals_managers_all(sales_workspace, api_client):
    ws = sales_workspace("deals")
    rep, manager = api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    customer = account(manager)
    mine = opportunity(rep, customer["id"], name="Mine")
    other = opportunity(manager, customer["id"], name="Other")
    assert [d["id"] for d in listing(rep, "opportunity")] == [mine["id"]]
    assert rep.get(f"/api/v1/opportunity/{other['id']}").status_code == 404
    assert money(patch(rep, "opportunity", mine["id"], {"amount": "120000"})["amount"]) == 120000
