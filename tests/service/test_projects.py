"""The projects pack: a won deal opens one project, staffing checks the project's required
certifications, a done installation task deploys its asset (and the CSAT survey follows),
grants. Walked through the REST API as the demo roles, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.sales.rest import account, act, create, day, get, listing, ok, patch, refused, set_manager, user_id


def won_deal(api: Any, customer: dict[str, Any], owner: str) -> dict[str, Any]:
    values = {"name": "Campus network", "account": customer["id"], "amount": 50000, "expected_close": day(10)}
    deal = create(api, "opportunity", {**values, "owner": owner, "presales_owner": user_id(api, "presales")})
    return patch(api, "opportunity", deal["id"], {"stage": "closed_won"})


def certified(lead: Any, user: str, name: str = "Cisco CCNP Enterprise") -> dict[str, Any]:
    cert = create(lead, "certification", {"oem": "Cisco", "name": name, "level": "professional"})
    create(lead, "user_certification", {"user": user, "certification": cert["id"]})
    return cert


def test_a_won_deal_opens_one_project_for_its_account_with_the_owner_as_manager(sales_workspace, api_client):
    ws = sales_workspace("projects")
    admin, manager = api_client(ws, "admin"), api_client(ws, "sales_manager")
    customer = account(admin)
    rep = user_id(admin, "sales_rep")
    set_manager(admin, "sales_rep", "sales_manager")  # the manager sees the rep's deals
    deal = won_deal(admin, customer, rep)
    open_deal = create(
        admin,
        "opportunity",
        {"name": "Later", "account": customer["id"], "amount": 10, "expected_close": day(30), "owner": rep},
    )
    assert act(manager, "opportunity", open_deal["id"], "open_project").status_code == 409
    # a sales rep may not open projects
    assert act(api_client(ws, "sales_rep"), "opportunity", deal["id"], "open_project").status_code == 403

    after = ok(act(manager, "opportunity", deal["id"], "open_project", {"due_on": day(60)}))
    project = get(manager, "project", after["project"])
    assert (project["name"], project["account"], project["opportunity"], project["manager"]) == (
        "Campus network",
        customer["id"],
        deal["id"],
        rep,
    )
    assert (project["status"], project["due_on"]) == ("planned", day(60))
    # a second project for the same deal is refused
    second = act(manager, "opportunity", deal["id"], "open_project")
    assert second.status_code == 409
    assert "only one" in second.get_json()["detail"]
    assert [p["id"] for p in listing(manager, "project", opportunity=deal["id"])] == [project["id"]]


def test_staffing_needs_a_valid_required_certification(sales_workspace, api_client):
    ws = sales_workspace("projects")
    admin, manager, lead = api_client(ws, "admin"), api_client(ws, "sales_manager"), api_client(ws, "support_lead")
    technician, agent = user_id(admin, "technician"), user_id(admin, "support_agent")
    ccnp = certified(lead, technician)
    project = create(manager, "project", {"name": "Rollout", "account": account(admin)["id"]})
    # no required certification: anyone may work on it
    free = create(manager, "project_task", {"project": project["id"], "title": "Kick-off", "assignee": agent})
    patch(manager, "project", project["id"], {"required_certifications": [ccnp["id"]]})

    errors = refused(
        manager.post("/api/v1/project_task", json={"project": project["id"], "title": "Configure", "assignee": agent})
    )
    assert "every certification" in errors["assignee"]
    task = create(manager, "project_task", {"project": project["id"], "title": "Configure", "assignee": technician})
    assert task["assignee"] == technician
    # reassigning to someone uncertified is refused, the task keeps its assignee
    assert "assignee" in refused(manager.patch(f"/api/v1/project_task/{task['id']}", json={"assignee": agent}))
    assert get(manager, "project_task", task["id"])["assignee"] == technician
    # other changes of a staffed task still go through
    assert patch(manager, "project_task", task["id"], {"hours": 6})["hours"] in ("6", 6, "6.0")
    assert get(manager, "project_task", free["id"])["assignee"] == agent


def test_staffing_needs_every_required_certification_each_valid(sales_workspace, api_client):
    ws = sales_workspace("projects")
    admin, manager, lead = api_client(ws, "admin"), api_client(ws, "sales_manager"), api_client(ws, "support_lead")
    technician = user_id(admin, "technician")
    ccnp = certified(lead, technician)
    nse4 = create(
        lead,
        "certification",
        {"oem": "Fortinet", "name": "Fortinet NSE 4", "level": "associate", "validity_months": 24},
    )
    project = create(
        manager,
        "project",
        {"name": "Secure campus", "account": account(admin)["id"], "required_certifications": [ccnp["id"], nse4["id"]]},
    )
    task = {"project": project["id"], "title": "Firewall and switches", "assignee": technician}
    # one of the two is not enough
    assert "every certification" in refused(manager.post("/api/v1/project_task", json=task))["assignee"]
    # an expired certification counts as missing
    held = create(
        lead, "user_certification", {"user": technician, "certification": nse4["id"], "obtained_on": day(-900)}
    )
    assert held["status"] == "expired"
    assert "every certification" in refused(manager.post("/api/v1/project_task", json=task))["assignee"]
    # renewed: both held and valid, the technician is staffed
    patch(lead, "user_certification", held["id"], {"obtained_on": day(-10)})
    assert create(manager, "project_task", task)["assignee"] == technician


def test_a_done_installation_task_deploys_its_asset(sales_workspace, api_client):
    ws = sales_workspace("projects")
    admin, manager, lead = api_client(ws, "admin"), api_client(ws, "sales_manager"), api_client(ws, "support_lead")
    technician = user_id(admin, "technician")
    customer = account(admin)
    router = create(
        admin, "product", {"sku": "ISR4331", "name": "ISR 4331 router", "category": "hardware", "oem": "Cisco"}
    )
    asset = create(lead, "asset", {"product": router["id"], "serial_no": "FDO1"})
    project = create(manager, "project", {"name": "Branch", "account": customer["id"]})
    task = create(
        manager,
        "project_task",
        {
            "project": project["id"],
            "title": "Install router",
            "kind": "installation",
            "assignee": technician,
            "asset": asset["id"],
        },
    )
    # the technician sees their task and marks it done; the other fields stay read-only for them
    tech = api_client(ws, "technician")
    assert [t["id"] for t in listing(tech, "project_task")] == [task["id"]]
    assert tech.patch(f"/api/v1/project_task/{task['id']}", json={"hours": 3}).status_code == 422
    assert patch(tech, "project_task", task["id"], {"done": True})["done"] is True

    installed = get(lead, "asset", asset["id"])
    assert (installed["status"], installed["installed_by"], installed["account"]) == (
        "deployed",
        technician,
        customer["id"],
    )
    assert installed["installed_at"] and installed["project_task"] == task["id"]
    # the amc pack asks for feedback after the deployment
    (survey,) = listing(admin, "survey_response", related_id=asset["id"])
    assert survey["trigger"] == "asset_deployed"
    # only installation tasks take an asset
    bad = {"project": project["id"], "title": "Train", "kind": "training", "asset": asset["id"]}
    assert "asset" in refused(manager.post("/api/v1/project_task", json=bad))


def test_grants(sales_workspace, api_client):
    ws = sales_workspace("projects")
    admin = api_client(ws, "admin")
    customer = account(admin)
    assert (
        api_client(ws, "sales_rep").post("/api/v1/project", json={"name": "x", "account": customer["id"]}).status_code
        == 403
    )
    project = create(api_client(ws, "sales_manager"), "project", {"name": "Ok", "account": customer["id"]})
    other = create(admin, "project_task", {"project": project["id"], "title": "Not theirs"})
    tech = api_client(ws, "technician")
    assert tech.get(f"/api/v1/project_task/{other['id']}").status_code == 404
    assert tech.post("/api/v1/project_task", json={"project": project["id"], "title": "x"}).status_code == 403
