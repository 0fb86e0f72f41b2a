"""The administration area in a real browser (headless Chromium), as an administrator: invite
a user and set their roles, change a role's grant and restore the pack's, add a custom field
(checked first, nothing stored; then added and on the record form), write a rule with the
checker's error shown, preview the records it matches, save and switch it off, retry and
discard a failed job, search the audit trail. Every admin page passes axe-core's WCAG 2.1
A/AA rules with no violation at all (any impact), in the states these flows reach."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from engine.actor import SYSTEM
from engine.automation.jobs import InProcessRunner
from engine.storage.database import write_transaction
from tests.browser.conftest import screenshot
from tests.browser.test_staff_ui import api
from tests.sales.rest import account, create, listing, ok, user_id

AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}


def axe_violations(page: Any) -> list[str]:
    """Every WCAG 2.1 A/AA violation axe-core finds on the page, whatever its impact."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page, options=AXE_OPTIONS).response["violations"]
    return [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in found]


def flashed(page: Any, text: str | re.Pattern[str]) -> None:
    """Wait for the page's message (a status or an alert) saying ``text``."""
    page.get_by_role("status").or_(page.get_by_role("alert")).filter(has_text=text).first.wait_for()


ADMIN_PAGES = [
    "/admin",
    "/admin/users",
    "/admin/permissions?entity=account",
    "/admin/entities",
    "/admin/documents?kind=rule",
    "/admin/documents?kind=workflow",
    "/admin/documents/rule/new",
    "/admin/documents/rule/opportunity_created_stage?preview=1",
    "/admin/jobs?state=",
    "/admin/audit?entity=account",
]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_admin_pages_have_no_accessibility_violations(as_role: Any, path: str) -> None:
    page = as_role("admin")
    reply = page.goto(path)
    assert reply is not None and reply.status == 200
    assert axe_violations(page) == []


def test_the_admin_area_is_refused_to_others_and_its_tabs_lead_to_each_page(as_role: Any) -> None:
    rep = as_role("sales_rep")
    reply = rep.goto("/admin/users")
    assert reply is not None and reply.status == 403
    assert rep.get_by_text("You may not do this.").is_visible()
    page = as_role("admin")
    page.goto("/admin")
    screenshot(page, "admin-home")
    tabs = page.get_by_role("navigation", name="Administration")
    for tab, heading in (
        ("Users and roles", "Users and roles"),
        ("Permissions", "Permissions"),
        ("Entities and fields", "Entities and custom fields"),
        ("Automation", "Automation documents"),
        ("Job queue", "Job queue"),
        ("Audit", "Audit search"),
        ("Overview", "Administration"),
    ):
        tabs.get_by_role("link", name=tab, exact=True).click()
        page.get_by_role("heading", level=1, name=heading, exact=True).wait_for()
        assert tabs.locator("[aria-current=page]").inner_text() == tab


def test_invite_a_user_then_set_their_roles_and_disable_them(as_role: Any, served: dict[str, Any]) -> None:
    admin = api(served, "admin")
    page = as_role("admin")
    page.goto("/admin/users")
    page.get_by_label("E-mail").fill("neu.kollegin@test.dev")
    page.get_by_label("Full name").fill("Nele Neumann")
    page.get_by_label("Roles", exact=True).select_option(label="Sales representative")
    page.get_by_role("button", name="Send invitation").click()
    flashed(page, "neu.kollegin@test.dev is invited")
    row = page.locator('[data-user="neu.kollegin@test.dev"]')
    assert row.get_by_role("link", name="Nele Neumann").is_visible()
    [hire] = ok(admin.get("/api/v1/user?email=neu.kollegin@test.dev"))["data"]
    roles = {r["name"]: r["id"] for r in listing(admin, "role")}
    assert hire["roles"] == [roles["sales_rep"]]
    assert axe_violations(page) == []

    row.get_by_label("Roles of Nele Neumann").select_option(label=["Support agent", "Support lead"])
    row.get_by_role("button", name="Set roles").click()
    flashed(page, "Nele Neumann: saved.")
    hire = ok(admin.get(f"/api/v1/user/{hire['id']}"))
    assert sorted(hire["roles"]) == sorted([roles["support_agent"], roles["support_lead"]])
    selected = page.locator('[data-user="neu.kollegin@test.dev"] select option:checked').all_inner_texts()
    assert selected == ["Support agent", "Support lead"]  # the page shows what is stored

    page.locator('[data-user="neu.kollegin@test.dev"]').get_by_role("button", name="Disable").click()
    flashed(page, "Nele Neumann: saved.")
    assert page.locator('[data-user="neu.kollegin@test.dev"]').get_by_text("disabled").is_visible()
    assert ok(admin.get(f"/api/v1/user/{hire['id']}"))["active"] is False
    own = page.locator('[data-user="admin@test.dev"]').get_by_role("button", name="Disable")
    assert own.is_disabled()  # nobody locks themselves out
    assert axe_violations(page) == []
    screenshot(page, "admin-users")


