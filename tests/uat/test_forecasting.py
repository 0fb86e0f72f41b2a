"""UAT of the forecasting module (docs/uat/forecasting.md): weighted pipeline, forecast by
owner and category, deal risk, account health."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.sales.pipeline import (
    account,
    advance,
    aggregate,
    competitor,
    create,
    day,
    get,
    money,
    opportunity,
    patch,
    set_manager,
    user_id,
)
from tests.sales.test_forecasting import nightly

OPEN = 'not (stage in ("closed_won", "closed_lost"))'


@pytest.mark.uat("UAT-FORECASTING-01")
def test_uat_forecasting_01_the_weighted_amount_follows_amount_and_probability(sales_workspace, api_client):
    ws = sales_workspace("forecasting")
    admin, rep = api_client(ws, "admin"), api_client(ws, "sales_rep")
    deal = opportunity(rep, account(rep)["id"], amount="80000", expected_close="2031-05-20")
    assert (money(deal["weighted_amount"]), deal["close_month"]) == (Decimal("8000.00"), "2031-05-01")
    deal = advance(rep, deal, "solution_design", presales_owner=user_id(admin, "presales"))
    assert money(deal["weighted_amount"]) == Decimal("32000.00")
    deal = patch(rep, "opportunity", deal["id"], {"amount": "100000", "probability": 45})
    assert money(deal["weighted_amount"]) == Decimal("45000.00")


@pytest.mark.uat("UAT-FORECASTING-02")
def test_uat_forecasting_02_the_forecast_by_owner_and_each_reps_own(sales_workspace, api_client):
    ws = sales_workspace("forecasting")
    admin, rep, manager = api_client(ws, "admin"), api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    set_manager(admin, "sales_rep", "sales_manager")  # the manager's team covers the rep
    presales = user_id(admin, "presales")
    acc = account(rep)
    opportunity(rep, acc["id"], amount="100000", stage="qualification")  # 20 %
    opportunity(rep, acc["id"], amount="80000", stage="negotiation", presales_owner=presales)  # 80 %
    opportunity(manager, acc["id"], amount="10000")  # prospecting, 10 %
    body = {"filter": OPEN, "group_by": ["owner"], "metrics": {"weighted": "sum(weighted_amount)"}}
    by_owner = aggregate(api_client(ws, "executive"), "opportunity", body)
    assert {r["owner"]: money(r["weighted"]) for r in by_owner} == {
        user_id(admin, "sales_rep"): Decimal("84000"),
        user_id(admin, "sales_manager"): Decimal("1000"),
    }
    mine = aggregate(rep, "opportunity", {"filter": OPEN, "metrics": {"weighted": "sum(weighted_amount)"}})
    assert money(mine[0]["weighted"]) == Decimal("84000")
    by_category = aggregate(manager, "opportunity", {"group_by": ["forecast_category"], "metrics": {"n": "count()"}})
    assert {r["forecast_category"]: r["n"] for r in by_category} == {"pipeline": 2, "commit": 1}


@pytest.mark.uat("UAT-FORECASTING-03")
def test_uat_forecasting_03_the_deal_risk_rating_explains_itself(sales_workspace, api_client):
    ws = sales_workspace("forecasting")
    rep = api_client(ws, "sales_rep")
    deal = opportunity(rep, account(rep)["id"], expected_close=day(30))
    assert (deal["risk_score"], deal["risk_rating"]) == (0, "low")
    deal = patch(
        rep, "opportunity", deal["id"], {"competitors": [competitor(rep, "Rival")["id"]], "expected_close": day(-1)}
    )
    assert (deal["risk_score"], deal["risk_rating"]) == (35, "medium")
    assert deal["risk_reasons"] == "Close date passed. Competitor present."
    deal = patch(rep, "opportunity", deal["id"], {"expected_close": day(20)})
    nightly(ws, 15)
    deal = get(rep, "opportunity", deal["id"])
    assert deal["risk_inactive"] is True and "No recent activity." in deal["risk_reasons"]


@pytest.mark.uat("UAT-FORECASTING-04")
def test_uat_forecasting_04_weak_account_health_raises_deal_risk(sales_workspace, api_client):
    ws = sales_workspace("forecasting")
    rep, manager = api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    acc = account(rep, relationship="customer")
    deal = opportunity(rep, acc["id"])
    assert get(rep, "account", acc["id"])["health_score"] == 45
    create(manager, "account_health_signal", {"account": acc["id"], "points": -30, "reason": "Escalation at the board"})
    assert get(rep, "account", acc["id"])["health_score"] == 15
    deal = get(rep, "opportunity", deal["id"])
    assert (deal["risk_account_health"], deal["risk_reasons"]) == (True, "Weak account health.")
