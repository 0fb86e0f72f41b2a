"""UAT of the certifications module (docs/uat/certifications.md): exams, renewal alerts,
the skill matrix, certified staffing."""

from __future__ import annotations

import pytest

from engine.automation.schedules import run_due
from tests.sales.rest import account, aggregate, create, get, listing, refused, user_id
from tests.service.test_certifications import at, certification, utc


@pytest.mark.uat("UAT-CERTIFICATIONS-01")
def test_uat_certifications_01_a_passed_exam_grants_the_certification(sales_workspace, api_client):
    ws = sales_workspace("certifications")
    at(ws, utc(2030, 3, 1))
    lead = api_client(ws, "support_lead")
    ccnp = certification(lead)
    agent = user_id(lead, "support_agent")
    attempt = {"user": agent, "certification": ccnp["id"]}
    assert create(lead, "exam_attempt", {**attempt, "taken_on": "2030-02-10", "score": 790})["passed"] is False
    assert listing(lead, "user_certification") == []
    assert create(lead, "exam_attempt", {**attempt, "taken_on": "2030-02-28", "score": 880})["passed"] is True
    (held,) = listing(lead, "user_certification")
    assert (held["user"], held["obtained_on"], held["expires_on"], held["status"]) == (
        agent,
        "2030-02-28",
        "2032-02-28",
        "valid",
    )


@pytest.mark.uat("UAT-CERTIFICATIONS-02")
def test_uat_certifications_02_holders_are_alerted_before_expiry(sales_workspace, api_client):
    ws = sales_workspace("certifications")
    at(ws, utc(2030, 1, 10))
    lead = api_client(ws, "support_lead")
    nse = certification(lead, "Fortinet NSE 4", oem="Fortinet", level="associate", validity_months=12)
    values = {"user": user_id(lead, "technician"), "certification": nse["id"], "obtained_on": "2030-01-10"}
    held = create(lead, "user_certification", values)
    tech = api_client(ws, "technician")
    for now, alerts, status in ((utc(2030, 11, 10), 0, "valid"), (utc(2030, 11, 11), 1, "expiring")):
        at(ws, now)
        run_due(ws, now)
        assert (len(listing(tech, "notification")), get(tech, "user_certification", held["id"])["status"]) == (
            alerts,
            status,
        )
    assert listing(tech, "notification")[0]["title"] == "Certification expiring: Fortinet NSE 4 - Technician"


@pytest.mark.uat("UAT-CERTIFICATIONS-03")
def test_uat_certifications_03_the_skill_matrix(sales_workspace, api_client):
    ws = sales_workspace("certifications")
    at(ws, utc(2030, 6, 1))
    lead = api_client(ws, "support_lead")
    ccna = certification(lead, "Cisco CCNA", level="associate", validity_months=36)
    az = certification(lead, "Azure Administrator", oem="Microsoft", level="associate", validity_months=12)
    tech, agent = user_id(lead, "technician"), user_id(lead, "support_agent")
    for user, cert, obtained in ((tech, ccna, "2029-01-15"), (agent, ccna, "2030-05-01"), (agent, az, "2029-03-01")):
        create(lead, "user_certification", {"user": user, "certification": cert["id"], "obtained_on": obtained})
    body = {"group_by": ["user", "certification", "status"], "metrics": {"held": "count()"}}
    matrix = aggregate(api_client(ws, "executive"), "user_certification", body)
    assert {(r["user"], r["certification"]): r["status"] for r in matrix} == {
        (tech, ccna["id"]): "valid",
        (agent, ccna["id"]): "valid",
        (agent, az["id"]): "expired",
    }
    assert get(lead, "certification", ccna["id"])["holder_count"] == 2


@pytest.mark.uat("UAT-CERTIFICATIONS-04")
def test_uat_certifications_04_certified_technicians_get_the_work(sales_workspace, api_client):
    ws = sales_workspace("projects", "tickets")
    admin, lead, manager = api_client(ws, "admin"), api_client(ws, "support_lead"), api_client(ws, "sales_manager")
    technician, agent = user_id(admin, "technician"), user_id(admin, "support_agent")
    customer = account(admin, "Stadtwerke Süd GmbH")
    ccna = create(lead, "certification", {"oem": "Cisco", "name": "Cisco CCNA", "level": "associate"})
    create(lead, "exam_attempt", {"user": technician, "certification": ccna["id"], "score": 900, "passed": True})
    router = create(admin, "product", {"sku": "ISR4331", "name": "ISR 4331", "category": "hardware", "oem": "Cisco"})
    asset = create(lead, "asset", {"product": router["id"], "serial_no": "FDO17", "account": customer["id"]})
    ticket = create(lead, "ticket", {"subject": "Router down", "account": customer["id"], "asset": asset["id"]})
    assert ticket["assignee"] == technician
    values = {"name": "Branch rollout", "account": customer["id"], "required_certifications": [ccna["id"]]}
    project = create(manager, "project", values)
    task = {"project": project["id"], "title": "Configure routers", "assignee": agent}
    assert "assignee" in refused(manager.post("/api/v1/project_task", json=task))
    assert create(manager, "project_task", {**task, "assignee": technician})["assignee"] == technician