def test_change_a_roles_grant_then_restore_the_packs(as_role: Any, served: dict[str, Any]) -> None:
    technician = api(served, "technician")
    assert technician.post("/api/v1/account", json={"name": "Technik Probe"}).status_code == 403
    page = as_role("admin")
    # saving returns to the role's card (#grant-ROLE); without smooth scrolling the buttons stand still
    page.emulate_media(reduced_motion="reduce")
    page.goto("/admin/permissions")
    page.get_by_label("Entity", exact=True).select_option("account")
    page.get_by_role("button", name="Show", exact=True).click()
    card = page.locator('[data-grant="technician"]')
    assert card.get_by_text("from the pack").is_visible()
    card.get_by_label("Grant of technician (YAML)").fill("read: everything\n")
    card.get_by_role("button", name="Save grant").click()
    flashed(page, "technician: not saved")
    assert technician.post("/api/v1/account", json={"name": "Technik Probe"}).status_code == 403

    card = page.locator('[data-grant="technician"]')
    card.get_by_label("Grant of technician (YAML)").fill("read: all\ncreate: true\n")
    card.get_by_role("button", name="Save grant").click()
    flashed(page, "technician: grant saved.")
    assert page.locator('[data-grant="technician"]').get_by_text("changed here").is_visible()
    create(technician, "account", {"name": "Technik Probe"})  # the new grant applies at once
    assert axe_violations(page) == []
    screenshot(page, "admin-permissions")

    page.locator('[data-grant="technician"]').get_by_role("button", name="Restore the pack's grant").click()
    flashed(page, "technician: the pack's grant applies again.")
    assert page.locator('[data-grant="technician"]').get_by_text("from the pack").is_visible()
    assert technician.post("/api/v1/account", json={"name": "Technik Probe 2"}).status_code == 403


def test_a_custom_field_is_checked_then_added_and_appears_on_the_form(as_role: Any, served: dict[str, Any]) -> None:
    admin = api(served, "admin")

    def account_fields() -> list[str]:
        return [f["name"] for f in ok(admin.get("/api/v1/meta/entities/account"))["fields"]]

    page = as_role("admin")
    page.goto("/admin/entities")
    form = page.locator("#add-field")
    form.get_by_label("Entity").select_option("account")
    form.get_by_label("Name", exact=True).fill("loyalty_level")
    form.get_by_label("Label").fill("Loyalty level")
    form.get_by_label("Type", exact=True).select_option("enum")
    form.get_by_label("Options (enum; comma separated)").fill("basic, plus, premium")
    form.get_by_label("More of the definition (YAML, optional)").fill("default: basic")
    form.get_by_role("button", name="Check").click()
    plan = page.locator("[data-plan]")
    plan.get_by_text("The check passed; nothing is stored yet.").wait_for()
    assert "loyalty_level" in plan.inner_text()  # the schema step: the new column
    assert "loyalty_level" not in account_fields()
    assert page.locator("#field-name").input_value() == "loyalty_level"  # the form keeps what was typed
    assert axe_violations(page) == []
    screenshot(page, "admin-field-check")

    page.locator("#add-field").get_by_role("button", name="Add the field").click()
    flashed(page, "The field account.loyalty_level was added.")
    assert "loyalty_level" in account_fields()

    page.goto("/app/account/new")
    loyalty = page.get_by_label("Loyalty level")
    assert loyalty.input_value() == "basic"  # the field's default, on the generated form
    page.get_by_label("Name").first.fill("Treue Kunden KG")
    loyalty.select_option("premium")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("heading", name="Treue Kunden KG").wait_for()
    [created] = listing(admin, "account", filter='name == "Treue Kunden KG"')
    assert created["loyalty_level"] == "premium"

    page.goto("/admin/entities")
    form = page.locator("#add-field")
    form.get_by_label("Entity").select_option("account")
    form.get_by_label("Name", exact=True).fill("partner")
    form.get_by_label("Type", exact=True).select_option("link")  # a link without "links to"
    form.get_by_role("button", name="Check").click()
    problems = page.locator("[data-problems]")
    problems.get_by_text("Not added").wait_for()
    assert "to" in problems.inner_text()
    assert "partner" not in account_fields()
    assert axe_violations(page) == []


RULE = """name: browser_north
entity: account
on: [update]
when: city == "Nordheim" and
do:
  - set: {description: "Nordheim branch"}
"""


