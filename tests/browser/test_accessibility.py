"""Accessibility of the main pages, checked by axe-core (the axe-playwright-python package
carries it) in Chromium: no serious or critical violations (labels, contrast at WCAG 2.1
AA, landmarks, names of buttons and links). The rules run are axe's ``wcag2a``,
``wcag2aa``, ``wcag21a`` and ``wcag21aa`` tags."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_staff_ui import api
from tests.sales.rest import account

OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}


def violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=OPTIONS)
    found = results.response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v.get("impact") in ("serious", "critical")
    ]


def test_the_sign_in_page(browser: Any, served: dict[str, Any]) -> None:
    context = browser.new_context(base_url=served["url"])
    page = context.new_page()
    page.goto("/login")
    assert violations(page) == []
    context.close()


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/app/account",
        "/app/account/{account}",
        "/app/account/new",
        "/app/quote/new",
        "/app/search?q=zz",
        "/app/profile",
        "/app/opportunity",
    ],
)
def test_main_pages_have_no_serious_violations(as_role: Any, served: dict[str, Any], path: str) -> None:
    acc = account(api(served, "sales_rep"), f"Barrierefrei {path}")
    page = as_role("sales_rep")
    page.goto(path.format(account=acc["id"]))
    assert violations(page) == []
