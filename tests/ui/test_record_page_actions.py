"""Record actions on the record page, through a signed-in browser session: an action that
takes input (a pack action's ``input:``, a transition's ``require``d fields) offers a small
form with the edit form's widgets and runs with what was typed, as ``POST
/api/v1/ENTITY/ID/actions/NAME`` would; refused input comes back with its messages and what
was typed; actions whose ``when`` guard is false are not offered; the approval history
shows its times formatted. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.actor import SYSTEM
from engine.automation.record_actions import offered_actions
from tests.sales.procurement import catalog, opportunity, price_lists, set_manager
from tests.sales.rest import account, act, create, day, get, ok, user_id
from tests.ui.pages import html


@pytest.fixture
def desk(sales_workspace: Any, api_client: Any, ui_client: Any) -> dict[str, Any]:
    ws = sales_workspace("tickets", "leads")
    roles = ("admin", "sales_rep", "sales_manager", "finance", "support_lead")
    return {"ws": ws, "api": {r: api_client(ws, r) for r in roles}, "ui": lambda role: ui_client(ws, role)}


def action_form(page: str, name: str) -> str:
    """The HTML of the record page's form for the action ``name`` (empty when there is none)."""
    found = re.search(rf'<details[^>]*data-action="{name}".*?</details>', page, re.S)
    return found.group(0) if found else ""


def test_an_action_with_input_offers_a_form_and_runs_with_what_was_typed(desk):
    rep_api, rep = desk["api"]["sales_rep"], desk["ui"]("sales_rep")
    lead = create(rep_api, "lead", {"last_name": "Novak", "company": "Novak Bau", "email": "j@novak.example"})
    page = html(rep.get(f"/app/lead/{lead['id']}"))
    form = action_form(page, "disqualify")
    assert f'action="/app/lead/{lead["id"]}/actions/disqualify"' in form
    assert '<select class="form-select" id="a-disqualify-reason" name="reason" required' in form
    assert '<option value="no_budget">' in form
    assert f'action="/app/lead/{lead["id"]}/actions/disqualify" class="d-inline"' not in page  # needs a reason
    # convert's inputs are optional: one click, or its form (a link is the edit form's picker)
    assert f'action="/app/lead/{lead["id"]}/actions/convert" class="d-inline"' in page
    assert 'name="account" value="" data-picker="account"' in action_form(page, "convert")
    done = rep.post(f"/app/lead/{lead['id']}/actions/disqualify", data={"csrf_token": rep.csrf, "reason": "no_budget"})
    assert done.status_code == 302, done.get_data(as_text=True)[:2000]
    after = get(rep_api, "lead", lead["id"])
    assert after["status"] == "unqualified" and after["disqualification_reason"] == "no_budget"
    history = ok(rep_api.get(f"/api/v1/lead/{lead['id']}/history"))["data"]
    assert any(h["action"] == "action" and h["changes"].get("input.reason") == [None, "no_budget"] for h in history)


def test_refused_input_comes_back_with_the_messages_and_what_was_typed(desk):
    rep_api, rep = desk["api"]["sales_rep"], desk["ui"]("sales_rep")
    lead = create(rep_api, "lead", {"last_name": "Berg", "company": "Berg Logistik", "email": "b@berg.example"})
    data = {"csrf_token": rep.csrf, "opportunity_name": "Fleet renewal", "amount": "-5"}
    page = html(rep.post(f"/app/lead/{lead['id']}/actions/convert", data=data), 422)
    form = action_form(page, "convert")
    assert " open>" in form and "The input of the action &#39;convert&#39; is not valid" in form
    assert 'value="Fleet renewal"' in form and 'value="-5"' in form
    assert 'id="a-convert-amount-err"' in form
    missing = html(rep.post(f"/app/lead/{lead['id']}/actions/disqualify", data={"csrf_token": rep.csrf}), 422)
    assert 'id="a-disqualify-reason-err">Is required.' in action_form(missing, "disqualify")
    assert get(rep_api, "lead", lead["id"])["status"] == "new"  # nothing was written


def test_a_transition_asks_for_its_required_fields_while_they_are_empty(desk):
    lead_api, ui = desk["api"]["support_lead"], desk["ui"]("support_lead")
    agent = user_id(desk["api"]["admin"], "support_agent")
    ticket = create(lead_api, "ticket", {"subject": "Printer on fire", "assignee": agent})
    page = html(ui.get(f"/app/ticket/{ticket['id']}"))
    assert '<textarea class="form-control" id="a-resolve-resolution" name="resolution"' in action_form(page, "resolve")
    refused = html(ui.post(f"/app/ticket/{ticket['id']}/actions/resolve", data={"csrf_token": ui.csrf}), 422)
    assert 'id="a-resolve-resolution-err"' in action_form(refused, "resolve")
    data = {"csrf_token": ui.csrf, "resolution": "Replaced the fuser"}
    assert ui.post(f"/app/ticket/{ticket['id']}/actions/resolve", data=data).status_code == 302
    after = get(lead_api, "ticket", ticket["id"])
    assert after["status"] == "resolved" and after["resolution"] == "Replaced the fuser"


def test_actions_whose_guard_is_false_are_not_offered(desk):
    manager_api, manager = desk["api"]["sales_manager"], desk["ui"]("sales_manager")
    acme = account(manager_api)
    values = {"title": "Campus network", "account": acme["id"], "tier": "gold", "end_date": day(300)}
    draft = create(manager_api, "amc_contract", values)
    assert "/actions/activate" in html(manager.get(f"/app/amc_contract/{draft['id']}"))
    ok(act(manager_api, "amc_contract", draft["id"], "activate"))
    page = html(manager.get(f"/app/amc_contract/{draft['id']}"))
    assert "/actions/activate" not in page and "/actions/renew" in page
    lead = create(manager_api, "lead", {"last_name": "Kraus", "email": "k@kraus.example"})
    ok(act(manager_api, "lead", lead["id"], "disqualify", {"reason": "spam"}))
    offered = offered_actions(desk["ws"].records, SYSTEM, "lead", desk["ws"].records.get(SYSTEM, "lead", lead["id"]))
    names = {a["name"] for a in offered}
    assert "disqualify" not in names and "convert" in names
    assert "merge" in names  # its guard reads $input: only running it can tell


def test_the_approval_history_shows_when_each_step_was_decided(desk):
    admin, rep_api, manager_api = desk["api"]["admin"], desk["api"]["sales_rep"], desk["api"]["sales_manager"]
    products = catalog(admin)
    price_lists(desk["api"]["finance"], products)
    set_manager(admin, "sales_rep", "sales_manager")
    deal = opportunity(rep_api, account(rep_api)["id"], stage="proposal", presales_owner=user_id(admin, "presales"))
    lines = [{"line_no": 1, "product": products["SW-48"]["id"], "qty": 2, "discount_pct": 15}]
    quote = create(rep_api, "quote", {"opportunity": deal["id"], "title": "Switches", "lines": lines})
    ok(act(rep_api, "quote", quote["id"], "submit"))
    ok(act(manager_api, "quote", quote["id"], "approve", {"comment": "Fine"}))
    page = html(desk["ui"]("sales_rep").get(f"/app/quote/{quote['id']}"))
    approvals = page.split('id="ap-h"', 1)[1].split("</section>", 1)[0]
    assert "Fine" in approvals and " UTC</small>" in approvals
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", approvals)  # no raw ISO timestamp