def test_a_rule_is_checked_previewed_saved_and_switched_off(as_role: Any, served: dict[str, Any]) -> None:
    admin = api(served, "admin")
    for name, city in (("Nord Kontor", "Nordheim"), ("Nord Lager", "Nordheim"), ("Süd Kontor", "Südheim")):
        account(admin, name, city=city)
    page = as_role("admin")
    page.goto("/admin/documents?kind=rule")
    page.get_by_role("link", name="New rule").click()
    editor = page.get_by_label(re.compile("The rule \\(YAML"))
    editor.fill(RULE)
    page.get_by_role("button", name="Check").click()
    problems = page.locator("[data-problems]")
    problems.wait_for()
    assert "when" in problems.inner_text()  # the checker's error, with its place
    assert page.get_by_label(re.compile("The rule \\(YAML")).input_value().startswith("name: browser_north")
    assert axe_violations(page) == []
    assert admin.get("/api/v1/meta/documents/rule/browser_north").status_code == 404

    page.get_by_label(re.compile("The rule \\(YAML")).fill(RULE.replace(" and\n", "\n"))
    page.get_by_role("button", name="Check").click()
    page.locator("[data-plan]").get_by_text("The check passed").wait_for()
    page.get_by_role("button", name="Preview matching records").click()
    preview = page.locator("[data-preview]")
    preview.wait_for()
    assert preview.locator("[data-preview-total]").inner_text() == "2"
    names = preview.get_by_role("listitem").all_inner_texts()
    assert sorted(names) == ["Nord Kontor", "Nord Lager"]
    assert admin.get("/api/v1/meta/documents/rule/browser_north").status_code == 404  # a preview stores nothing
    assert axe_violations(page) == []
    screenshot(page, "admin-rule-preview")

    page.get_by_role("button", name="Save").click()
    flashed(page, "The rule browser_north was saved.")
    assert ok(admin.get("/api/v1/meta/documents/rule/browser_north"))["enabled"] is True
    preview.get_by_role("link", name="Nord Lager").wait_for(state="detached")
    page.get_by_role("link", name="All rule documents").click()
    row = page.locator('[data-document="browser_north"]')
    row.get_by_role("button", name="Switch off").click()
    flashed(page, "The rule browser_north is off.")
    assert page.locator('[data-document="browser_north"]').get_by_text("off", exact=True).is_visible()
    assert ok(admin.get("/api/v1/meta/documents/rule/browser_north"))["enabled"] is False
    assert axe_violations(page) == []
    page.locator('[data-document="browser_north"]').get_by_role("button", name="Delete").click()
    flashed(page, "The run-time rule browser_north was removed.")
    assert admin.get("/api/v1/meta/documents/rule/browser_north").status_code == 404


def test_a_failed_job_is_retried_and_discarded_from_the_queue(as_role: Any, served: dict[str, Any]) -> None:
    ws = served["ws"]
    now = dt.datetime.now(dt.UTC)
    with write_transaction(ws.db) as conn:
        job_id = ws.records._run(conn, ws.snapshot(), SYSTEM, now).outbox("nowhere", {"message": "hello"})
    InProcessRunner(ws).tick(now + dt.timedelta(seconds=1))  # an unknown channel: failed for good
    page = as_role("admin")
    page.goto("/admin")
    failed = page.locator(f'[data-job="{job_id}"]')
    assert "unknown channel" in failed.inner_text()
    assert int(page.locator('[data-metric="failed"]').first.inner_text()) >= 1
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Job queue").click()
    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Show", exact=True).click()
    page.locator(f'[data-job="{job_id}"]').get_by_role("button", name="Retry").click()
    flashed(page, f"Job {job_id}: queued again.")
    page.get_by_label("State").select_option("pending")
    page.get_by_role("button", name="Show", exact=True).click()
    row = page.locator(f'[data-job="{job_id}"]')
    assert "pending" in row.inner_text()
    assert axe_violations(page) == []
    screenshot(page, "admin-jobs")
    row.get_by_role("button", name="Discard").click()
    flashed(page, f"Job {job_id}: discarded.")
    page.get_by_label("State").select_option("discarded")
    page.get_by_role("button", name="Show", exact=True).click()
    assert page.locator(f'[data-job="{job_id}"]').is_visible()


def test_the_audit_search_finds_a_records_changes(as_role: Any, served: dict[str, Any]) -> None:
    rep = api(served, "sales_rep")
    made = account(rep, "Audit Spur GmbH")
    ok(rep.patch(f"/api/v1/account/{made['id']}", json={"city": "Kiel"}))
    page = as_role("admin")
    page.goto("/admin/audit")
    page.get_by_label("Entity").fill("account")
    page.get_by_label("Record id").fill(made["id"])
    page.get_by_role("button", name="Search").click()
    rows = page.locator("table tbody tr")
    rows.first.wait_for()
    actions = [rows.nth(i).locator("td").nth(2).inner_text() for i in range(rows.count())]
    assert sorted(actions) == ["create", "update"]
    assert "Kiel" in page.locator("table").inner_text()
    who = user_id(api(served, "admin"), "sales_rep")
    assert page.locator(f'table a[href="/app/user/{who}"]').count() == 2
    assert axe_violations(page) == []
    screenshot(page, "admin-audit")
    page.goto("/admin/audit?since=yesterday")  # a bad filter: the engine's message, no table
    page.get_by_role("alert").filter(has_text="ISO 8601").wait_for()
