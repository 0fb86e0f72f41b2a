"""UAT of the projects module (docs/uat/projects.md): a won deal opens one project, staffing
by certification, an installation deploys its asset."""

from __future__ import annotations

import pytest

from tests.sales.rest import account, act, create, day, get, listing, ok, patch, refused, user_id
from tests.service.test_projects import certified, won_deal


@pytest.mark.uat("UAT-PROJECTS-01")
def test_uat_projects_01_a_won_deal_opens_one_delivery_project(sales_workspace, api_client):
    ws = sales_workspace("projects")
    admin, manager = api_client(ws, "admin"), api_client(ws, "sales_manager")
    customer, owner = account(admin), user_id(admin, "sales_manager")
    still_open = create(
        manager,
        "opportunity",
        {"name": "Later", "account": customer["id"], "amount": 10, "expected_close": day(30), "owner": owner},
    )
    assert act(manager, "opportunity", still_open["id"], "open_project").status_code == 409

    deal = won_deal(admin, customer, owner)
    opened = ok(act(manager, "opportunity", deal["id"], "open_project", {"due_on": day(60)}))
    project = get(manager, "project", opened["project"])
    assert (project["name"], project["status"], project["account"], project["manager"], project["due_on"]) == (
        "Campus network",
        "planned",
        customer["id"],
        owner,
        day(60),
    )
    assert act(manager, "opportunity", deal["id"], "open_project").status_code == 409
    assert get(manager, "opportunity", deal["id"])["project"] == project["id"]


@pytest.mark.uat("UAT-PROJECTS-02")
def test_uat_projects_02_only_certified_engineers_are_staffed(sales_workspace, api_client):
    ws = sales_workspace("projects")
    admin, manager, lead = api_client(ws, "admin"), api_client(ws, "sales_manager"), api_client(ws, "support_lead")
    technician, agent = user_id(admin, "technician"), user_id(admin, "support_agent")
    ccnp = certified(lead, technician)
    project = create(
        manager,
        "project",
        {"name": "Secure campus", "account": account(admin)["id"], "required_certifications": [ccnp["id"]]},
    )
    task = {"project": project["id"], "title": "Configure switches"}
    assert (
        "every certification"
        in refused(manager.post("/api/v1/project_task", json={**task, "assignee": agent}))["assignee"]
    )
    assert create(manager, "project_task", {**task, "assignee": technician})["assignee"] == technician


@pytest.mark.uat("UAT-PROJECTS-03")
def test_uat_projects_03_a_finished_installation_deploys_the_asset(sales_workspace, api_client):
    ws = sales_workspace("projects")
    admin, manager, lead = api_client(ws, "admin"), api_client(ws, "sales_manager"), api_client(ws, "support_lead")
    technician, customer = user_id(admin, "technician"), account(admin)
    router = create(admin, "product", {"sku": "ISR4331", "name": "ISR 4331", "category": "hardware", "oem": "Cisco"})
    asset = create(lead, "asset", {"product": router["id"], "serial_no": "FDO1"})
    project = create(manager, "project", {"name": "Branch office", "account": customer["id"]})
    values = {"project": project["id"], "kind": "installation", "assignee": technician, "asset": asset["id"]}
    task = create(manager, "project_task", {**values, "title": "Install router"})
    create(manager, "project_task", {"project": project["id"], "title": "Handover", "kind": "handover"})

    tech = api_client(ws, "technician")
    assert [t["id"] for t in listing(tech, "project_task")] == [task["id"]]
    patch(tech, "project_task", task["id"], {"done": True})
    deployed = get(lead, "asset", asset["id"])
    assert (deployed["status"], deployed["account"], deployed["installed_by"]) == (
        "deployed",
        customer["id"],
        technician,
    )
    assert [s["trigger"] for s in listing(admin, "survey_response", related_id=asset["id"])] == ["asset_deployed"]
