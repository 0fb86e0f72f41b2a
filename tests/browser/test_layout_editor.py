"""In the browser: an admin drags a field into another section of the account layout, adds a
section, checks and saves it, and the forms follow; a sales rep looking at a record sees a
banner when someone else changes it (the details refresh in place), and on the edit form the
banner appears while what they typed stays as it is."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import screenshot
from tests.browser.test_accessibility import violations
from tests.browser.test_staff_ui import api
from tests.sales.rest import account, ok, patch
from ui import layout_editor, live  # noqa: F401 - the routes register on import (as in ui/__init__)


def section_of(page: Any, field: str) -> str:
    return page.locator(f'[data-field-card="{field}"]').evaluate("e => e.closest('[data-section]').dataset.section")


def test_drag_a_field_to_another_section_and_save_the_layout(as_role: Any, served: dict[str, Any]) -> None:
    admin = api(served, "admin")
    page = as_role("admin", width=1600)
    page.set_viewport_size({"width": 1600, "height": 4000})  # every section on screen: no scrolling while dragging
    page.goto("/admin/entities")
    page.locator('[data-entity="account"]').get_by_role("link", name="Form layout").click()
    page.get_by_role("heading", name=re.compile("Form layout: Account")).wait_for()
    first = page.locator("[data-section]").first
    first_key = first.get_attribute("data-section")
    assert section_of(page, "city") != first_key  # the address is not in the first section
    assert violations(page) == []
    # drag the city card into the first section: its section select follows
    page.locator('[data-field-card="city"]').drag_to(first.locator("[data-drop-zone]"))
    assert section_of(page, "city") == first_key
    assert page.locator("#field-city-section").input_value() == first_key
    # a new section, named, with a field dragged into it
    page.get_by_role("button", name="Add a section").click()
    added = page.locator("[data-section]").last
    added.locator("[data-section-label]").fill("From the browser")
    page.locator('[data-field-card="country"]').drag_to(added.locator("[data-drop-zone]"))
    assert section_of(page, "country") == added.get_attribute("data-section")
    # the first save shows the dry run; the second stores exactly that
    page.get_by_role("button", name="Save").click()
    page.locator("[data-checked-layout]").wait_for()
    assert "From the browser" in page.locator("[data-checked-layout]").inner_text()
    assert admin.client.get("/api/v1/meta/documents/layout/account", headers=admin.headers).status_code == 404
    screenshot(page, "admin-layout-editor")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("The layout of Account was saved.").wait_for()
    document = ok(admin.client.get("/api/v1/meta/documents/layout/account", headers=admin.headers))["document"]
    sections = {
        s["label"] if isinstance(s["label"], str) else s["label"]["en"]: s["fields"] for s in document["sections"]
    }
    first_label = page.locator("[data-section]").first.locator("[data-section-label]").input_value()
    assert "city" in sections[first_label] and sections["From the browser"] == ["country"]
    # the forms follow the saved layout
    form = as_role("sales_rep")
    form.goto("/app/account/new")
    assert form.locator("legend").filter(has_text="From the browser").count() == 1
    ok(admin.client.delete("/api/v1/meta/documents/layout/account", headers=admin.headers), 204)


def test_others_changes_show_a_banner_on_the_record_page_and_the_edit_form(
    as_role: Any, served: dict[str, Any]
) -> None:
    rep, admin = api(served, "sales_rep"), api(served, "admin")
    record = account(rep, "Live Banner GmbH", city="Kiel")
    page = as_role("sales_rep")
    page.goto(f"/app/account/{record['id']}")
    page.locator("[data-live-detail]").get_by_text("Kiel").wait_for()
    patch(admin, "account", record["id"], {"city": "Lübeck"})
    banner = page.locator("[data-record-banner]")
    banner.get_by_text("This record was changed by Admin").wait_for()
    assert banner.get_by_role("link", name="reload").is_visible()
    # nothing typed on the page: the details show the new value without a reload
    page.locator("[data-live-detail]").get_by_text("Lübeck").wait_for()
    assert violations(page) == []
    screenshot(page, "record-live-banner")
    # on the edit form the banner says so, and the user's typing is left alone
    page.goto(f"/app/account/{record['id']}/edit")
    page.locator("#f-city").fill("Rostock (typed)")
    patch(admin, "account", record["id"], {"city": "Hamburg"})
    page.locator("[data-record-banner]").get_by_text("This record was changed by").wait_for()
    assert page.locator("#f-city").input_value() == "Rostock (typed)"
    assert page.locator('input[name="version"]').input_value() == "2"  # the save will be a conflict
