"""The client portal pages (``/portal``): a customer signed in through ``/login`` sees their own
account's tickets, contracts and assets, opens a ticket the desk then sees through the API,
reads and writes public comments only, and never reaches the staff pages. Flask test client
on SQLite and PostgreSQL (workspace with the ``sla`` pack: tickets, assets, amc, surveys)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from engine.actor import Actor
from engine.app import create_app
from tests.conftest import PASSWORD
from tests.sales.rest import create, listing, ok, patch
from tests.service.ticketing import Desk, berlin
from ui.portal import is_portal_user  # the portal and public routes register on import

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(ws: Any, role: str, next_page: str = "/portal") -> FlaskClient:
    """A browser signed in through the sign-in page as the role's user."""
    client = create_app(ws.config, ws).test_client()
    token = CSRF.search(client.get("/login").get_data(as_text=True))
    assert token
    signed = client.post(
        "/login",
        data={"email": f"{role}@test.dev", "password": PASSWORD, "csrf_token": token.group(1), "next": next_page},
    )
    assert signed.status_code == 302, signed.get_data(as_text=True)
    return client


def csrf(page: Any) -> str:
    found = CSRF.search(page.get_data(as_text=True))
    assert found
    return found.group(1)


@pytest.fixture
def desk(sales_workspace: Any, api_client: Any) -> Desk:
    return Desk(sales_workspace("sla"), api_client, berlin(3, 1, 9))


@pytest.fixture
def portal(desk: Desk) -> dict[str, Any]:
    """The customer's account with a ticket, an asset and a contract; another account's too."""
    mine, other = desk.account("Klinikum Berlin", "gold"), desk.account("Stadtwerke Kiel", "silver")
    patch(desk.admin, "user", desk.user("customer"), {"account": mine["id"]})
    finance = desk.as_("finance")
    contract = {"tier": "gold", "start_date": "2027-01-01", "value": 12000}
    return {
        "account": mine,
        "other": other,
        "ticket": desk.ticket(account=mine["id"], subject="Switch stack reboots"),
        "foreign": desk.ticket(account=other["id"], subject="Someone else's problem"),
        "asset": desk.asset(mine),
        "foreign_asset": desk.asset(other),
        "contract": create(finance, "amc_contract", {"account": mine["id"], "title": "Campus network", **contract}),
        "foreign_contract": create(finance, "amc_contract", {"account": other["id"], "title": "Kiel WAN", **contract}),
    }


def test_a_customer_sees_their_own_accounts_tickets_contracts_and_assets(desk, portal):
    web = browser(desk.ws, "customer")
    home = web.get("/portal")
    assert home.status_code == 200
    page = home.get_data(as_text=True)
    assert "Switch stack reboots" in page and "Someone else" not in page
    assert portal["asset"]["serial_no"] in page and portal["foreign_asset"]["serial_no"] not in page
    assert portal["contract"]["number"] in page and portal["foreign_contract"]["number"] not in page
    assert "Stadtwerke Kiel" not in page
    assert 'class="sidebar' not in page  # the portal's own layout, not the staff shell

    tickets = web.get("/portal/tickets").get_data(as_text=True)
    assert "Switch stack reboots" in tickets and "Someone else" not in tickets
    assert web.get(f"/portal/tickets/{portal['foreign']['id']}").status_code == 404
    mine = web.get(f"/portal/tickets/{portal['ticket']['id']}")
    assert mine.status_code == 200 and "Switch stack reboots" in mine.get_data(as_text=True)


def test_a_customer_cannot_reach_the_staff_pages_and_staff_stay_out_of_the_portal(desk, portal):
    assert is_portal_user(Actor("u1", frozenset({"customer"})))
    assert not is_portal_user(Actor("u2", frozenset({"customer", "support_agent"})))  # staff first
    web = browser(desk.ws, "customer", next_page="")
    assert web.get("/").headers["Location"].endswith("/portal")
    for staff_page in ("/app/ticket", f"/app/ticket/{portal['ticket']['id']}", "/app/search?q=Kiel"):
        reply = web.get(staff_page)
        assert reply.status_code == 302 and reply.headers["Location"].endswith("/portal"), staff_page
    assert web.get("/app/events?entity=ticket").status_code == 403  # was a live stream of staff pages
    agent = browser(desk.ws, "support_lead")
    assert agent.get("/portal").headers["Location"].endswith("/")
    anonymous = create_app(desk.ws.config, desk.ws).test_client()
    assert "/login" in anonymous.get("/portal/tickets").headers["Location"]


