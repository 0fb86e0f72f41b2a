"""Flow 7: dashboards show sales, support, renewals and forecast in one place.

The ``dashboards`` pack's role dashboards over real data of the sales and service packs:
each role's home dashboard, every figure equal to the aggregate API's and every drill-down
listing exactly the records counted, a sales rep seeing only their own figures while the
manager sees the team's, and the global filters narrowing every widget.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from engine.workspace import Workspace
from tests.dashboard_figures import check_figures, drill, number
from tests.sales.pipeline import account, competitor, create, day, ok, opportunity, patch, set_manager, user_id

HOMES = {"sales_rep": "my_sales", "sales_manager": "sales", "support_lead": "support", "executive": "executive"}


def _figures(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in board["widgets"]}


def _deals(rep: Any, manager: Any, admin: Any) -> None:
    presales = user_id(admin, "presales")
    customer = account(rep)["id"]
    opportunity(rep, customer, name="Campus LAN", amount="100000", stage="prospecting", expected_close=day(30))
    opportunity(rep, customer, name="SD-WAN", amount="40000", stage="qualification", expected_close=day(60))
    opportunity(
        rep,
        customer,
        name="Firewall",
        amount="25000",
        stage="proposal",
        presales_owner=presales,
        expected_close=day(20),
    )
    won = opportunity(rep, customer, name="Wi-Fi", amount="60000", stage="negotiation", presales_owner=presales)
    patch(rep, "opportunity", won["id"], {"stage": "closed_won"})
    rival = competitor(rep, "Rival Networks")["id"]
    lost = opportunity(rep, customer, name="Storage", amount="30000", stage="qualification")
    patch(rep, "opportunity", lost["id"], {"stage": "closed_lost", "loss_reason": "price", "competitors": [rival]})
    own = account(manager, "Hafen Logistik AG")["id"]
    opportunity(manager, own, name="Data centre", amount="500000", stage="qualification", expected_close=day(90))
    create(rep, "activity", {"kind": "task", "subject": "Send the SD-WAN offer", "due_at": day(2) + "T09:00:00Z"})
    create(rep, "activity", {"kind": "call", "subject": "Call about Wi-Fi", "due_at": day(1) + "T10:00:00Z"})
    create(manager, "activity", {"kind": "meeting", "subject": "Quarterly review", "due_at": day(3) + "T10:00:00Z"})


def _tickets(lead: Any, rep: Any) -> None:
    customer = account(rep, "Nordlicht Energie GmbH")["id"]
    for subject, impact, urgency in (("Core switch down", "high", "high"), ("VPN slow", "medium", "low")):
        create(lead, "ticket", {"subject": subject, "account": customer, "impact": impact, "urgency": urgency})
    create(lead, "ticket", {"subject": "Printer", "account": customer, "impact": "low", "urgency": "low"})


def test_flow_07_role_dashboards(sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any]) -> None:
    ws = sales_workspace("dashboards")
    admin = api_client(ws, "admin")
    rep, manager = api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    lead, executive = api_client(ws, "support_lead"), api_client(ws, "executive")
    set_manager(admin, "sales_rep", "sales_manager")  # the manager's team scope covers the rep
    _deals(rep, manager, admin)
    _tickets(lead, rep)

    # each role's home dashboard, and every figure of every dashboard they may open
    for role, client in (("sales_rep", rep), ("sales_manager", manager), ("support_lead", lead)):
        listed = ok(client.get("/api/v1/dashboards"))["data"]
        assert [d["name"] for d in listed if d["home"]] == [HOMES[role]], role
        for summary in listed:
            board = ok(client.get(f"/api/v1/dashboards/{summary['name']}"))
            counted = [w for w in board["widgets"] if w["entity"]]  # not the today and quote widgets
            with_data = [w for w in counted if not w.get("error") and (w["type"] in ("kpi", "table") or w["series"])]
            checked = check_figures(client, board)
            if summary["name"] != "monitor":  # its campaigns and expenses: tests/commerce/test_flows.py
                assert checked >= len(with_data) >= len(counted) - 2, (role, summary["name"])
    assert "delivery" in [d["name"] for d in ok(lead.get("/api/v1/dashboards"))["data"]]  # checked above too
    listed = ok(executive.get("/api/v1/dashboards"))["data"]
    assert [d["name"] for d in listed if d["home"]] == ["executive"]
    board = ok(executive.get("/api/v1/dashboards/executive"))
    check_figures(executive, board)

    # a sales rep sees their own pipeline, the manager the team's (their own deal too)
    mine = _figures(ok(rep.get("/api/v1/dashboards/my_sales")))
    assert number(mine["open_pipeline"]["value"]) == Decimal("165000")
    assert number(mine["won_this_quarter"]["value"]) == Decimal("60000")
    assert mine["open_activities"]["value"] == 2
    assert [(p["key"], number(p["value"])) for p in mine["pipeline_by_stage"]["series"]] == [
        ("prospecting", Decimal("100000")),
        ("qualification", Decimal("40000")),
        ("proposal", Decimal("25000")),
    ]
    assert [r["values"][0] for r in mine["next_activities"]["rows"]] == ["Call about Wi-Fi", "Send the SD-WAN offer"]
    reps_view = _figures(ok(rep.get("/api/v1/dashboards/sales")))
    team_view = _figures(ok(manager.get("/api/v1/dashboards/sales")))
    assert number(reps_view["open_pipeline"]["value"]) == Decimal("165000")
    assert number(team_view["open_pipeline"]["value"]) == Decimal("665000")
    assert len(team_view["pipeline_by_owner"]["series"]) == 2 and len(reps_view["pipeline_by_owner"]["series"]) == 1
    assert number(team_view["win_rate"]["value"]) == Decimal("50")
    assert {p["key"]: p["value"] for p in team_view["win_loss"]["series"]} == {"closed_won": 1, "closed_lost": 1}
    lost = team_view["lost_by_reason"]["series"]
    assert [(p["key"], number(p["value"])) for p in lost] == [("price", Decimal("30000"))]
    assert [r["name"] for r in drill(manager, "opportunity", lost[0]["filter"])] == ["Storage"]
    assert lost[0]["url"].startswith("/app/opportunity?filter=")

    # the global filters: the owner and the close-date range narrow every widget
    rep_id = user_id(admin, "sales_rep")
    owned = _figures(ok(manager.get("/api/v1/dashboards/sales", query_string={"owner": rep_id})))
    assert number(owned["open_pipeline"]["value"]) == Decimal("165000")
    check_figures(manager, {"name": "sales", "widgets": list(owned.values())})
    soon = _figures(ok(manager.get("/api/v1/dashboards/sales", query_string={"from": day(0), "to": day(40)})))
    assert number(soon["open_pipeline"]["value"]) == Decimal("125000")  # Campus LAN and Firewall
    check_figures(manager, {"name": "sales", "widgets": list(soon.values())})

    # support: open tickets by priority drill down to exactly those tickets
    support = _figures(ok(lead.get("/api/v1/dashboards/support")))
    assert support["open_tickets"]["value"] == 3
    by_priority = {p["key"]: p for p in support["open_by_priority"]["series"]}
    assert sum(p["value"] for p in by_priority.values()) == 3
    for key, point in by_priority.items():
        tickets = drill(lead, "ticket", point["filter"])
        assert len(tickets) == point["value"] and {t["priority"] for t in tickets} == {key}

    # a sales rep may not open what reads entities they cannot read
    assert rep.get("/api/v1/dashboards/nothing").status_code == 404
