"""UAT of the tickets module (docs/uat/tickets.md): priority, lifecycle, first response,
the customer portal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sales.rest import create, listing, ok, patch, refused
from tests.service.ticketing import Desk, berlin

MONDAY = berlin(3, 1, 9)  # Monday 1 March 2027, 09:00 Berlin


@pytest.fixture
def desk(sales_workspace: Any, api_client: Any) -> Desk:
    return Desk(sales_workspace("tickets"), api_client, MONDAY)


@pytest.mark.uat("UAT-TICKETS-01")
def test_uat_tickets_01_priority_from_impact_urgency_and_the_customers_tier(desk):
    plain, gold = desk.account("Nordwind Logistik GmbH"), desk.account("Klinikum Berlin", "gold")
    request = {"impact": "medium", "urgency": "medium"}
    first = desk.ticket(role="support_agent", account=plain["id"], **request)
    assert first["number"] and (first["priority"], first["status"]) == ("P3", "assigned")
    assert desk.ticket(role="support_agent", account=gold["id"], **request)["priority"] == "P2"


@pytest.mark.uat("UAT-TICKETS-02")
def test_uat_tickets_02_an_agent_works_a_ticket_from_start_to_close(desk):
    ticket = desk.ticket(account=desk.account("Nordwind Logistik GmbH")["id"])
    desk.at(berlin(3, 1, 9, 30))
    started = desk.done(ticket, "start", role="support_agent")
    assert (started["status"], started["first_response_at"]) == ("in_progress", "2027-03-01T08:30:00+00:00")
    assert desk.done(ticket, "wait", role="support_agent")["status"] == "waiting_customer"
    assert desk.done(ticket, "resume", role="support_agent")["status"] == "in_progress"
    assert list(refused(desk.act(ticket, "resolve", role="support_agent"))) == ["resolution"]
    resolved = desk.done(ticket, "resolve", {"resolution": "Replaced the toner."}, role="support_agent")
    assert resolved["status"] == "resolved"
    assert desk.done(ticket, "close", role="support_agent")["status"] == "closed"
    reopened = desk.done(ticket, "reopen", role="support_agent")
    assert (reopened["status"], reopened["reopen_count"]) == ("in_progress", 1)


@pytest.mark.uat("UAT-TICKETS-03")
def test_uat_tickets_03_the_first_public_reply_is_the_first_response(desk):
    ticket = desk.ticket(account=desk.account("Nordwind Logistik GmbH")["id"])
    desk.at(berlin(3, 1, 9, 10))
    note = create(desk.lead, "ticket_comment", {"ticket": ticket["id"], "body": "Looks like the driver."})
    assert note["visibility"] == "internal" and desk.get(ticket)["first_response_at"] is None
    desk.at(berlin(3, 1, 9, 20))
    create(desk.lead, "ticket_comment", {"ticket": ticket["id"], "body": "We are on it.", "visibility": "public"})
    assert desk.get(ticket)["first_response_at"] == "2027-03-01T08:20:00+00:00"


@pytest.mark.uat("UAT-TICKETS-04")
def test_uat_tickets_04_a_customer_opens_and_sees_only_their_tickets(desk):
    mine, other = desk.account("Klinikum Berlin", "gold"), desk.account("Stadtwerke Kiel", "silver")
    patch(desk.admin, "user", desk.user("customer"), {"account": mine["id"]})
    foreign = desk.ticket(account=other["id"], subject="Someone else's problem")
    me = desk.as_("customer")
    opened = create(me, "ticket", {"subject": "Scanner offline", "impact": "high", "urgency": "medium"})
    assert (opened["account"], opened["channel"]) == (mine["id"], "portal")
    assert [t["subject"] for t in listing(me, "ticket")] == ["Scanner offline"]
    assert me.get(f"/api/v1/ticket/{foreign['id']}").status_code == 404
    assert me.patch(f"/api/v1/ticket/{opened['id']}", json={"subject": "y"}).status_code == 403
    assert ok(desk.lead.get(f"/api/v1/ticket/{opened['id']}"))["channel"] == "portal"
