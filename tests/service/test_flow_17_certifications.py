"""Flow 17: ticket allocation and projects require the right OEM certifications. A ticket on
a Cisco asset goes to the technician certified for Cisco; a project requiring that
certification refuses an uncertified assignee and accepts the certified one. Through the
REST API, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.sales.rest import account, create, get, ok, patch, refused, user_id


def test_flow_17_certified_technicians_get_the_tickets_and_the_project_work(sales_workspace, api_client):
    ws = sales_workspace("projects", "tickets")
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    manager = api_client(ws, "sales_manager")
    technician, agent = user_id(admin, "technician"), user_id(admin, "support_agent")
    customer = account(admin, "Stadtwerke Süd GmbH")
    ccna = create(lead, "certification", {"oem": "Cisco", "name": "Cisco CCNA", "level": "associate"})
    # the technician passes the exam: the certification is granted
    create(lead, "exam_attempt", {"user": technician, "certification": ccna["id"], "score": 900, "passed": True})
    router = create(admin, "product", {"sku": "ISR4331", "name": "ISR 4331", "category": "hardware", "oem": "Cisco"})
    asset = create(lead, "asset", {"product": router["id"], "serial_no": "FDO17", "account": customer["id"]})

    # allocation: the certified technician gets the ticket on the Cisco asset
    ticket = create(lead, "ticket", {"subject": "Router down", "account": customer["id"], "asset": asset["id"]})
    assert ticket["assignee"] == technician

    # staffing: the project requires the CCNA
    project = create(
        manager,
        "project",
        {"name": "Branch rollout", "account": customer["id"], "required_certifications": [ccna["id"]]},
    )
    uncertified = {"project": project["id"], "title": "Configure routers", "assignee": agent}
    assert "every certification" in refused(manager.post("/api/v1/project_task", json=uncertified))["assignee"]
    task = create(manager, "project_task", {**uncertified, "assignee": technician})
    assert get(manager, "project_task", task["id"])["assignee"] == technician
    # once the agent is certified too, they may take it over
    create(lead, "user_certification", {"user": agent, "certification": ccna["id"]})
    assert patch(manager, "project_task", task["id"], {"assignee": agent})["assignee"] == agent
    assert ok(manager.get(f"/api/v1/project/{project['id']}/related/project_task"))["data"][0]["id"] == task["id"]
