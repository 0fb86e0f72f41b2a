"""Flow 12 (PACKS.md): feedback after AMC renewal, asset deployment and ticket closure.
The survey goes out after its delay; the customer answers from the e-mailed link without
signing in, once; a low score escalates to the account owner.

REST API as the demo roles, on SQLite and PostgreSQL, with the workspace clock. The
triggers live in the packs that own the events: renewal and deployment in the amc pack,
closure in the tickets pack (the surveys pack depends on core only).
"""

from __future__ import annotations

from tests.sales.rest import account, act, create, get, listing, ok, user_id
from tests.service.feedback import anonymous, at, emails, reply_link, surveys, tick, utc


def test_flow_12_feedback_after_renewal_and_deployment(sales_workspace, api_client):
    ws = sales_workspace("amc")
    at(ws, utc(2030, 6, 1))
    admin, rep, manager = api_client(ws, "admin"), api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    lead = api_client(ws, "support_lead")
    surveys(lead)
    customer = account(admin, "Klinikum Nord gGmbH", owner=user_id(admin, "sales_rep"))
    buyer, site = (
        create(rep, "contact", {"first_name": f, "last_name": "Nord", "email": e, "account": customer["id"]})
        for f, e in (("Ute", "ute@klinikum.test"), ("Kai", "kai@klinikum.test"))
    )

    # AMC renewal: an NPS survey to the contract's contact
    amc = create(
        rep,
        "amc_contract",
        {"account": customer["id"], "contact": buyer["id"], "start_date": "2029-07-01", "value": 9000},
    )
    ok(act(manager, "amc_contract", amc["id"], "activate"))
    ok(act(rep, "amc_contract", amc["id"], "renew"))

    # asset deployment: a CSAT survey to the site contact
    switch = create(admin, "product", {"sku": "SW-1", "name": "Core switch", "category": "hardware", "oem": "Cisco"})
    asset = create(lead, "asset", {"product": switch["id"], "account": customer["id"], "site_contact": site["id"]})
    installed = {"installed_by": user_id(admin, "technician"), "installed_at": "2030-06-01T10:00:00Z"}
    ok(act(lead, "asset", asset["id"], "deploy", installed))
    ok(act(lead, "asset", asset["id"], "send_to_repair"))
    ok(act(lead, "asset", asset["id"], "deploy"))  # deployed again: still one survey per asset

    sent = listing(lead, "survey_response", sort="trigger")
    assert [(s["trigger"], s["kind"], s["contact"], s["status"]) for s in sent] == [
        ("amc_renewed", "nps", buyer["id"], "pending"),
        ("asset_deployed", "csat", site["id"], "pending"),
    ]
    renewal_survey, deployment_survey = sent

    # CSAT waits one day, NPS three
    tick(ws, utc(2030, 6, 2, 9))
    assert [m["To"] for m in emails(ws)] == ["kai@klinikum.test"]
    tick(ws, utc(2030, 6, 4, 9))
    [nps_mail] = emails(ws, to="ute@klinikum.test")
    [csat_mail] = emails(ws, to="kai@klinikum.test")

    # answers come from the links, without login, once
    web = anonymous(ws)
    ok(web.post(reply_link(csat_mail), json={"score": 5, "comment": "Clean installation"}))
    assert web.post(reply_link(csat_mail), json={"score": 1}).status_code == 409
    happy = get(lead, "survey_response", deployment_survey["id"])
    assert (happy["status"], happy["score"], happy["low_score"]) == ("responded", 5, False)

    # a detractor: the account owner gets a task and a notification
    ok(web.post(reply_link(nps_mail), json={"score": 4, "comment": "Too expensive for what we get"}))
    unhappy = get(lead, "survey_response", renewal_survey["id"])
    assert (unhappy["score"], unhappy["low_score"], unhappy["nps_group"]) == (4, True, "detractor")
    [task] = listing(rep, "activity", related_id=renewal_survey["id"])
    assert (task["kind"], task["owner"], task["body"]) == (
        "task",
        user_id(admin, "sales_rep"),
        "Too expensive for what we get",
    )
    assert any("Low survey score (4)" in n["title"] for n in ok(rep.get("/api/v1/me/notifications"))["data"])
    assert listing(rep, "activity", related_id=deployment_survey["id"]) == []  # no escalation for a 5


def test_flow_12_feedback_after_ticket_closure(sales_workspace, api_client):
    ws = sales_workspace("amc", "tickets")
    at(ws, utc(2030, 6, 1))
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    surveys(lead)
    customer = account(admin, "Klinikum Nord gGmbH", owner=user_id(admin, "sales_rep"))
    contact = create(
        admin,
        "contact",
        {"first_name": "Ute", "last_name": "Nord", "email": "ute@klinikum.test", "account": customer["id"]},
    )
    ticket = create(lead, "ticket", {"subject": "VPN down", "account": customer["id"], "contact": contact["id"]})
    for action, body in (
        ("assign", {"assignee": user_id(admin, "support_lead")}),
        ("start", {}),
        ("resolve", {"resolution": "Tunnel re-keyed"}),
        ("close", {}),
    ):
        ok(act(lead, "ticket", ticket["id"], action, body))
    [survey] = listing(lead, "survey_response", related_id=ticket["id"])
    assert (survey["kind"], survey["contact"]) == ("csat", contact["id"])
    tick(ws, utc(2030, 6, 5, 9))
    [mail] = emails(ws, to="ute@klinikum.test", template="survey_request")
    ok(anonymous(ws).post(reply_link(mail), json={"score": 2}))
    assert get(lead, "survey_response", survey["id"])["low_score"] is True
