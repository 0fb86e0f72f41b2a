"""Accessibility of the main pages, checked by axe-core (the axe-playwright-python package
carries it) in Chromium: no serious or critical violations (labels, contrast at WCAG 2.1
AA, landmarks, names of buttons and links). The rules run are axe's ``wcag2a``,
``wcag2aa``, ``wcag21a`` and ``wcag21aa`` tags."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_staff_ui import api
from tests.sales.procurement import opportunity
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


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("sales_rep", "/app/dashboards/my_sales"),
        ("sales_rep", "/app/dashboards/home"),
        ("sales_manager", "/app/reports"),
        ("sales_manager", "/app/reports/weekly_pipeline"),
    ],
)
def test_dashboards_with_figures_and_reports(as_role: Any, served: dict[str, Any], role: str, path: str) -> None:
    """Charts holding bars and slices (links inside the SVG) and report tables pass too."""
    rep = api(served, "sales_rep")
    acc = account(rep, f"Diagramm {role} {path}")
    for stage, amount in (("prospecting", "12000"), ("qualification", "34000")):
        opportunity(rep, acc["id"], name=f"Deal {stage}", stage=stage, amount=amount)
    page = as_role(role)
    page.goto(path)
    assert page.locator("main").count() == 1
    if path.endswith("my_sales"):
        assert page.locator("svg.chart a").count() >= 2  # the bars are there to be checked
    assert violations(page) == []
