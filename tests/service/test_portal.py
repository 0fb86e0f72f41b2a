"""The customer portal (PACKS.md default grants, issue 7): a `customer` user sees, creates and
comments on their own account's tickets only, and sees and writes public comments only.
The portal user's account is `user.account` (core pack), the `account` scope of the grants.
Through the REST API on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.sales.rest import create, listing, ok, patch
from tests.service.ticketing import Desk, berlin


@pytest.fixture
def desk(sales_workspace: Any, api_client: Any) -> Desk:
    return Desk(sales_workspace("sla"), api_client, berlin(3, 1, 9))


@pytest.fixture
def portal(desk: Desk) -> dict[str, Any]:
    """The customer's account (Klinikum Berlin, gold) with a ticket, and another account's ticket."""
    mine, other = desk.account("Klinikum Berlin", "gold"), desk.account("Stadtwerke Kiel", "silver")
    patch(desk.admin, "user", desk.user("customer"), {"account": mine["id"]})
    return {
        "account": mine,
        "other": other,
        "ticket": desk.ticket(account=mine["id"], subject="Switch stack reboots"),
        "foreign": desk.ticket(account=other["id"], subject="Someone else's problem"),
    }


def test_a_customer_sees_only_their_accounts_tickets(desk, portal):
    me = desk.as_("customer")
    assert [t["subject"] for t in listing(me, "ticket")] == ["Switch stack reboots"]
    assert me.get(f"/api/v1/ticket/{portal['foreign']['id']}").status_code == 404
    counted = ok(me.post("/api/v1/ticket/aggregate", json={"metrics": {"n": "count()"}}))["data"]
    assert counted == [{"n": 1}]
    seen = ok(me.get(f"/api/v1/ticket/{portal['ticket']['id']}"))
    # the SLA due times and state show; internal handling fields do not
    assert seen["sla_state"] == "on_track" and seen["resolution_due"] is not None
    assert not {"sla_policy", "escalation_level", "team", "service_tier", "reporter_email"} & set(seen)
    assert me.get("/api/v1/ticket?filter=escalation_level > 0").status_code == 400


def test_a_customer_opens_tickets_for_their_own_account_only(desk, portal):
    me = desk.as_("customer")
    opened = create(me, "ticket", {"subject": "Scanner offline", "impact": "high", "urgency": "medium"})
    assert (opened["account"], opened["channel"], opened["priority"]) == (portal["account"]["id"], "portal", "P1")
    assert opened["sla_state"] == "on_track"
    assert me.post("/api/v1/ticket", json={"subject": "x", "account": portal["other"]["id"]}).status_code in (403, 422)
    # they cannot change tickets, nor work them
    assert me.patch(f"/api/v1/ticket/{opened['id']}", json={"subject": "y"}).status_code == 403
    assert me.post(f"/api/v1/ticket/{opened['id']}/actions/close", json={}).status_code == 403
    # the desk sees it as a portal ticket, allocated like any other; the customer's own
    # comment is not the desk's first response
    create(me, "ticket_comment", {"ticket": opened["id"], "body": "It is the one on floor 3."})
    seen = ok(desk.lead.get(f"/api/v1/ticket/{opened['id']}"))
    assert seen["assignee"] is not None and seen["first_response_at"] is None


def test_a_customer_sees_and_writes_public_comments_only(desk, portal):
    me, ticket = desk.as_("customer"), portal["ticket"]
    create(desk.lead, "ticket_comment", {"ticket": ticket["id"], "body": "Internal: firmware bug?"})
    create(desk.lead, "ticket_comment", {"ticket": ticket["id"], "body": "We are on it.", "visibility": "public"})
    create(desk.lead, "ticket_comment", {"ticket": portal["foreign"]["id"], "body": "Other", "visibility": "public"})
    assert [c["body"] for c in listing(me, "ticket_comment")] == ["We are on it."]
    assert [c["body"] for c in ok(me.get(f"/api/v1/ticket/{ticket['id']}/related/ticket_comment"))["data"]] == [
        "We are on it."
    ]

    reply = create(me, "ticket_comment", {"ticket": ticket["id"], "body": "Thanks, it happened again at 02:00."})
    assert (reply["visibility"], reply["author"]) == ("public", desk.user("customer"))
    internal = me.post("/api/v1/ticket_comment", json={"ticket": ticket["id"], "body": "x", "visibility": "internal"})
    assert internal.status_code == 422  # the visibility is not theirs to choose
    foreign = me.post("/api/v1/ticket_comment", json={"ticket": portal["foreign"]["id"], "body": "x"})
    assert foreign.status_code in (403, 422)
    assert len(listing(desk.lead, "ticket_comment", ticket=ticket["id"])) == 3


def test_a_customer_reply_resumes_a_ticket_waiting_for_them(desk, portal):
    ticket = portal["ticket"]
    desk.done(ticket, "start")
    assert desk.done(ticket, "wait")["sla_state"] == "paused"
    desk.at(berlin(3, 1, 10))
    create(desk.as_("customer"), "ticket_comment", {"ticket": ticket["id"], "body": "Here is the log."})
    back = desk.get(ticket)
    assert (back["status"], back["sla_state"], back["customer_replied_at"]) == (
        "in_progress",
        "on_track",
        "2027-03-01T09:00:00+00:00",
    )
