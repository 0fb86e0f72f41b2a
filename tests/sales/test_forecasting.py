"""The forecasting pack through the REST API: weighted pipeline by month, owner and category,
commit versus best case, the DSL deal risk rating and the account health score."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from engine.automation.schedules import run_due
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
    opportunity,
    patch,
    today,
    user_id,
)


def nightly(ws, days_ahead: int) -> None:
    """The scheduled rules as the job runner would run them ``days_ahead`` days from now, after 01:00."""
    run_due(ws, dt.datetime.combine(today() + dt.timedelta(days=days_ahead), dt.time(1, 0), dt.UTC))


def month(offset_days: int) -> str:
    return (today() + dt.timedelta(days=offset_days)).replace(day=1).isoformat()


def test_weighted_amount_follows_amount_and_probability(sales_workspace, api_client):
    ws = sales_workspace("forecasting")
    admin, rep = api_client(ws, "admin"), api_client(ws, "sales_rep")
    deal = opportunity(rep, account(rep)["id"], amount="80000", expected_close="2031-05-20")
    assert money(deal["weighted_amount"]) == Decimal("8000.00")
    assert deal["close_month"] == "2031-05-01" and deal["close_quarter"] == "2031-04-01"
    deal = advance(rep, deal, "solution_design", presales_owner=user_id(admin, "presales"))
    assert money(deal["weighted_amount"]) == Decimal("32000.00")
    deal = patch(
        rep, "opportunity", deal["id"], {"amount": "100000", "probability": 45, "expected_close": "2031-07-01"}
    )
    assert money(deal["weighted_amount"]) == Decimal("45000.00") and deal["close_quarter"] == "2031-07-01"
    deal = patch(rep, "opportunity", deal["id"], {"amount": None})
    assert money(deal["weighted_amount"]) == 0


def test_weighted_pipeline_by_month_owner_and_category_and_commit_versus_best_case(sales_workspace, api_client):
    ws = sales_workspace("forecasting")
    admin, rep, manager = api_client(ws, "admin"), api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    presales = user_id(admin, "presales")
    acc = account(rep)
    deals = [
        (rep, "100000", 10, "qualification", {}),  # 20 %: pipeline
        (rep, "50000", 40, "proposal", {"presales_owner": presales}),  # 60 %: best case
        (rep, "80000", 40, "negotiation", {"presales_owner": presales}),  # 80 %: commit
        (manager, "20000", 70, "negotiation", {"presales_owner": presales, "forecast_category": "best_case"}),
        (manager, "10000", 70, "prospecting", {}),  # 10 %: pipeline
    ]
    for api, amount, close, stage, extra in deals:
        opportunity(api, acc["id"], amount=amount, expected_close=day(close), stage=stage, **extra)
    won = opportunity(
        rep, acc["id"], amount="30000", expected_close=day(40), stage="negotiation", presales_owner=presales
    )
    advance(rep, won, "closed_won")
    lost = opportunity(rep, acc["id"], amount="60000", expected_close=day(40))
    lose(rep, lost, [competitor(rep, "Rival")["id"]])

    executive = api_client(ws, "executive")
    open_deals = 'not (stage in ("closed_won", "closed_lost"))'
    by_month = aggregate(
        executive,
        "opportunity",
        {
            "filter": open_deals,
            "group_by": ["close_month"],
            "metrics": {"weighted": "sum(weighted_amount)", "deals": "count()"},
        },
    )
    expected: dict[str, Decimal] = {}
    for _, amount, close, stage, _extra in deals:
        probability = {"prospecting": 10, "qualification": 20, "proposal": 60, "negotiation": 80}[stage]
        key = month(close)
        expected[key] = expected.get(key, Decimal(0)) + Decimal(amount) * probability / 100
    assert {r["close_month"]: money(r["weighted"]) for r in by_month} == expected

    by_owner = aggregate(
        executive,
        "opportunity",
        {"filter": open_deals, "group_by": ["owner"], "metrics": {"weighted": "sum(weighted_amount)"}},
    )
    assert {r["owner"]: money(r["weighted"]) for r in by_owner} == {
        user_id(admin, "sales_rep"): Decimal("114000"),  # 20,000 + 30,000 + 64,000
        user_id(admin, "sales_manager"): Decimal("17000"),  # 16,000 + 1,000
    }
    by_category = aggregate(
        executive,
        "opportunity",
        {"group_by": ["forecast_category"], "metrics": {"amount": "sum(amount)", "weighted": "sum(weighted_amount)"}},
    )
    totals = {r["forecast_category"]: money(r["amount"]) for r in by_category}
    assert totals == {
        "pipeline": Decimal("110000"),
        "best_case": Decimal("70000"),
        "commit": Decimal("80000"),
        "closed": Decimal("30000"),
        "omitted": Decimal("60000"),
    }
    # commit = closed + commit; best case = commit + best case (the usual roll-up of categories)
    commit = totals["closed"] + totals["commit"]
    best_case = commit + totals["best_case"]
    assert (commit, best_case) == (Decimal("110000"), Decimal("180000"))
    # a rep's forecast covers their own deals only
    mine = aggregate(rep, "opportunity", {"filter": open_deals, "metrics": {"weighted": "sum(weighted_amount)"}})
    assert money(mine[0]["weighted"]) == Decimal("114000")


def test_the_risk_rating_adds_up_its_factors(sales_workspace, api_client):
    ws = sales_workspace("forecasting")
    rep = api_client(ws, "sales_rep")
    acc = account(rep)
    deal = opportunity(rep, acc["id"], expected_close=day(30))
    assert (deal["risk_score"], deal["risk_rating"], deal["risk_reasons"]) == (0, "low", "")
    deal = patch(rep, "opportunity", deal["id"], {"competitors": [competitor(rep, "Rival")["id"]]})
    assert (deal["risk_score"], deal["risk_rating"], deal["risk_competitor"]) == (10, "low", True)
    deal = patch(rep, "opportunity", deal["id"], {"expected_close": day(-1)})
    assert (deal["risk_score"], deal["risk_rating"]) == (35, "medium")
    assert deal["risk_reasons"] == "Close date passed. Competitor present."
    deal = patch(
        rep, "opportunity", deal["id"], {"stage": "qualification", "stage_changed_at": f"{day(-45)}T00:00:00Z"}
    )
    assert deal["risk_stale"] is True and (deal["risk_score"], deal["risk_rating"]) == (55, "high")
    assert deal["days_in_stage"] == 45
    deal = patch(rep, "opportunity", deal["id"], {"expected_close": day(20)})
    assert (deal["risk_score"], deal["risk_rating"]) == (30, "medium")

    # days pass without a write: the nightly run notices the missing activity
    nightly(ws, 15)
    deal = get(rep, "opportunity", deal["id"])
    assert deal["risk_inactive"] is True and deal["risk_score"] == 55
    assert "No recent activity." in deal["risk_reasons"]
    # closed deals carry no risk
    deal = advance(rep, deal, "closed_lost", loss_reason="price")
    assert (deal["risk_score"], deal["risk_rating"], deal["risk_reasons"]) == (None, None, "")


def test_logged_activity_and_thresholds_from_the_settings(sales_workspace, api_client):
    ws = sales_workspace("forecasting")
    admin, rep = api_client(ws, "admin"), api_client(ws, "sales_rep")
    create(admin, "crm_setting", {"risk_stale_days": 5, "risk_inactive_days": 3})
    deal = opportunity(rep, account(rep)["id"], stage_changed_at=f"{day(-6)}T00:00:00Z")
    assert deal["risk_stale"] is True and deal["risk_score"] == 20
    create(
        rep,
        "activity",
        {
            "kind": "call",
            "subject": "Check-in",
            "related_entity": "opportunity",
            "related_id": deal["id"],
            "done": True,
        },
    )
    nightly(ws, 2)
    assert get(rep, "opportunity", deal["id"])["risk_inactive"] is False
    nightly(ws, 4)
    assert get(rep, "opportunity", deal["id"])["risk_inactive"] is True


def test_the_account_health_score_and_its_signals(sales_workspace, api_client):
    ws = sales_workspace("forecasting")
    admin, rep, manager = api_client(ws, "admin"), api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    presales = user_id(admin, "presales")
    acc = account(rep, relationship="customer")
    assert get(rep, "account", acc["id"])["health_score"] is None  # nothing known yet
    deal = opportunity(rep, acc["id"], amount="50000")
    health = get(rep, "account", acc["id"])
    # 50 + 10 open pipeline - 15 a customer without activity
    assert money(health["open_pipeline_value"]) == 50000 and health["health_score"] == 45
    for subject in ("Call", "Visit", "Demo"):
        create(
            rep,
            "activity",
            {"kind": "meeting", "subject": subject, "account": acc["id"], "due_at": f"{day(-2)}T10:00:00Z"},
        )
    assert get(rep, "account", acc["id"])["activities_90d"] == 3
    assert get(rep, "account", acc["id"])["health_score"] == 66  # 50 + 10 + 3 x 2
    advance(rep, deal, "negotiation", presales_owner=presales)
    advance(rep, deal, "closed_won")
    health = get(rep, "account", acc["id"])
    # won business +15, no open pipeline any more, +10 from the signal the won deal wrote
    assert money(health["won_value_12m"]) == 50000 and health["health_signal_points"] == 10
    assert health["health_score"] == 81
    signals = ok_list(rep, "account_health_signal", acc["id"])
    assert [(s["source"], s["points"], s["reason"]) for s in signals] == [
        ("deals", 10, "Won deal: Campus network refresh")
    ]
    assert signals[0]["expires_on"] == day(365)

    # a manual warning that expires: counted until its day has passed
    create(
        manager,
        "account_health_signal",
        {"account": acc["id"], "points": -40, "reason": "CIO unhappy", "expires_on": day(2)},
    )
    assert get(rep, "account", acc["id"])["health_score"] == 41
    patch(rep, "account", acc["id"], {"tags": ["at_risk"]})
    assert get(rep, "account", acc["id"])["health_score"] == 21
    nightly(ws, 5)
    health = get(rep, "account", acc["id"])
    assert health["health_signal_points"] == 10 and health["activities_90d"] == 3 and health["health_score"] == 61


def test_weak_account_health_raises_the_risk_of_the_accounts_open_deals(sales_workspace, api_client):
    ws = sales_workspace("forecasting")
    rep, manager = api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    acc = account(rep, relationship="customer")
    deal = opportunity(rep, acc["id"])
    assert get(rep, "opportunity", deal["id"])["risk_account_health"] is False  # 45 is above 40
    create(manager, "account_health_signal", {"account": acc["id"], "points": -30, "reason": "Escalation at the board"})
    assert get(rep, "account", acc["id"])["health_score"] == 15
    deal = get(rep, "opportunity", deal["id"])
    assert deal["risk_account_health"] is True and deal["risk_score"] == 20
    assert deal["risk_reasons"] == "Weak account health."


def ok_list(api, entity: str, account_id: str) -> list[dict]:
    reply = api.get(f"/api/v1/{entity}", query_string={"filter": f'account == "{account_id}"'})
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()["data"]
