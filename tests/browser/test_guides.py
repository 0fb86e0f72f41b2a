"""The role guides' lessons (docs/guides/), walked in a real browser on the demo workspace.

Each test signs in as a role's demo login (``tessera demo``: ``sales.rep@demo.tessera.dev``
and so on, with the demo's sample data), does what the role's lesson teaches, asserts what
the user sees at each step and writes the guide's screenshots to ``docs/guides/img/``
(``ROLE-STEP.png``, one 1280x800 viewport each), so the pictures are redrawn on every run
and never show a screen that no longer exists. ``TESSERA_GUIDE_IMAGES`` moves them elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.actor import SYSTEM
from engine.app import create_app
from engine.config import Config
from engine.demo import DEMO_DOMAIN, DEMO_PASSWORD, prepare_demo
from engine.workspace import Workspace
from tests.browser.conftest import MISSING

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

IMAGES = Path(os.environ.get("TESSERA_GUIDE_IMAGES", Path(__file__).parents[2] / "docs" / "guides" / "img"))
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The demo workspace (every pack, the sample data, one login per role), served on a free port.

    Seeding the demo takes minutes on a slow machine: ``TESSERA_GUIDE_DEMO_DB`` names a SQLite
    file prepared by ``tessera demo --no-serve`` to start from a copy of it instead.
    """
    if MISSING:
        pytest.skip(MISSING)
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("guides")
    if prepared := os.environ.get("TESSERA_GUIDE_DEMO_DB"):
        shutil.copyfile(prepared, tmp / "demo.db")
    config = Config(
        database_url=f"sqlite:///{tmp}/demo.db",
        secret_key="guides-" + "k" * 40,
        instance_path=tmp / "instance",
        password_hashing="fast",
        auth_rate_limit="1000 per minute",
    )
    prepare_demo(config)
    ws = Workspace(config, meta_check_interval=0)
    app = create_app(config, ws)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"ws": ws, "app": app, "url": f"http://127.0.0.1:{server.server_port}"}
    finally:
        server.shutdown()
        ws.close()


@pytest.fixture
def as_demo(browser: Any, served: dict[str, Any]) -> Iterator[Any]:
    """``page = as_demo("sales_rep")``: signed in through the login form with the role's demo login."""
    contexts = []

    def open_as(role: str) -> Any:
        context = browser.new_context(base_url=served["url"], viewport=VIEWPORT)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto("/login")
        page.get_by_label("E-mail").fill(f"{role.replace('_', '.')}@{DEMO_DOMAIN}")
        page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    yield open_as
    for context in contexts:
        context.close()


def shot(page: Any, role: str, step: str) -> None:
    """The guide's picture ``img/ROLE-STEP.png``: what the viewport shows, redrawn each run."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.wait_for_load_state()
    page.screenshot(path=str(IMAGES / f"{role}-{step}.png"), full_page=False)


def flashed(page: Any, text: str | re.Pattern[str] | None = None) -> None:
    """Wait for the page's message (a status or an alert), saying ``text`` when given."""
    found = page.get_by_role("status").or_(page.get_by_role("alert"))
    (found.filter(has_text=text) if text else found).first.wait_for()


def heading(page: Any) -> str:
    return str(page.get_by_role("heading", level=1).first.inner_text()).strip()


def records(served: dict[str, Any], entity: str, condition: str) -> list[dict[str, Any]]:
    listed = served["ws"].records.list(SYSTEM, entity, {"filter": condition, "limit": "50"})
    return list(listed.data)


def record_id(page: Any) -> str:
    return str(page.url.split("?")[0].rstrip("/").split("/")[-1])


def demo_user(served: dict[str, Any], role: str) -> str:
    [user] = records(served, "user", f'email == "{role.replace("_", ".")}@{DEMO_DOMAIN}"')
    return str(user["id"])


def open_first_row(page: Any) -> str:
    """Open the first record of a list; returns its title as the list shows it."""
    link = page.locator("table tbody tr").first.get_by_role("link").first
    title = str(link.inner_text()).strip()
    link.click()
    page.get_by_role("heading", level=1).wait_for()
    return title


