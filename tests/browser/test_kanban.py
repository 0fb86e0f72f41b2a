"""In the browser: a sales rep drags a deal to the next stage on the kanban board, a move the
rules refuse comes back on the card (which returns to its column), and a change made by
someone else meanwhile shows the live "records changed" banner."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import screenshot
from tests.browser.test_staff_ui import api
from tests.sales.procurement import opportunity
from tests.sales.rest import account, get, patch
from ui import boards, live  # noqa: F401 - the routes register on import (as in ui/__init__)


def test_move_a_deal_on_the_kanban_and_see_others_changes_live(as_role: Any, served: dict[str, Any]) -> None:
    rep = api(served, "sales_rep")
    customer = account(rep, "Kanban Kunde GmbH")
    moving = opportunity(rep, customer["id"], name="Kanban switch refresh", amount=12000)
    refused = opportunity(rep, customer["id"], name="Kanban firewall", amount=8000)
    other = opportunity(rep, customer["id"], name="Kanban WLAN", amount=3000)
    page = as_role("sales_rep", width=2400)  # every column on screen: dragging needs no scrolling
    page.goto('/app/opportunity/board/stage?filter=name ~ "Kanban"')
    card = page.locator(f'[data-card="{moving["id"]}"]')
    card.drag_to(page.locator('[data-drop="qualification"]'))
    page.locator(f'[data-column="qualification"] [data-card="{moving["id"]}"][data-state="qualification"]').wait_for()
    assert get(rep, "opportunity", moving["id"])["stage"] == "qualification"
    # the card's own form (keyboard users): closed lost needs a loss reason, so it is refused
    form_card = page.locator(f'[data-card="{refused["id"]}"]')
    form_card.get_by_role("link").first.focus()  # the form shows while the card has the focus
    form_card.get_by_role("combobox").select_option("closed_lost")
    form_card.get_by_role("button", name="Move").click()
    form_card.locator("[data-refusal]").get_by_text("loss reason").wait_for()
    assert form_card.evaluate("e => e.closest('[data-column]').dataset.column") == "prospecting"
    assert get(rep, "opportunity", refused["id"])["stage"] == "prospecting"
    # someone else changes a deal on the board: the page says so
    patch(api(served, "admin"), "opportunity", other["id"], {"next_step": "Call the CIO"})
    page.locator("[data-live-banner]").get_by_text("1 record changed").wait_for()
    assert "kanban-changed" in (page.locator(f'[data-card="{other["id"]}"]').get_attribute("class") or "")
    screenshot(page, "kanban-deals")
