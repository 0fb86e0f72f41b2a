"""Flow 6 (PACKS.md): ticket priority and SLA come from the account's service tier;
closure sends a survey.

The service tier is the tier of the account's running (active or expiring) AMC contract,
else the account's `tier` (platinum counts as gold service). Closing creates the surveys pack's CSAT
survey response, e-mailed after the survey's delay. Through the REST API on SQLite and
PostgreSQL, with a controllable clock.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.sales.rest import act, create, get, listing, ok, patch
from tests.service.ticketing import Desk, berlin, shown

MONDAY_9AM = berlin(3, 8, 9)


@pytest.fixture
def desk(sales_workspace: Any, api_client: Any) -> Desk:
    return Desk(sales_workspace("sla"), api_client, MONDAY_9AM)


def test_priority_and_sla_policy_come_from_the_accounts_tier(desk):
    sales = desk.as_("sales_rep")
    gold = create(sales, "account", {"name": "Klinikum Berlin", "tier": "platinum"})
    plain = create(sales, "account", {"name": "Nordwind Logistik GmbH"})
    # the same request from both customers
    request = {"subject": "E-mail is slow", "impact": "medium", "urgency": "medium"}
    fast = desk.ticket(role="support_agent", account=gold["id"], **request)
    slow = desk.ticket(role="support_agent", account=plain["id"], **request)
    assert (fast["service_tier"], fast["priority"], fast["sla_policy"]) == ("gold", "P2", "gold")
    assert (fast["response_due"], fast["resolution_due"]) == (shown(berlin(3, 8, 9, 30)), shown(berlin(3, 8, 17)))
    assert (slow["service_tier"], slow["priority"], slow["sla_policy"]) == (None, "P3", "default")
    assert (slow["response_due"], slow["resolution_due"]) == (shown(berlin(3, 9, 11)), shown(berlin(3, 15, 9)))

    # the customer buys gold service: the next ticket is faster; an open one follows when it
    # moves, recalculated from its start
    patch(sales, "account", plain["id"], {"tier": "gold"})
    desk.at(berlin(3, 8, 10))
    assert desk.ticket(account=plain["id"], **request)["sla_policy"] == "gold"
    moved = patch(desk.lead, "ticket", slow["id"], {"urgency": "high"})
    assert (moved["service_tier"], moved["priority"], moved["sla_policy"]) == ("gold", "P1", "gold")
    assert moved["resolution_due"] == shown(berlin(3, 8, 13))  # 4 h from 09:00


def test_the_running_amc_contracts_tier_decides_the_service_tier(desk):
    manager = desk.as_("sales_manager")
    customer = desk.account("Nordwind Logistik GmbH", "bronze")
    request = {"subject": "E-mail is slow", "impact": "medium", "urgency": "medium"}

    def service() -> tuple[str, str, str]:
        ticket = desk.ticket(account=customer["id"], **request)
        return ticket["service_tier"], ticket["priority"], ticket["sla_policy"]

    assert service() == ("bronze", "P3", "bronze")
    # a draft contract sells nothing yet
    values = {"account": customer["id"], "tier": "gold", "start_date": "2027-02-01", "term_months": 2}
    contract = create(manager, "amc_contract", values)
    assert contract["end_date"] == "2027-03-31"
    assert service() == ("bronze", "P3", "bronze")
    # activated: the account's active AMC tier is gold, its tickets get gold service
    ok(act(manager, "amc_contract", contract["id"], "activate"))
    assert get(manager, "account", customer["id"])["amc_tier"] == "gold"
    assert service() == ("gold", "P2", "gold")
    # once the contract has expired, the account's own tier applies again
    desk.tick(berlin(4, 2, 9))
    assert get(manager, "amc_contract", contract["id"])["status"] == "expired"
    assert get(manager, "account", customer["id"])["amc_tier"] is None
    assert service() == ("bronze", "P3", "bronze")
    # renewed (at platinum): the successor runs, platinum counts as gold service
    ok(act(manager, "amc_contract", contract["id"], "renew", {"tier": "platinum"}))
    assert get(manager, "account", customer["id"])["amc_tier"] == "platinum"
    assert service() == ("gold", "P2", "gold")


def test_closing_a_ticket_records_when_for_the_satisfaction_survey(desk):
    account = desk.account("Klinikum Berlin", "gold")
    ticket = desk.ticket(account=account["id"], assignee=desk.user("support_agent"))
    desk.at(berlin(3, 8, 11))
    desk.done(ticket, "resolve", {"resolution": "Mailbox moved to the new store."}, role="support_agent")
    desk.at(berlin(3, 8, 12))
    closed = desk.done(ticket, "close", role="support_agent")
    assert (closed["status"], closed["closed_at"], closed["sla_state"]) == ("closed", shown(berlin(3, 8, 12)), "met")
    history = ok(desk.lead.get(f"/api/v1/ticket/{ticket['id']}/history"))["data"]
    assert history[0]["changes"]["closed_at"] == [None, shown(berlin(3, 8, 12))]


def test_closure_sends_a_csat_survey_once(desk):
    account = desk.account("Klinikum Berlin", "gold")
    contact = create(
        desk.admin, "contact", {"last_name": "Wagner", "email": "a.wagner@klinikum.example", "account": account["id"]}
    )
    ticket = desk.ticket(account=account["id"], contact=contact["id"], assignee=desk.user("support_agent"))
    desk.done(ticket, "resolve", {"resolution": "Done."}, role="support_agent")
    assert listing(desk.lead, "survey_response") == []  # resolved is not closed
    desk.at(berlin(3, 8, 12))
    desk.done(ticket, "close", role="support_agent")
    (survey,) = listing(desk.lead, "survey_response")
    assert (survey["kind"], survey["trigger"], survey["status"]) == ("csat", "ticket_closed", "pending")
    assert (survey["account"], survey["contact"], survey["related_entity"], survey["related_id"]) == (
        account["id"],
        contact["id"],
        "ticket",
        ticket["id"],
    )
    assert survey["send_at"] == shown(berlin(3, 9, 12))  # the CSAT survey's delay: one day
    desk.tick(berlin(3, 9, 12))
    assert listing(desk.lead, "survey_response")[0]["status"] == "sent"  # e-mailed to the contact

    # reopened and closed again: not asked twice
    desk.done(ticket, "reopen", role="support_agent")
    desk.done(ticket, "resolve", {"resolution": "Done, really."}, role="support_agent")
    desk.done(ticket, "close", role="support_agent")
    assert len(listing(desk.lead, "survey_response")) == 1