def test_sales_rep_works_a_lead_logs_a_call_and_converts_it(as_demo: Any, served: dict[str, Any]) -> None:
    page = as_demo("sales_rep")
    assert page.get_by_role("navigation", name="Main menu").is_visible()
    page.goto('/app/lead?filter=owner == $user and status in ("new", "contacted")')
    assert int(page.locator("[data-total]").inner_text()) > 0  # the rep's own open leads
    shot(page, "sales_rep", "1-my-leads")
    open_first_row(page)
    lead_id = record_id(page)
    # the lead's page has no timeline card: the call is a new activity hanging off the lead
    page.goto(f"/app/activity/new?related_entity=lead&related_id={lead_id}")
    page.locator("[name=kind]").select_option("call")
    page.locator("[name=subject]").fill("Discovery call: budget and timing confirmed")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("heading", name="Discovery call: budget and timing confirmed").wait_for()
    [call] = records(served, "activity", 'subject == "Discovery call: budget and timing confirmed"')
    assert call["kind"] == "call" and call["related_id"] == lead_id
    shot(page, "sales_rep", "2-call-logged")
    page.goto(f"/app/lead/{lead_id}")
    page.get_by_role("button", name="Convert").click()
    flashed(page, "Convert: done.")
    [lead] = records(served, "lead", f'id == "{lead_id}"')
    assert lead["status"] == "converted" and lead["converted_account"]
    shot(page, "sales_rep", "3-converted")


def test_sales_manager_reads_the_team_dashboard_and_the_pipeline(as_demo: Any) -> None:
    page = as_demo("sales_manager")
    page.goto("/")
    assert "Sales" in heading(page)  # the manager's home: the team's sales dashboard
    assert page.locator("svg").count() > 0
    shot(page, "sales_manager", "1-dashboard")
    page.goto("/app/opportunity/board/stage")
    page.locator('[data-column="prospecting"]').wait_for()
    assert page.locator("[data-card]").count() > 0
    shot(page, "sales_manager", "2-pipeline")


def test_presales_opens_an_rfp_of_theirs(as_demo: Any) -> None:
    page = as_demo("presales")
    page.goto("/app/rfp?filter=presales_owner == $user")
    assert int(page.locator("[data-total]").inner_text()) > 0
    shot(page, "presales", "1-my-rfps")
    number = open_first_row(page)
    assert number.startswith("RFP-") and heading(page)  # the list links the number; the page is titled
    assert page.get_by_text("Due", exact=True).first.is_visible()
    shot(page, "presales", "2-rfp")


def row_link(page: Any, text: str) -> Any:
    """The link opening the list row that shows ``text`` (the first column, the number)."""
    return page.get_by_role("row").filter(has_text=text).get_by_role("link").first


def test_support_agent_takes_a_ticket_replies_and_resolves_it(as_demo: Any, served: dict[str, Any]) -> None:
    subject = "New starter needs access to the ERP"
    page = as_demo("support_agent")
    page.goto('/app/ticket?filter=assignee == $user and status not in ("resolved", "closed")')
    row_link(page, subject).wait_for()  # the agent's queue: the allocation rules assigned it
    shot(page, "support_agent", "1-queue")
    row_link(page, subject).click()
    page.get_by_role("heading", level=1).wait_for()
    ticket_id = record_id(page)
    page.get_by_role("button", name="Start work").click()  # take it: the customer sees it is handled
    flashed(page, "Start: done.")
    replies = page.locator("section", has=page.get_by_role("heading", name=re.compile("Ticket comments")))
    replies.get_by_role("link", name="add").click()
    page.locator("[name=body]").fill("Your ERP account is set up; the first sign-in asks for a new password.")
    page.locator("[name=visibility]").select_option("public")
    page.get_by_role("button", name="Create").click()
    page.get_by_role("heading", level=1).wait_for()
    page.goto(f"/app/ticket/{ticket_id}")
    reply = page.locator("section", has=page.get_by_role("heading", name=re.compile("Ticket comments")))
    reply.get_by_text("Your ERP account is set up").first.wait_for()
    reply.scroll_into_view_if_needed()
    shot(page, "support_agent", "2-replied")
    page.get_by_role("link", name="Edit").click()
    page.locator("[name=resolution]").fill("ERP account created and the welcome e-mail sent.")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Resolve").click()
    flashed(page, "Resolve: done.")
    [ticket] = records(served, "ticket", f'id == "{ticket_id}"')
    assert ticket["status"] == "resolved" and ticket["assignee"] == demo_user(served, "support_agent")
    assert ticket["first_response_at"]
    shot(page, "support_agent", "3-resolved")


