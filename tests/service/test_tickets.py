"""The tickets pack: numbers, priority from impact x urgency and the service tier, the
lifecycle actions, first response, allocation by OEM certification and load, e-mail capture
and the staff grants. Through the REST API as the demo roles, on SQLite and PostgreSQL
(the portal's view is tests/service/test_portal.py, SLA clocks test_sla_pack.py).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from engine.capture.signing import sign
from tests.sales.rest import create, listing, ok, patch, refused
from tests.service.ticketing import Desk, berlin

MONDAY = berlin(3, 1, 9)  # Monday 1 March 2027, 09:00 Berlin


@pytest.fixture
def desk(sales_workspace: Any, api_client: Any) -> Desk:
    return Desk(sales_workspace("tickets"), api_client, MONDAY)


def history(desk: Desk, ticket: dict[str, Any]) -> list[dict[str, Any]]:
    return list(ok(desk.lead.get(f"/api/v1/ticket/{ticket['id']}/history"))["data"])


# --- priority ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("impact", "urgency", "plain", "gold"),
    [
        ("low", "low", "P4", "P4"),
        ("low", "medium", "P4", "P3"),
        ("medium", "medium", "P3", "P2"),
        ("high", "low", "P3", "P2"),
        ("medium", "high", "P2", "P1"),
        ("high", "high", "P1", "P1"),
    ],
)
def test_priority_is_impact_times_urgency_one_step_higher_for_gold_customers(desk, impact, urgency, plain, gold):
    for tier, expected in ((None, plain), ("bronze", plain), ("silver", plain), ("gold", gold), ("platinum", gold)):
        account = desk.account(f"Kunde {tier}", tier)
        ticket = desk.ticket(account=account["id"], impact=impact, urgency=urgency)
        assert ticket["priority"] == expected, tier
        assert ticket["service_tier"] == {None: None, "platinum": "gold"}.get(tier, tier)


def test_number_defaults_and_later_changes_of_impact_urgency_or_account(desk):
    plain, gold = desk.account("Nordwind Logistik GmbH"), desk.account("Klinikum Berlin", "platinum")
    ticket = desk.ticket(account=plain["id"])
    assert ticket["number"].startswith("TCK-2027-")
    assert (ticket["impact"], ticket["urgency"], ticket["priority"], ticket["status"]) == (
        "medium",
        "medium",
        "P3",
        "assigned",
    )
    assert (ticket["channel"], ticket["opened_at"]) == ("api", "2027-03-01T08:00:00+00:00")
    assert patch(desk.lead, "ticket", ticket["id"], {"urgency": "high"})["priority"] == "P2"
    moved = patch(desk.lead, "ticket", ticket["id"], {"account": gold["id"]})
    assert (moved["service_tier"], moved["priority"]) == ("gold", "P1")
    # a priority given on creation stands (the desk knows better); the status is the workflow's
    assert desk.ticket(account=plain["id"], priority="P1")["priority"] == "P1"
    assert "status" in refused(desk.lead.patch(f"/api/v1/ticket/{ticket['id']}", json={"status": "closed"}))


# --- lifecycle ------------------------------------------------------------------------------------
def test_the_lifecycle_actions_from_assignment_to_reopening(desk):
    agent = desk.user("support_agent")
    ticket = desk.ticket(account=desk.account("Nordwind Logistik GmbH")["id"])
    assert ticket["status"] == "assigned"  # allocated on arrival (the only agent), see below

    assigned = desk.done(ticket, "assign", {"assignee": agent})
    assert (assigned["assignee"], assigned["status"]) == (agent, "assigned")
    desk.at(berlin(3, 1, 9, 30))
    started = desk.done(ticket, "start", role="support_agent")
    assert (started["status"], started["first_response_at"]) == ("in_progress", "2027-03-01T08:30:00+00:00")
    assert desk.done(ticket, "wait", role="support_agent")["status"] == "waiting_customer"
    assert desk.done(ticket, "resume", role="support_agent")["status"] == "in_progress"

    assert list(refused(desk.act(ticket, "resolve", role="support_agent"))) == ["resolution"]
    desk.at(berlin(3, 1, 11))
    resolved = desk.done(ticket, "resolve", {"resolution": "Replaced the toner."}, role="support_agent")
    assert (resolved["status"], resolved["resolved_at"]) == ("resolved", "2027-03-01T10:00:00+00:00")
    assert desk.act(ticket, "assign", {"assignee": agent}).status_code == 409  # resolved: reopen first
    closed = desk.done(ticket, "close", role="support_agent")
    assert (closed["status"], closed["closed_at"]) == ("closed", "2027-03-01T10:00:00+00:00")
    assert desk.act(ticket, "start", role="support_agent").status_code == 409

    reopened = desk.done(ticket, "reopen", role="support_agent")
    assert (reopened["status"], reopened["closed_at"], reopened["resolved_at"], reopened["reopen_count"]) == (
        "in_progress",
        None,
        None,
        1,
    )
    assert desk.act(ticket, "start", role="sales_rep").status_code in (403, 404)  # sales reads, never works


def test_the_first_public_reply_is_the_first_response(desk):
    ticket = desk.ticket(account=desk.account("Nordwind Logistik GmbH")["id"])
    desk.at(berlin(3, 1, 9, 10))
    note = create(desk.lead, "ticket_comment", {"ticket": ticket["id"], "body": "Looks like the driver."})
    assert note["visibility"] == "internal" and desk.get(ticket)["first_response_at"] is None
    desk.at(berlin(3, 1, 9, 20))
    create(desk.lead, "ticket_comment", {"ticket": ticket["id"], "body": "We are on it.", "visibility": "public"})
    desk.at(berlin(3, 1, 9, 40))
    create(desk.lead, "ticket_comment", {"ticket": ticket["id"], "body": "Still on it.", "visibility": "public"})
    assert desk.get(ticket)["first_response_at"] == "2027-03-01T08:20:00+00:00"
    comments = listing(desk.lead, "ticket_comment", ticket=ticket["id"])
    assert {c["author"] for c in comments} == {desk.user("support_lead")}


# --- allocation -----------------------------------------------------------------------------------
def test_allocation_takes_the_least_loaded_technician_with_a_valid_certification_for_the_oem(desk):
    tech, tina, otto = desk.user("technician"), desk.add_user("tina@test.dev", "Tina", ["technician"]), None
    otto = desk.add_user("otto@test.dev", "Otto Outdated", ["technician"])
    desk.certify(tech, "Cisco", "2026-06-01")
    desk.certify(tina, "Cisco", "2026-09-01")
    desk.certify(otto, "Cisco", "2023-01-01")  # expired in January 2026
    desk.certify(otto, "Dell", "2026-01-01")
    account = desk.account("Nordwind Logistik GmbH", "silver")
    switch, server = desk.asset(account), desk.asset(account, oem="Dell", sku="R760")

    chosen = [desk.ticket(account=account["id"], asset=switch["id"])["assignee"] for _ in range(4)]
    assert sorted(chosen) == sorted([tech, tina, tech, tina])  # by load: two each, never Otto
    dell = desk.ticket(account=account["id"], asset=server["id"])
    assert (dell["assignee"], dell["status"]) == (otto, "assigned")
    (entry,) = [h for h in history(desk, dell) if h["action"] == "assign"]
    assert entry["changes"]["reason"][1].startswith("least loaded, 0 open ticket records")

    # resolving frees capacity; the assign action with an empty body allocates again
    first = listing(desk.lead, "ticket", assignee=tech, sort="created_at")[0]
    desk.done(first, "resolve", {"resolution": "Done."})
    again = desk.done(desk.ticket(account=account["id"], asset=switch["id"], assignee=tina), "assign", {})
    assert again["assignee"] == tech  # 1 open ticket against Tina's 2 (this one aside)


def test_without_a_certified_technician_the_least_loaded_agent_of_the_team_gets_it(desk):
    agent, tech = desk.user("support_agent"), desk.user("technician")
    account = desk.account("Nordwind Logistik GmbH")
    hp = desk.asset(account, oem="HPE", sku="DL380")  # nobody holds an HPE certification
    first = desk.ticket(account=account["id"], asset=hp["id"])
    second = desk.ticket(account=account["id"])
    assert {first["assignee"], second["assignee"]} == {agent, tech}
    team = create(desk.admin, "team", {"name": "Hamburg desk"})
    patch(desk.admin, "user", agent, {"teams": [team["id"]]})
    assert desk.ticket(account=account["id"], team=team["id"])["assignee"] == agent


# --- e-mail capture -------------------------------------------------------------------------------
SECRET = "ticket-mail-secret-" + "x" * 20


def signed(body: dict[str, Any]) -> dict[str, Any]:
    raw, stamp = json.dumps(body).encode(), str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Tessera-Timestamp": stamp}
    return {"data": raw, "headers": {**headers, "X-Tessera-Signature": sign(SECRET, stamp, raw)}}


def test_an_emailed_ticket_is_linked_to_the_senders_contact_and_account(desk, monkeypatch):
    monkeypatch.setenv("TESSERA_TICKET_EMAIL_SECRET", SECRET)
    gold = desk.account("Klinikum Berlin", "gold")
    anna = create(
        desk.admin, "contact", {"last_name": "Wagner", "email": "a.wagner@klinikum.example", "account": gold["id"]}
    )
    mail = {
        "from": {"address": "A.Wagner@klinikum.example", "name": "Anna Wagner"},
        "subject": "Scanner down",
        "text": "Help",
    }
    public = desk.admin.client
    assert public.post("/api/v1/public/hooks/ticket_email", **signed(mail)).status_code == 202
    assert public.post("/api/v1/public/hooks/ticket_email", json=mail).status_code == 401  # unsigned
    (ticket,) = listing(desk.lead, "ticket", channel="email")
    assert (ticket["subject"], ticket["description"], ticket["contact"], ticket["account"]) == (
        "Scanner down",
        "Help",
        anna["id"],
        gold["id"],
    )
    assert (ticket["service_tier"], ticket["priority"], ticket["sla_policy"]) == ("gold", "P2", None)

    stranger = {"from": {"address": "who@nowhere.example", "name": "Who"}, "subject": "Hello"}
    assert public.post("/api/v1/public/hooks/ticket_email", **signed(stranger)).status_code == 202
    other = next(t for t in listing(desk.lead, "ticket", channel="email") if t["subject"] == "Hello")
    assert other["account"] is None and other["priority"] == "P3"
    (contact,) = listing(desk.admin, "contact", email="who@nowhere.example")
    assert (other["contact"], contact["last_name"]) == (contact["id"], "Who")


# --- grants ---------------------------------------------------------------------------------------
def test_agents_see_their_teams_and_their_own_tickets_sales_reads_all(desk):
    agent, tech = desk.user("support_agent"), desk.user("technician")
    account = desk.account("Nordwind Logistik GmbH")
    mine = desk.ticket(account=account["id"], assignee=agent)
    theirs = desk.ticket(account=account["id"], assignee=tech)
    agent_api = desk.as_("support_agent")
    assert [t["id"] for t in listing(agent_api, "ticket")] == [mine["id"]]
    assert agent_api.get(f"/api/v1/ticket/{theirs['id']}").status_code == 404
    assert ok(agent_api.patch(f"/api/v1/ticket/{mine['id']}", json={"category": "hardware"}))["category"] == "hardware"
    sales = desk.as_("sales_rep")
    assert len(listing(sales, "ticket")) == 2
    assert sales.patch(f"/api/v1/ticket/{mine['id']}", json={"category": "network"}).status_code == 403
    created = create(agent_api, "ticket", {"subject": "Phoned in", "account": account["id"], "channel": "phone"})
    assert created["channel"] == "phone"
