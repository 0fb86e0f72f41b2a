"""Kanban boards (``/app/ENTITY/board/FIELD``) with the shipped packs, through a signed-in
browser session: deals by stage (the ``board:`` definition: card fields, sums) and tickets by
status (a workflow field: a move runs the transition). On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.actor import SYSTEM
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config
from tests.sales.procurement import opportunity
from tests.sales.rest import account, create, get, ok, patch, user_id
from tests.ui.pages import html
from ui import boards, live  # noqa: F401 - the routes register on import (as in ui/__init__)


def column(page: str, value: str) -> str:
    """The HTML of one column of a board page."""
    found = re.search(rf'<section class="kanban-column[^"]*" data-column="{value}".*?</section>', page, re.S)
    assert found is not None, f"no column {value}"
    return found.group(0)


def count(page: str, value: str) -> int:
    found = re.search(r"data-count[^>]*>(\d+)<", column(page, value))
    assert found is not None
    return int(found.group(1))


def move(client: Any, entity: str, field: str, body: dict[str, Any], csrf: str | None = None) -> Any:
    headers = {"X-CSRF-Token": client.csrf if csrf is None else csrf}
    return client.post(f"/app/{entity}/board/{field}/move", json=body, headers=headers)


# --- deals by stage ---------------------------------------------------------------------------
@pytest.fixture
def deals(sales_workspace: Any, api_client: Any, ui_client: Any) -> dict[str, Any]:
    ws = sales_workspace("deals")
    rep = api_client(ws, "sales_rep")
    acme = account(rep, "Acme Logistics")
    made = {
        "small": opportunity(rep, acme["id"], name="Small switch", amount="1000.00"),
        "big": opportunity(rep, acme["id"], name="Big campus", amount="2500.00"),
        "qualified": opportunity(rep, acme["id"], name="Qualified WLAN", amount="700.00"),
    }
    made["qualified"] = patch(rep, "opportunity", made["qualified"]["id"], {"stage": "qualification"})
    return {"ws": ws, "rep": rep, "ui": ui_client(ws, "sales_rep"), "account": acme, **made}


def test_deal_board_has_the_stages_with_counts_sums_and_cards(deals):
    page = html(deals["ui"].get("/app/opportunity/board/stage"))
    stages = re.findall(r'data-column="([a-z_]+)"', page)
    assert stages == [
        "prospecting",
        "qualification",
        "solution_design",
        "proposal",
        "negotiation",
        "closed_won",
        "closed_lost",
    ]
    assert count(page, "prospecting") == 2 and count(page, "qualification") == 1 and count(page, "proposal") == 0
    prospecting = column(page, "prospecting")
    assert "3,500.00" in prospecting  # the board's sum: amount
    assert "700.00" in column(page, "qualification")
    for deal in ("small", "big"):
        assert f'href="/app/opportunity/{deals[deal]["id"]}"' in prospecting
    assert "Acme Logistics" in prospecting  # card field account.name
    assert ">Prospecting<" in page and ">Closed lost<" in page  # option labels
    # the live updates and the move script are on the page, the no-JS move form on each card
    assert 'data-live-entity="opportunity"' in page and "board.js" in page and "live.js" in page
    assert prospecting.count('name="csrf_token"') == 2


def test_deal_board_filter_and_refusals_of_the_address(deals):
    page = html(deals["ui"].get("/app/opportunity/board/stage", query_string={"filter": "amount > 2000"}))
    assert count(page, "prospecting") == 1 and count(page, "qualification") == 0
    assert "Big campus" in page and "Small switch" not in page
    bad = html(deals["ui"].get("/app/opportunity/board/stage", query_string={"filter": "amount >"}), 400)
    assert "board-filter-error" in bad
    # another enum field makes a board too (columns in option order, no definition)
    by_type = html(deals["ui"].get("/app/opportunity/board/deal_type"))
    assert count(by_type, "new_business") == 3
    assert deals["ui"].get("/app/opportunity/board/amount").status_code == 404  # not an enum
    assert deals["ui"].get("/app/opportunity/board/nothing").status_code == 404
    assert deals["ui"].get("/app/no_such_entity/board/stage").status_code == 404


def test_moving_a_deal_updates_the_stage_and_refusals_change_nothing(deals):
    ui, small = deals["ui"], deals["small"]
    reply = move(ui, "opportunity", "stage", {"id": small["id"], "to": "qualification", "version": small["version"]})
    body = ok(reply)
    assert body["stage"] == "qualification" and body["transition"] is None and body["version"] > small["version"]
    assert get(deals["rep"], "opportunity", small["id"])["probability"] == 20  # the stage rule ran
    # closed lost needs a loss reason: the validation message comes back, nothing changes
    before = get(deals["rep"], "opportunity", small["id"])
    refused = move(ui, "opportunity", "stage", {"id": small["id"], "to": "closed_lost", "version": before["version"]})
    problem = ok(refused, 422)
    assert refused.mimetype == "application/problem+json"
    assert any(e["field"] == "loss_reason" for e in problem["errors"])
    assert get(deals["rep"], "opportunity", small["id"]) == before
    # a stale card: the version it was drawn with is no longer the record's
    stale = move(ui, "opportunity", "stage", {"id": small["id"], "to": "proposal", "version": small["version"]})
    assert ok(stale, 412)["detail"].startswith("The opportunity was changed since version")
    assert get(deals["rep"], "opportunity", small["id"]) == before
    # not a column of the board
    assert ok(move(ui, "opportunity", "stage", {"id": small["id"], "to": "won", "version": 1}), 422)
    # without the session's CSRF token the browser session may not write
    assert move(ui, "opportunity", "stage", {"id": small["id"], "to": "proposal"}, csrf="forged").status_code == 403
    assert get(deals["rep"], "opportunity", small["id"]) == before


def test_the_card_form_moves_without_javascript(deals):
    ui, big = deals["ui"], deals["big"]
    form = {"id": big["id"], "to": "qualification", "version": str(big["version"]), "csrf_token": ui.csrf}
    reply = ui.post("/app/opportunity/board/stage/move", data={**form, "filter": "amount > 10"})
    assert reply.status_code == 302
    assert reply.headers["Location"].startswith("/app/opportunity/board/stage?filter=amount")
    assert get(deals["rep"], "opportunity", big["id"])["stage"] == "qualification"
    page = html(ui.get(reply.headers["Location"]))
    assert "Big campus: moved to Qualification." in page
    # a refusal is shown on the board the form came back to
    again = {**form, "to": "closed_lost", "version": str(get(deals["rep"], "opportunity", big["id"])["version"])}
    reply = ui.post("/app/opportunity/board/stage/move", data=again)
    assert reply.status_code == 302
    assert "loss" in html(ui.get(reply.headers["Location"])).lower()
    assert get(deals["rep"], "opportunity", big["id"])["stage"] == "qualification"
    # a form without the token changes nothing
    reply = ui.post("/app/opportunity/board/stage/move", data={**form, "to": "negotiation", "csrf_token": "x"})
    assert reply.status_code == 302 and get(deals["rep"], "opportunity", big["id"])["stage"] == "qualification"


def test_a_board_shows_only_the_records_the_user_may_read(deals, api_client, ui_client):
    ws = deals["ws"]
    manager = api_client(ws, "sales_manager")
    other = opportunity(manager, deals["account"]["id"], name="Manager's own deal", amount="9000.00")
    rep_page = html(deals["ui"].get("/app/opportunity/board/stage"))
    assert "Manager&#39;s own deal" not in rep_page and count(rep_page, "prospecting") == 2
    assert "3,500.00" in column(rep_page, "prospecting")
    # and a card the rep may not read cannot be moved by id either
    refused = move(deals["ui"], "opportunity", "stage", {"id": other["id"], "to": "proposal"})
    assert refused.status_code == 404
    assert get(manager, "opportunity", other["id"])["stage"] == "prospecting"


# --- tickets by status (workflow) ------------------------------------------------------------------
@pytest.fixture
def desk(sales_workspace: Any, api_client: Any, ui_client: Any) -> dict[str, Any]:
    ws = sales_workspace("tickets")
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    agent = user_id(admin, "support_agent")
    # a ticket with an assignee leaves 'new' by itself (the allocation rules)
    tickets = {
        "assigned": create(lead, "ticket", {"subject": "Printer on fire", "assignee": agent}),
        "unassigned": create(lead, "ticket", {"subject": "Mouse squeaks", "assignee": agent}),
    }
    tickets["unassigned"] = patch(lead, "ticket", tickets["unassigned"]["id"], {"assignee": None})
    return {"ws": ws, "lead": lead, "ui": ui_client(ws, "support_lead"), **tickets}


def test_ticket_board_by_status(desk):
    page = html(desk["ui"].get("/app/ticket/board/status"))
    assert re.findall(r'data-column="([a-z_]+)"', page) == [
        "new",
        "assigned",
        "in_progress",
        "waiting_customer",
        "resolved",
        "closed",
    ]
    assert count(page, "assigned") == 2 and count(page, "new") == 0 and count(page, "in_progress") == 0
    assert "ticket_lifecycle" in page  # the page says moves run the workflow
    assert f'href="/app/ticket/{desk["assigned"]["id"]}"' in column(page, "assigned")


def test_moving_a_ticket_runs_the_workflow_transition(desk):
    ticket = get(desk["lead"], "ticket", desk["assigned"]["id"])
    reply = move(
        desk["ui"], "ticket", "status", {"id": ticket["id"], "to": "in_progress", "version": ticket["version"]}
    )
    body = ok(reply)
    assert body["status"] == "in_progress" and body["transition"] == "start"
    after = get(desk["lead"], "ticket", ticket["id"])
    assert after["status"] == "in_progress" and after["first_response_at"] is not None  # the step's action ran
    history = ok(desk["lead"].get(f"/api/v1/ticket/{ticket['id']}/history"))["data"]
    assert any(h["action"] == "transition" for h in history)
    page = html(desk["ui"].get("/app/ticket/board/status"))
    assert count(page, "in_progress") == 1 and count(page, "assigned") == 1


def test_a_move_the_workflow_forbids_is_refused_and_changes_nothing(desk, ui_client):
    ui, lead = desk["ui"], desk["lead"]
    loose = desk["unassigned"]
    before = get(lead, "ticket", loose["id"])
    # the guard: 'start' needs an assignee; its message comes back
    guarded = move(ui, "ticket", "status", {"id": loose["id"], "to": "in_progress", "version": before["version"]})
    assert ok(guarded, 422)["detail"] == "Assign the ticket first."
    # no transition leads from assigned to closed
    nowhere = move(ui, "ticket", "status", {"id": loose["id"], "to": "closed", "version": before["version"]})
    detail = ok(nowhere, 409)["detail"]
    assert detail.startswith("No step of the workflow leads from Assigned to Closed") and "Resolved" in detail
    # resolve needs a resolution
    unresolved = move(ui, "ticket", "status", {"id": loose["id"], "to": "resolved", "version": before["version"]})
    assert "resolution" in ok(unresolved, 422)["detail"]
    # a stale card
    stale = move(ui, "ticket", "status", {"id": loose["id"], "to": "resolved", "version": before["version"] - 1})
    assert "changed since version" in ok(stale, 412)["detail"]
    # a sales rep reads tickets but may not change them
    rep = ui_client(desk["ws"], "sales_rep")
    ticket = get(lead, "ticket", desk["assigned"]["id"])
    denied = move(rep, "ticket", "status", {"id": ticket["id"], "to": "in_progress", "version": ticket["version"]})
    assert denied.status_code == 403
    rep_page = html(rep.get("/app/ticket/board/status"))
    assert "data-movable" not in rep_page and 'name="to"' not in rep_page
    assert get(lead, "ticket", loose["id"]) == before
    assert get(lead, "ticket", ticket["id"])["status"] == "assigned"


# --- a board definition with every key (tests/packs/board_kit) ----------------------------------
@pytest.fixture
def chores(database_url: str, tmp_path: Any, ui_client: Any) -> Any:
    ws = Workspace(make_config(database_url, tmp_path, ("board_kit",)), meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "sales_rep@test.dev", "Rex Rep", PASSWORD, ["sales_rep"])
    acme = ws.records.create(SYSTEM, "maker", {"name": "Acme Tools"})
    for title, hours, state, size in (
        ("Sweep", "1.5", "todo", "s"),
        ("Paint", "6", "todo", "l"),
        ("Mow", "2.25", "doing", "m"),
        ("Someday", "3", "backlog", "m"),
        ("Unplanned", None, "todo", "s"),
    ):
        ws.records.create(
            SYSTEM, "chore", {"title": title, "hours": hours, "state": state, "size": size, "maker": acme["id"]}
        )
    yield ui_client(ws, "sales_rep")
    ws.close()


def test_the_board_definition_decides_columns_cards_sums_order_and_records(chores):
    page = html(chores.get("/app/chore/board/state"))
    assert re.findall(r'data-column="([a-z_]+)"', page) == ["todo", "doing", "done"]  # no backlog
    todo = column(page, "todo")
    assert count(page, "todo") == 2 and "Unplanned" not in page  # the filter: hours != null
    assert todo.index("Paint") < todo.index("Sweep")  # sort: -hours
    assert "Acme Tools" in todo and 'title="Maker"' in todo  # card: maker.name, labelled by the link
    assert "7.5" in todo and "2.25" in column(page, "doing")  # sum: hours
    assert ">Finished<" in page  # the option's label
    # ?filter= adds to the definition's filter
    narrowed = html(chores.get("/app/chore/board/state", query_string={"filter": "hours > 2"}))
    assert count(narrowed, "todo") == 1 and "Sweep" not in narrowed and "Paint" in narrowed
    # another enum field: every option, no definition (so no filter: all five chores)
    sizes = html(chores.get("/app/chore/board/size"))
    assert re.findall(r'data-column="([a-z_]+)"', sizes) == ["s", "m", "l"]
    assert (count(sizes, "s"), count(sizes, "m"), count(sizes, "l")) == (2, 2, 1)
