"""In the browser: a customer opens a ticket in the portal and an agent sees it; a sales
rep drills down from a dashboard bar to the filtered list of exactly those deals."""

from __future__ import annotations

import re
import threading
from typing import Any

from engine.dashboard_cache import shared_for
from tests.browser.conftest import screenshot
from tests.browser.test_staff_ui import api
from tests.sales.procurement import opportunity, user_id
from tests.sales.rest import account, create, listing, patch


def test_a_customer_opens_a_ticket_in_the_portal_and_an_agent_sees_it(as_role: Any, served: dict[str, Any]) -> None:
    admin = api(served, "admin")
    customer_account = create(admin, "account", {"name": "Portal Kunde GmbH", "tier": "gold"})
    patch(admin, "user", user_id(admin, "customer"), {"account": customer_account["id"]})
    page = as_role("customer")
    assert page.url.endswith("/portal")  # customers land in the portal
    screenshot(page, "portal-home")
    page.goto("/app/account")
    assert page.url.endswith("/portal")  # and staff pages are not theirs
    page.goto("/portal/tickets/new")
    page.get_by_label("Subject").fill("Printer on floor 3 offline")
    page.get_by_role("button", name="Open the ticket").click()
    page.get_by_text("Printer on floor 3 offline").first.wait_for()
    screenshot(page, "portal-ticket")
    agent = as_role("support_agent")
    agent.goto("/app/ticket")
    agent.get_by_text("Printer on floor 3 offline").first.wait_for()
    screenshot(agent, "ticket-list")
    tickets = listing(api(served, "support_agent"), "ticket")
    assert [t["account"] for t in tickets if t["subject"] == "Printer on floor 3 offline"] == [customer_account["id"]]


def test_drill_down_from_a_dashboard_bar(as_role: Any, served: dict[str, Any]) -> None:
    rep, presales = api(served, "sales_rep"), user_id(api(served, "admin"), "presales")
    customer = account(rep, "Dashboard Kunde AG")
    for amount, stage in ((10000, "qualification"), (25000, "proposal"), (40000, "proposal")):
        opportunity(rep, customer["id"], stage=stage, amount=amount, presales_owner=presales)
    page = as_role("sales_rep")
    page.goto("/")
    screenshot(page, "dashboard-sales-rep")
    bar = page.locator("svg a[href*='stage']").filter(has=page.locator("title", has_text=re.compile("Proposal"))).first
    bar.click()
    page.wait_for_url(re.compile(r"/app/opportunity\?"))
    screenshot(page, "drill-down")
    api_count = len([o for o in listing(rep, "opportunity") if o["stage"] == "proposal" and not o["is_closed"]])
    assert api_count == 2 and page.locator("[data-total]").inner_text() == "2"
    assert "stage" in page.get_by_label("Condition (DSL)").input_value()  # the drill-down's filter, shown


def test_refresh_of_a_slow_dashboard_shows_the_kept_figures_then_the_fresh_ones(
    as_role: Any, served: dict[str, Any]
) -> None:
    """Refresh of a dashboard that takes long to compute answers at once with the figures it
    has ("updating"); the page then shows the fresh ones by itself when they are computed."""
    rep = api(served, "sales_rep")
    page = as_role("sales_rep")
    page.goto("/app/dashboards/my_sales")
    kpi = page.locator('[data-widget="open_activities"] .fs-3')
    before = int(kpi.inner_text())
    shared = shared_for(served["ws"])
    gate = threading.Event()  # the background computation waits until the test opens it

    def later(job: Any) -> None:
        threading.Thread(target=lambda: (gate.wait(60), job()), daemon=True).start()

    shared.slow, shared.later = 0.0, later  # every dashboard counts as slow
    try:
        page.get_by_role("link", name="Refresh").click()
        page.locator("[data-stale]").wait_for()  # answered at once: the kept figures, "updating"
        page.wait_for_function("() => !location.search.includes('refresh')")  # a reload forces nothing again
        assert int(kpi.inner_text()) == before
        create(rep, "activity", {"kind": "call", "subject": "Rückruf Dashboard", "due_at": "2030-01-01T09:00:00Z"})
        gate.set()
        page.wait_for_function(
            "n => !document.querySelector('[data-stale]') && "
            "document.querySelector('[data-widget=\"open_activities\"] .fs-3').textContent.trim() === String(n)",
            arg=before + 1,
        )
    finally:
        gate.set()
        shared.slow, shared.later = None, None
