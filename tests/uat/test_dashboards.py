"""UAT of the dashboards module (docs/uat/dashboards.md): home dashboards per role, own and
team figures, drill-down."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.dashboard_figures import check_figures, drill, number
from tests.sales.pipeline import ok, set_manager
from tests.sales.test_flow_07_dashboards import HOMES, _deals, _figures, _tickets


@pytest.mark.uat("UAT-DASHBOARDS-01")
def test_uat_dashboards_01_each_role_opens_on_its_home_dashboard(sales_workspace, api_client):
    ws = sales_workspace("dashboards")
    for role, home in HOMES.items():
        client = api_client(ws, role)
        listed = ok(client.get("/api/v1/dashboards"))["data"]
        assert [d["name"] for d in listed if d["home"]] == [home], role
        check_figures(client, ok(client.get(f"/api/v1/dashboards/{home}")))


@pytest.mark.uat("UAT-DASHBOARDS-02")
def test_uat_dashboards_02_a_rep_sees_their_pipeline_the_manager_the_teams(sales_workspace, api_client):
    ws = sales_workspace("dashboards")
    admin, rep, manager = api_client(ws, "admin"), api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    set_manager(admin, "sales_rep", "sales_manager")
    _deals(rep, manager, admin)
    mine = _figures(ok(rep.get("/api/v1/dashboards/my_sales")))
    assert number(mine["open_pipeline"]["value"]) == Decimal("165000")
    assert number(mine["won_this_quarter"]["value"]) == Decimal("60000")
    team = _figures(ok(manager.get("/api/v1/dashboards/sales")))
    assert number(team["open_pipeline"]["value"]) == Decimal("665000")
    assert number(team["win_rate"]["value"]) == Decimal("50")


@pytest.mark.uat("UAT-DASHBOARDS-03")
def test_uat_dashboards_03_a_figure_drills_down_to_its_records(sales_workspace, api_client):
    ws = sales_workspace("dashboards")
    rep, lead = api_client(ws, "sales_rep"), api_client(ws, "support_lead")
    _tickets(lead, rep)
    support = _figures(ok(lead.get("/api/v1/dashboards/support")))
    assert support["open_tickets"]["value"] == 3
    for key, point in {p["key"]: p for p in support["open_by_priority"]["series"]}.items():
        tickets = drill(lead, "ticket", point["filter"])
        assert len(tickets) == point["value"] and {t["priority"] for t in tickets} == {key}
