"""The sla pack: the business calendars, the policy chosen by the service tier with targets
per priority, the waiting-on-customer pause, met and breached states, and the real-time
compliance report (met %, at risk, breached by priority, team and account) through the
aggregate API. A controllable clock (``Desk.at`` / ``Desk.tick``) drives the SLA timers.
Through the REST API on SQLite and PostgreSQL. Escalation levels: test_flow_13_escalation.py.

Business hours are weekdays 08:00-18:00 Berlin time; 5 March 2027 is a Friday (UTC+1).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.sales.rest import aggregate, create, ok
from tests.service.ticketing import Desk, berlin, shown

FRIDAY_5PM = berlin(3, 5, 17)


@pytest.fixture
def desk(sales_workspace: Any, api_client: Any) -> Desk:
    return Desk(sales_workspace("sla"), api_client, FRIDAY_5PM)


def sla(ticket: dict[str, Any]) -> tuple[Any, ...]:
    return (
        ticket["sla_policy"],
        ticket["priority"],
        ticket["sla_state"],
        ticket["response_due"],
        ticket["resolution_due"],
    )


def test_the_policy_follows_the_service_tier_and_counts_in_its_calendar(desk):
    gold = desk.ticket(account=desk.account("Klinikum Berlin", "platinum")["id"])
    # gold: round the clock, P2 (medium x medium, raised one step): 30 min / 8 h
    assert sla(gold) == ("gold", "P2", "on_track", shown(berlin(3, 5, 17, 30)), shown(berlin(3, 6, 1)))
    silver = desk.ticket(account=desk.account("Stadtwerke Kiel", "silver")["id"])
    # silver, business hours, P3: 4 h (1 h on Friday, 3 on Monday) / 30 h (1 + 10 + 10 + 9)
    assert sla(silver) == ("silver", "P3", "on_track", shown(berlin(3, 8, 11)), shown(berlin(3, 10, 17)))
    bronze = desk.ticket(account=desk.account("Hochschule Kiel", "bronze")["id"], impact="high", urgency="high")
    assert sla(bronze) == ("bronze", "P1", "on_track", shown(berlin(3, 5, 18)), shown(berlin(3, 8, 15)))
    # no service tier (no active contract): the default policy, in business hours, slowest
    plain = desk.ticket(account=desk.account("Nordwind Logistik GmbH")["id"])
    assert sla(plain) == ("default", "P3", "on_track", shown(berlin(3, 9, 9)), shown(berlin(3, 12, 17)))
    assert sla(desk.ticket()) == sla(plain)  # no account at all: the same


def test_holidays_of_the_business_calendar_do_not_count(desk):
    desk.at(berlin(12, 23, 16, year=2026))  # Wednesday before Christmas; 24th-26th closed
    ticket = desk.ticket(account=desk.account("Hochschule Kiel", "bronze")["id"], impact="high", urgency="high")
    # 8 h: 2 h on Wednesday, then Monday 28th from 08:00 (the holidays and the weekend skipped)
    assert ticket["resolution_due"] == shown(berlin(12, 28, 14, year=2026))


def test_waiting_on_the_customer_pauses_the_clock(desk):
    desk.at(berlin(3, 8, 9))  # Monday
    ticket = desk.ticket(account=desk.account("Stadtwerke Kiel", "silver")["id"])
    assert ticket["resolution_due"] == shown(berlin(3, 11, 9))  # 30 business hours
    desk.at(berlin(3, 8, 10))
    desk.done(ticket, "start")
    assert desk.done(ticket, "wait")["sla_state"] == "paused"
    desk.at(berlin(3, 9, 10))  # a whole business day later the customer answers
    resumed = desk.done(ticket, "resume")
    assert (resumed["sla_state"], resumed["resolution_due"]) == ("on_track", shown(berlin(3, 12, 9)))
    desk.at(berlin(3, 9, 11))
    done = desk.done(ticket, "resolve", {"resolution": "Reset the port."})
    assert (done["sla_state"], done["sla_compliance"]) == ("met", 100)
    assert done["first_response_at"] == shown(berlin(3, 8, 10))  # starting work was the first response


def test_a_late_response_breaches_and_the_state_stays_breached(desk):
    desk.at(berlin(3, 8, 9))
    ticket = desk.ticket(account=desk.account("Klinikum Berlin", "gold")["id"], impact="high", urgency="high")
    assert (ticket["priority"], ticket["response_due"]) == ("P1", shown(berlin(3, 8, 9, 15)))
    desk.tick(berlin(3, 8, 9, 20))
    assert desk.get(ticket)["sla_state"] == "breached"
    create(desk.lead, "ticket_comment", {"ticket": ticket["id"], "body": "Sorry, on it.", "visibility": "public"})
    resolved = desk.done(ticket, "resolve", {"resolution": "Fixed."})
    assert (resolved["sla_state"], resolved["sla_compliance"]) == ("breached", 0)  # kept for the reports


COMPLIANCE = {
    "tickets": "count()",
    "met_pct": "avg(sla_compliance)",
    "at_risk": 'sum(if(sla_state == "at_risk", 1, 0))',
    "breached": 'sum(if(sla_state == "breached", 1, 0))',
    "open": 'sum(if(status not in ("resolved", "closed"), 1, 0))',
}


def test_the_real_time_compliance_report_by_priority_team_and_account(desk):
    desk.at(berlin(3, 8, 9))
    kiel, berlin_ = desk.account("Stadtwerke Kiel", "gold"), desk.account("Klinikum Berlin", "gold")
    network, servers = create(desk.admin, "team", {"name": "Network"}), create(desk.admin, "team", {"name": "Servers"})
    met = desk.ticket(account=kiel["id"], team=network["id"])  # P2: 30 min / 8 h
    late = desk.ticket(account=kiel["id"], team=network["id"], impact="high", urgency="high")  # P1: 15 min / 4 h
    risky = desk.ticket(account=berlin_["id"], team=servers["id"])  # P2
    calm = desk.ticket(account=berlin_["id"], team=servers["id"], impact="low", urgency="low")  # P4: 4 h / 72 h
    desk.at(berlin(3, 8, 9, 10))
    for ticket in (met, late, risky, calm):  # nobody is in these teams yet: assigned by hand
        desk.done(ticket, "assign", {"assignee": desk.user("technician")})
        desk.done(ticket, "start")
    desk.done(met, "resolve", {"resolution": "Done."})
    desk.tick(berlin(3, 8, 15, 30))  # 6.5 h later: P1 breached, the other P2 past 75 %
    states = [desk.get(t)["sla_state"] for t in (met, late, risky, calm)]
    assert states == ["met", "breached", "at_risk", "on_track"]

    by_priority = aggregate(desk.lead, "ticket", {"group_by": ["priority"], "metrics": COMPLIANCE})
    assert by_priority == [
        {"priority": "P1", "tickets": 1, "met_pct": 0, "at_risk": 0, "breached": 1, "open": 1},
        {"priority": "P2", "tickets": 2, "met_pct": 100, "at_risk": 1, "breached": 0, "open": 1},
        {"priority": "P4", "tickets": 1, "met_pct": None, "at_risk": 0, "breached": 0, "open": 1},
    ]
    by_team = aggregate(desk.lead, "ticket", {"group_by": ["team"], "metrics": COMPLIANCE})
    assert [(r["team"], r["met_pct"], r["at_risk"], r["breached"]) for r in by_team] == [
        (network["id"], 50, 0, 1),
        (servers["id"], None, 1, 0),
    ]
    by_account = aggregate(desk.lead, "ticket", {"group_by": ["account"], "metrics": COMPLIANCE})
    assert {r["account"]: (r["tickets"], r["breached"]) for r in by_account} == {
        kiel["id"]: (2, 1),
        berlin_["id"]: (2, 0),
    }
    # the open tickets at risk or breached, most urgent first: the support lead's work list
    urgent = ok(
        desk.lead.get(
            "/api/v1/ticket", query_string={"filter": 'sla_state in ("at_risk", "breached")', "sort": "resolution_due"}
        )
    )
    assert [t["id"] for t in urgent["data"]] == [late["id"], risky["id"]]


def test_an_emailed_ticket_gets_the_policy_of_the_senders_account(desk, monkeypatch):
    from tests.service.test_tickets import SECRET, signed

    monkeypatch.setenv("TESSERA_TICKET_EMAIL_SECRET", SECRET)
    gold = desk.account("Klinikum Berlin", "gold")
    create(desk.admin, "contact", {"last_name": "Wagner", "email": "a.wagner@klinikum.example", "account": gold["id"]})
    mail = {"from": {"address": "a.wagner@klinikum.example"}, "subject": "Scanner down", "text": "Help"}
    assert desk.admin.client.post("/api/v1/public/hooks/ticket_email", **signed(mail)).status_code == 202
    (ticket,) = ok(desk.lead.get("/api/v1/ticket"))["data"]
    # gold, P2 (medium x medium raised), counted round the clock from Friday 17:00
    assert sla(ticket) == ("gold", "P2", "on_track", shown(berlin(3, 5, 17, 30)), shown(berlin(3, 6, 1)))
    assert ticket["status"] == "assigned"