def test_technician_starts_work_on_an_assigned_ticket(as_demo: Any, served: dict[str, Any]) -> None:
    page = as_demo("technician")
    page.goto('/app/ticket?filter=assignee == $user and status == "assigned"')
    row_link(page, "VPN drops every few minutes for the radiology team").click()
    page.get_by_role("heading", level=1).wait_for()
    ticket_id = record_id(page)
    shot(page, "technician", "1-assigned-ticket")
    page.get_by_role("button", name="Start work").click()
    flashed(page, "Start: done.")
    [ticket] = records(served, "ticket", f'id == "{ticket_id}"')
    assert ticket["status"] == "in_progress"
    page.goto('/app/ticket?filter=assignee == $user and status == "in_progress"')
    row_link(page, "VPN drops every few minutes for the radiology team").wait_for()
    shot(page, "technician", "2-my-work")


def test_support_lead_watches_the_support_dashboard_and_assigns(as_demo: Any, served: dict[str, Any]) -> None:
    page = as_demo("support_lead")
    page.goto("/")
    assert "Support" in heading(page)
    shot(page, "support_lead", "1-dashboard")
    page.goto('/app/ticket?filter=status not in ("resolved", "closed")')
    row_link(page, "Question about the invoice for the support contract").click()
    page.get_by_role("heading", level=1).wait_for()
    ticket_id = record_id(page)
    page.get_by_role("button", name="Assign").click()  # no one named: the allocation rules choose
    flashed(page, re.compile("Assign"))
    [ticket] = records(served, "ticket", f'id == "{ticket_id}"')
    assert ticket["assignee"]
    shot(page, "support_lead", "2-assigned")


def test_finance_reviews_orders_and_payments(as_demo: Any) -> None:
    page = as_demo("finance")
    page.goto("/app/order")
    assert int(page.locator("[data-total]").inner_text()) > 0
    shot(page, "finance", "1-orders")
    page.goto("/app/payment")
    assert int(page.locator("[data-total]").inner_text()) > 0
    shot(page, "finance", "2-payments")


def test_executive_reads_the_overview_and_drills_down(as_demo: Any) -> None:
    page = as_demo("executive")
    page.goto("/")
    assert "Executive" in heading(page)
    shot(page, "executive", "1-overview")
    page.locator("main svg a, main a[href*='filter']").first.click()
    page.locator("[data-total]").wait_for()
    assert "filter" in page.url  # exactly the records the figure counts
    shot(page, "executive", "2-drill-down")


def test_advertising_manager_reads_the_monitor_and_campaigns(as_demo: Any) -> None:
    page = as_demo("advertising_manager")
    page.goto("/")
    assert "Advertising monitor" in heading(page)
    shot(page, "advertising_manager", "1-monitor")
    page.goto("/app/campaign")
    assert int(page.locator("[data-total]").inner_text()) > 0
    shot(page, "advertising_manager", "2-campaigns")


def test_admin_adds_a_custom_field(as_demo: Any, served: dict[str, Any]) -> None:
    page = as_demo("admin")
    page.goto("/admin")
    shot(page, "admin", "1-admin-area")
    page.goto("/admin/entities")
    form = page.locator("#add-field")
    form.get_by_label("Entity").select_option("account")
    form.get_by_label("Name", exact=True).fill("newsletter_language")
    form.get_by_label("Label").fill("Newsletter language")
    form.get_by_label("Type", exact=True).select_option("enum")
    form.get_by_label("Options (enum; comma separated)").fill("en, de")
    form.get_by_role("button", name="Check").click()
    page.locator("[data-plan]").get_by_text("The check passed; nothing is stored yet.").wait_for()
    shot(page, "admin", "2-field-checked")
    # adding the column to a table of the full demo takes a while on a busy machine
    page.locator("#add-field").get_by_role("button", name="Add the field").click(timeout=120_000)
    page.get_by_role("status").filter(has_text="The field account.newsletter_language was added.").wait_for(
        timeout=120_000
    )
    page.goto("/app/account/new")
    page.get_by_label("Newsletter language").wait_for()
    shot(page, "admin", "3-field-on-form")


def test_portal_customer_opens_a_ticket(as_demo: Any, served: dict[str, Any]) -> None:
    page = as_demo("customer")
    assert page.url.endswith("/portal")  # customers land in the portal, never on staff pages
    page.get_by_text("VPN drops every few minutes for the radiology team").first.wait_for()  # their account's
    shot(page, "customer", "1-portal")
    page.goto("/portal/tickets/new")
    page.get_by_label("Subject").fill("Badge reader at the main entrance rejects cards")
    shot(page, "customer", "2-new-ticket")
    page.get_by_role("button", name="Open the ticket").click()
    page.get_by_text("Badge reader at the main entrance rejects cards").first.wait_for()
    [ticket] = records(served, "ticket", 'subject == "Badge reader at the main entrance rejects cards"')
    assert ticket["account"] and ticket["channel"] == "portal"
    shot(page, "customer", "3-ticket")