def test_a_customer_opens_a_ticket_that_the_desk_sees(desk, portal):
    web = browser(desk.ws, "customer")
    form = web.get("/portal/tickets/new")
    page = form.get_data(as_text=True)
    for name in ("subject", "description", "asset", "impact", "urgency"):
        assert f'name="{name}"' in page, name
    assert portal["asset"]["asset_tag"] in page and portal["foreign_asset"]["asset_tag"] not in page
    assert "High - the whole business" in page  # the impact options' labels from the metadata

    empty = web.post("/portal/tickets/new", data={"csrf_token": csrf(form), "subject": "", "impact": "high"})
    assert empty.status_code == 422
    assert re.search(r'data-field-error="subject"', empty.get_data(as_text=True))
    assert len(listing(desk.lead, "ticket")) == 2  # nothing was written

    values = {"subject": "Scanner offline", "description": "Floor 3", "asset": portal["asset"]["id"]}
    opened = web.post("/portal/tickets/new", data={"csrf_token": csrf(form), "impact": "high", **values})
    assert opened.status_code == 302
    ticket_id = opened.headers["Location"].rsplit("/", 1)[1]
    seen = ok(desk.lead.get(f"/api/v1/ticket/{ticket_id}"))
    assert (seen["subject"], seen["account"], seen["channel"], seen["asset"]) == (
        "Scanner offline",
        portal["account"]["id"],
        "portal",
        portal["asset"]["id"],
    )
    assert "Scanner offline" in web.get(opened.headers["Location"]).get_data(as_text=True)
    forged = web.post("/portal/tickets/new", data={"subject": "No CSRF token"})  # not from our page
    assert forged.status_code in (302, 400, 403) and len(listing(desk.lead, "ticket")) == 3


def test_a_customer_reads_and_writes_public_comments_only(desk, portal):
    ticket = portal["ticket"]
    create(desk.lead, "ticket_comment", {"ticket": ticket["id"], "body": "Internal: firmware bug?"})
    create(desk.lead, "ticket_comment", {"ticket": ticket["id"], "body": "We are on it.", "visibility": "public"})
    web = browser(desk.ws, "customer")
    page = web.get(f"/portal/tickets/{ticket['id']}")
    text = page.get_data(as_text=True)
    assert "We are on it." in text and "firmware" not in text

    sent = web.post(
        f"/portal/tickets/{ticket['id']}/comments",
        data={"csrf_token": csrf(page), "body": "It happened again at 02:00."},
    )
    assert sent.status_code == 302
    comments = listing(desk.lead, "ticket_comment", ticket=ticket["id"])
    mine = [c for c in comments if c["body"] == "It happened again at 02:00."]
    assert mine and mine[0]["visibility"] == "public" and mine[0]["author"] == desk.user("customer")
    after = web.get(f"/portal/tickets/{ticket['id']}").get_data(as_text=True)
    assert "It happened again at 02:00." in after and "firmware" not in after

    blank = web.post(f"/portal/tickets/{ticket['id']}/comments", data={"csrf_token": csrf(page), "body": " "})
    assert blank.status_code == 422 and 'data-field-error="body"' in blank.get_data(as_text=True)
    foreign = web.post(
        f"/portal/tickets/{portal['foreign']['id']}/comments", data={"csrf_token": csrf(page), "body": "x"}
    )
    assert foreign.status_code in (404, 422)
    assert len(listing(desk.lead, "ticket_comment", ticket=portal["foreign"]["id"])) == 0
    assert len(listing(desk.lead, "ticket_comment", ticket=ticket["id"])) == 3
