"""Flow 2 (PACKS.md): opportunity progress feeds the pipeline forecast; presales effort
logs roll up to the deal. REST API only, as the users of the demo roles.
"""

from __future__ import annotations

from decimal import Decimal

from tests.sales.pipeline import account, aggregate, day, get, listing, money, opportunity, patch, refused, user_id


def pipeline(api):
    rows = aggregate(
        api,
        "opportunity",
        {
            "group_by": ["stage"],
            "metrics": {"deals": "count()", "amount": "sum(amount)", "weighted": "sum(weighted_amount)"},
        },
    )
    return {r["stage"]: (r["deals"], money(r["amount"]), money(r["weighted"])) for r in rows}


def test_opportunity_progress_feeds_the_pipeline_forecast(sales_workspace, api_client):
    ws = sales_workspace("forecasting")
    admin, rep, manager, presales = (api_client(ws, r) for r in ("admin", "sales_rep", "sales_manager", "presales"))
    acc = account(rep)
    deal = opportunity(rep, acc["id"], name="SD-WAN rollout", amount="120000")
    other = opportunity(manager, acc["id"], name="Managed firewall", amount="30000")
    assert pipeline(admin) == {"prospecting": (2, Decimal("150000"), Decimal("15000"))}

    patch(rep, "opportunity", deal["id"], {"stage": "qualification"})
    # presales joins at solution design: the deal refuses the stage without a presales owner
    assert set(refused(rep.patch(f"/api/v1/opportunity/{deal['id']}", json={"stage": "solution_design"}))) == {
        "presales_owner"
    }
    assert presales.get(f"/api/v1/opportunity/{deal['id']}").status_code == 404
    patch(rep, "opportunity", deal["id"], {"stage": "solution_design", "presales_owner": user_id(admin, "presales")})
    assert get(presales, "opportunity", deal["id"])["stage"] == "solution_design"  # now they see it
    assert pipeline(admin) == {
        "prospecting": (1, Decimal("30000"), Decimal("3000")),
        "solution_design": (1, Decimal("120000"), Decimal("48000")),
    }
    patch(rep, "opportunity", deal["id"], {"stage": "proposal", "amount": "110000"})
    patch(rep, "opportunity", deal["id"], {"stage": "negotiation"})
    assert pipeline(admin)["negotiation"] == (1, Decimal("110000"), Decimal("88000"))
    assert get(rep, "opportunity", deal["id"])["forecast_category"] == "commit"

    patch(rep, "opportunity", deal["id"], {"stage": "closed_won"})
    assert pipeline(admin) == {
        "prospecting": (1, Decimal("30000"), Decimal("3000")),
        "closed_won": (1, Decimal("110000"), Decimal("110000")),
    }
    history = listing(rep, "stage_history", filter=f'opportunity == "{deal["id"]}"', sort="changed_at")
    assert [h["to_stage"] for h in history] == [
        "prospecting",
        "qualification",
        "solution_design",
        "proposal",
        "negotiation",
        "closed_won",
    ]
    # the rep's own pipeline leaves out the manager's deal
    assert pipeline(rep) == {"closed_won": (1, Decimal("110000"), Decimal("110000"))}
    assert other["id"] not in {d["id"] for d in listing(rep, "opportunity")}


def test_presales_effort_logs_roll_up_to_the_deal(sales_workspace, api_client):
    ws = sales_workspace("presales")
    admin, rep, presales = (api_client(ws, r) for r in ("admin", "sales_rep", "presales"))
    deal = opportunity(rep, account(rep)["id"], stage="solution_design", presales_owner=user_id(admin, "presales"))
    logged = []
    for hours in ("4", "2.5"):
        reply = presales.post(
            "/api/v1/effort_log",
            json={"opportunity": deal["id"], "date": "2026-03-02", "hours": hours, "activity": "solution_design"},
        )
        assert reply.status_code == 201, reply.get_json()
        logged.append(reply.get_json())
    assert money(get(rep, "opportunity", deal["id"])["total_effort_hours"]) == Decimal("6.5")

    # a demo the next week, a correction and a log moved to another deal: the totals follow
    demo = presales.post(
        "/api/v1/effort_log", json={"opportunity": deal["id"], "date": day(-1), "hours": "3", "activity": "demo"}
    )
    assert demo.status_code == 201, demo.get_json()
    patch(presales, "effort_log", logged[0]["id"], {"hours": "5"})
    assert money(get(rep, "opportunity", deal["id"])["total_effort_hours"]) == Decimal("10.5")
    other = opportunity(rep, deal["account"], name="Managed firewall", presales_owner=user_id(admin, "presales"))
    patch(presales, "effort_log", logged[1]["id"], {"opportunity": other["id"]})
    assert money(get(rep, "opportunity", deal["id"])["total_effort_hours"]) == Decimal("8")
    assert money(get(rep, "opportunity", other["id"])["total_effort_hours"]) == Decimal("2.5")
    assert presales.delete(f"/api/v1/effort_log/{demo.get_json()['id']}").status_code == 204
    assert money(get(rep, "opportunity", deal["id"])["total_effort_hours"]) == Decimal("5")

    # the effort by activity across the pipeline, and the deal's own logs as the rep sees them
    by_activity = aggregate(
        admin, "effort_log", {"group_by": ["activity"], "metrics": {"hours": "sum(hours)", "logs": "count()"}}
    )
    assert {r["activity"]: (money(r["hours"]), r["logs"]) for r in by_activity} == {
        "solution_design": (Decimal("7.5"), 2)
    }
    rows = rep.get(f"/api/v1/opportunity/{deal['id']}/related/effort_log.opportunity").get_json()["data"]
    assert [money(r["hours"]) for r in rows] == [Decimal("5")]
