"""Flow 13 (PACKS.md): SLA and escalation apply to tickets and sold services.

The sla pack's escalation matrix on the resolution clock, reached in order with a
controllable clock: 75 % of the target -> the assignee is warned (level 1, at risk); the
breach -> every support lead is told (level 2, breached); 2 hours past the breach -> the
account owner is told and the priority goes up one step (level 3). Waiting on the customer
moves every level. Through the REST API on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.sales.rest import ok
from tests.service.ticketing import Desk, berlin, shown

MONDAY_9AM = berlin(3, 8, 9)


@pytest.fixture
def desk(sales_workspace: Any, api_client: Any) -> Desk:
    return Desk(sales_workspace("sla"), api_client, MONDAY_9AM)


def level(desk: Desk, ticket: dict[str, Any]) -> tuple[Any, ...]:
    now = desk.get(ticket)
    return now["escalation_level"], now["sla_state"], now["priority"]


def opened(desk: Desk) -> dict[str, Any]:
    """A gold customer's P2 ticket (8 h round the clock), assigned to the technician."""
    account = desk.account("Klinikum Berlin", "gold")
    ticket = desk.ticket(account=account["id"], subject="Core switch down")
    ticket = desk.done(ticket, "assign", {"assignee": desk.user("technician")})
    assert (ticket["sla_policy"], ticket["priority"], ticket["resolution_due"]) == (
        "gold",
        "P2",
        shown(berlin(3, 8, 17)),
    )
    return dict(ticket)


def test_escalation_levels_are_reached_in_order(desk):
    ticket = opened(desk)
    number = ticket["number"]
    desk.done(ticket, "start", role="technician")  # the first response: that clock is met

    desk.tick(berlin(3, 8, 14, 59))
    assert level(desk, ticket) == (0, "on_track", "P2")
    assert desk.notices("technician") == [f"Ticket {number} (P2) is yours"]

    desk.tick(berlin(3, 8, 15))  # 6 of 8 hours: 75 %
    assert level(desk, ticket) == (1, "at_risk", "P2")
    assert desk.notices("technician")[-1] == f"SLA at risk: {number} (P2)"
    assert desk.notices("support_lead") == [] and desk.notices("sales_rep") == []

    desk.tick(berlin(3, 8, 17))  # the resolution target
    assert level(desk, ticket) == (2, "breached", "P2")
    assert desk.notices("support_lead") == [f"SLA breached: {number} (P2)"]
    assert desk.notices("sales_rep") == []

    desk.tick(berlin(3, 8, 18, 59))
    assert level(desk, ticket)[0] == 2
    desk.tick(berlin(3, 8, 19))  # 2 hours past the breach: the account owner, priority up
    assert level(desk, ticket) == (3, "breached", "P1")
    assert desk.notices("sales_rep") == [f"Escalation: {number} for your account is 2 hours past its SLA"]
    assert desk.get(ticket)["resolution_due"] == shown(berlin(3, 8, 13))  # P1's 4 h, from the same start

    desk.tick(berlin(3, 9, 9))  # nothing more to reach; nobody is told twice
    assert len(desk.notices("support_lead")) == 1 and len(desk.notices("sales_rep")) == 1
    history = ok(desk.lead.get(f"/api/v1/ticket/{ticket['id']}/history?limit=100"))["data"]
    levels = [h["changes"]["escalation_level"][1] for h in reversed(history) if "escalation_level" in h["changes"]]
    assert levels == [0, 1, 2, 3]  # the default on creation, then each level once


def test_a_late_pass_catches_up_every_level_in_order(desk):
    ticket = opened(desk)
    desk.tick(berlin(3, 8, 20))  # the runner was down all day
    assert level(desk, ticket) == (3, "breached", "P1")
    number = ticket["number"]
    assert desk.notices("technician")[-1] == f"SLA at risk: {number} (P2)"
    assert desk.notices("support_lead") == [f"SLA breached: {number} (P2)"]
    assert len(desk.notices("sales_rep")) == 1


def test_waiting_on_the_customer_moves_every_level(desk):
    ticket = opened(desk)
    desk.at(berlin(3, 8, 10))
    desk.done(ticket, "start")
    desk.done(ticket, "wait")
    desk.tick(berlin(3, 8, 16))  # paused: the 75 % mark (15:00) is not reached
    assert level(desk, ticket) == (0, "paused", "P2")
    desk.at(berlin(3, 8, 12))
    resumed = desk.done(ticket, "resume")  # two hours paused
    assert resumed["resolution_due"] == shown(berlin(3, 8, 19))
    desk.tick(berlin(3, 8, 16, 59))
    assert level(desk, ticket) == (0, "on_track", "P2")
    desk.tick(berlin(3, 8, 17))
    assert level(desk, ticket) == (1, "at_risk", "P2")
    desk.at(berlin(3, 8, 18))
    resolved = desk.done(ticket, "resolve", {"resolution": "Replaced the supervisor module."})
    assert (resolved["sla_state"], resolved["escalation_level"]) == ("met", 1)
    desk.tick(berlin(3, 8, 23))  # met: no breach, no later level
    assert level(desk, ticket) == (1, "met", "P2")
    assert desk.notices("support_lead") == []
