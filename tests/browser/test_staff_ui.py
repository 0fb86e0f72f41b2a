"""The staff web interface in a real browser (headless Chromium): sign in, create an account
and a contact with the generated forms, convert a lead, build a quote and take it through
the approval, the global search shortcut, a phone-sized layout. Screenshots of each main
page are saved (see conftest)."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import screenshot
from tests.conftest import PASSWORD
from tests.sales.conftest import ApiClient
from tests.sales.procurement import catalog, opportunity, price_lists, set_manager, user_id
from tests.sales.rest import account, create, get


def api(served: dict[str, Any], role: str) -> ApiClient:
    client = served["app"].test_client()
    reply = client.post("/api/v1/auth/token", json={"email": f"{role}@test.dev", "password": PASSWORD})
    return ApiClient(client, reply.get_json()["token"])


def test_sign_in_create_an_account_and_a_contact(as_role: Any, served: dict[str, Any]) -> None:
    page = as_role("sales_rep")
    assert page.get_by_role("navigation", name="Main menu").is_visible()
    screenshot(page, "home")
    page.get_by_role("link", name="Accounts").first.click()
    page.get_by_role("link", name=re.compile("New account")).click()
    page.get_by_role("button", name="Create").click()  # nothing filled in: the API's message
    assert page.locator("#f-name-err").is_visible()
    page.get_by_label("Name").first.fill("Browser Test GmbH")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("heading", name="Browser Test GmbH").wait_for()
    screenshot(page, "account-detail")
    page.get_by_role("link", name="add").first.click()  # the contacts related list: account prefilled
    page.get_by_label("First name").fill("Jana")
    page.get_by_label("Last name").fill("Petersen")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("heading", name=re.compile("Jana|Petersen")).wait_for()
    contact = api(served, "sales_rep").get("/api/v1/contact?filter=last_name%20%3D%3D%20%22Petersen%22").get_json()
    assert len(contact["data"]) == 1 and contact["data"][0]["account"]
    page.goto("/app/account")
    screenshot(page, "account-list")


def test_convert_a_lead_with_its_button(as_role: Any, served: dict[str, Any]) -> None:
    rep = api(served, "sales_rep")
    lead = create(
        rep,
        "lead",
        {"first_name": "Ole", "last_name": "Hansen", "company": "Hansen Werft KG", "email": "ole@hansen-werft.example"},
    )
    page = as_role("sales_rep")
    page.goto(f"/app/lead/{lead['id']}")
    screenshot(page, "lead-detail")
    page.get_by_role("button", name="Convert").click()
    page.get_by_role("status").or_(page.get_by_role("alert")).first.wait_for()
    converted = get(rep, "lead", lead["id"])
    assert converted["status"] == "converted" and converted["converted_account"]


def test_a_quote_with_lines_goes_through_approval(as_role: Any, served: dict[str, Any]) -> None:
    admin, rep = api(served, "admin"), api(served, "sales_rep")
    products = catalog(admin)
    price_lists(api(served, "finance"), products)
    set_manager(admin, "sales_rep", "sales_manager")
    deal = opportunity(
        rep, account(rep, "Quote Kunde AG")["id"], stage="proposal", presales_owner=user_id(admin, "presales")
    )
    page = as_role("sales_rep")
    page.goto(f"/app/quote/new?opportunity={deal['id']}")
    page.get_by_label("Title").fill("Switches for the branches")
    page.locator("select[name='lines.0.product']").select_option(products["SW-48"]["id"])
    page.locator("input[name='lines.0.qty']").fill("2")
    page.locator("input[name='lines.0.discount_pct']").fill("15")
    total = page.locator("[data-computed-field='net_total']")
    total.filter(has_text=re.compile(r"[1-9]")).wait_for()  # the live preview: the server's formulas
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # the line editor scrolls in its card
    screenshot(page, "quote-form")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("button", name="Submit for approval").click()
    page.get_by_role("status").first.wait_for()
    quote_id = page.url.rstrip("/").split("/")[-1]
    saved = get(rep, "quote", quote_id)
    assert saved["status"] == "pending_approval" and float(saved["net_total"]) > 0
    manager = as_role("sales_manager")
    manager.goto(f"/app/quote/{quote_id}")
    screenshot(manager, "quote-approval")
    manager.get_by_label("Comment").fill("Strategic branch rollout")
    manager.get_by_role("button", name="Approve").click()
    manager.get_by_role("status").first.wait_for()
    assert get(rep, "quote", quote_id)["status"] == "approved"


def test_search_shortcut_and_phone_layout(as_role: Any, served: dict[str, Any]) -> None:
    account(api(served, "sales_rep"), "Suchbar Systemhaus")
    page = as_role("sales_rep", width=390)
    assert not page.get_by_role("navigation", name="Main menu").is_visible()  # collapsed on a phone
    page.get_by_role("button", name="Show the menu").click()
    assert page.get_by_role("navigation", name="Main menu").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    screenshot(page, "phone-menu")
    page.keyboard.press("Escape")
    page.locator("body").click(position={"x": 5, "y": 400})
    page.keyboard.press("/")
    page.keyboard.type("suchbar")
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Suchbar Systemhaus").wait_for()
    screenshot(page, "search")
