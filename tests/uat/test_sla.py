"""UAT of the sla module (docs/uat/sla.md): policy by tier, pause, breach, escalation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sales.rest import create
from tests.service.test_flow_13_escalation import level, opened
from tests.service.ticketing import Desk, berlin, shown


@pytest.fixture
def desk(sales_workspace: Any, api_client: Any) -> Desk:
    return Desk(sales_workspace("sla"), api_client, berlin(3, 8, 9))  # Monday 8 March 2027, 09:00


@pytest.mark.uat("UAT-SLA-01")
def test_uat_sla_01_gold_customers_get_faster_targets_than_the_default(desk):
    gold = desk.ticket(account=desk.account("Klinikum Berlin", "gold")["id"])
    plain = desk.ticket(account=desk.account("Nordwind Logistik GmbH")["id"])
    assert (gold["sla_policy"], gold["priority"], gold["sla_state"]) == ("gold", "P2", "on_track")
    assert (gold["response_due"], gold["resolution_due"]) == (shown(berlin(3, 8, 9, 30)), shown(berlin(3, 8, 17)))
    assert (plain["sla_policy"], plain["priority"]) == ("default", "P3")
    assert (plain["response_due"], plain["resolution_due"]) == (shown(berlin(3, 9, 11)), shown(berlin(3, 15, 9)))


@pytest.mark.uat("UAT-SLA-02")
def test_uat_sla_02_waiting_on_the_customer_pauses_the_clock(desk):
    ticket = desk.ticket(account=desk.account("Stadtwerke Kiel", "silver")["id"])
    assert ticket["resolution_due"] == shown(berlin(3, 11, 9))  # 30 business hours
    desk.at(berlin(3, 8, 10))
    desk.done(ticket, "start")
    assert desk.done(ticket, "wait")["sla_state"] == "paused"
    desk.at(berlin(3, 9, 10))  # a whole business day later
    resumed = desk.done(ticket, "resume")
    assert (resumed["sla_state"], resumed["resolution_due"]) == ("on_track", shown(berlin(3, 12, 9)))
    desk.at(berlin(3, 9, 11))
    done = desk.done(ticket, "resolve", {"resolution": "Reset the port."})
    assert (done["sla_state"], done["sla_compliance"]) == ("met", 100)


@pytest.mark.uat("UAT-SLA-03")
def test_uat_sla_03_a_late_response_is_breached_for_good(desk):
    ticket = desk.ticket(account=desk.account("Klinikum Berlin", "gold")["id"], impact="high", urgency="high")
    assert (ticket["priority"], ticket["response_due"]) == ("P1", shown(berlin(3, 8, 9, 15)))
    desk.tick(berlin(3, 8, 9, 20))
    assert desk.get(ticket)["sla_state"] == "breached"
    create(desk.lead, "ticket_comment", {"ticket": ticket["id"], "body": "Sorry, on it.", "visibility": "public"})
    resolved = desk.done(ticket, "resolve", {"resolution": "Fixed."})
    assert (resolved["sla_state"], resolved["sla_compliance"]) == ("breached", 0)


@pytest.mark.uat("UAT-SLA-04")
def test_uat_sla_04_escalation_warns_the_assignee_then_the_support_leads(desk):
    ticket = opened(desk)
    number = ticket["number"]
    desk.done(ticket, "start", role="technician")
    desk.tick(berlin(3, 8, 15))  # 6 of 8 hours: 75 %
    assert level(desk, ticket) == (1, "at_risk", "P2")
    assert desk.notices("technician")[-1] == f"SLA at risk: {number} (P2)"
    desk.tick(berlin(3, 8, 17))  # the resolution target
    assert level(desk, ticket) == (2, "breached", "P2")
    assert desk.notices("support_lead")
