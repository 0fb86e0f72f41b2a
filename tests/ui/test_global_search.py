"""Global search (``/app/search``) shows, per entity, the best few of the first matches the
database finds (``ui.search.RANKED``), title matches first; the "all results" list behind
it ranks every match. On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest

import ui.search
from tests.sales.rest import account
from tests.ui.pages import html


@pytest.fixture
def shop(sales_workspace: Any, api_client: Any, ui_client: Any) -> dict[str, Any]:
    ws = sales_workspace("core")
    return {"api": api_client(ws, "sales_rep"), "ui": ui_client(ws, "sales_rep")}


def shown(page: str, ids: dict[str, str]) -> list[str]:
    """The names of the accounts a search page links to, in the page's order."""
    by_id = {v: k for k, v in ids.items()}
    return [by_id[i] for i in re.findall(r"/app/account/([0-9a-f-]{36})", page) if i in by_id]


def test_title_matches_come_first_and_every_hit_matches(shop):
    ids = {name: account(shop["api"], name)["id"] for name in ("Alpha Quorra", "Beta Quorra", "Quorra Prime", "Delta")}
    page = html(shop["ui"].get("/app/search?q=quorra"))
    found = shown(page, ids)
    assert found[0] == "Quorra Prime"  # the name starts with the word
    assert sorted(found) == ["Alpha Quorra", "Beta Quorra", "Quorra Prime"]  # Delta does not match


def test_many_matches_show_a_few_of_the_first_found_and_all_results_ranks_them_all(shop, monkeypatch):
    monkeypatch.setattr(ui.search, "RANKED", 2)
    names = [f"Firm {n} Zyxel" for n in range(4)] + ["Zyxel Holding"]
    ids = {name: account(shop["api"], name)["id"] for name in names}
    page = html(shop["ui"].get("/app/search?q=zyxel"))
    found = shown(page, ids)
    assert len(set(found)) == 2 and all(name in names for name in found)  # two of the five, ranked
    everything = shop["api"].get("/api/v1/account?q=zyxel").get_json()["data"]
    assert everything[0]["name"] == "Zyxel Holding"  # the full list ranks every match
    assert len(everything) == 5
