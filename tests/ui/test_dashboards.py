"""Dashboard pages (``/app/dashboards/NAME``) through a signed-in browser session, over the
``dash_kit`` test pack: KPI tiles and SVG charts whose tiles, bars and slices link to the
filtered list, the from/to/owner form (a plain GET form), and a sales rep seeing only their
own figures. On SQLite and PostgreSQL."""

from __future__ import annotations

import html as htmllib
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import ui.dashboards  # noqa: F401 - the dashboard route (until ui/__init__ imports it)
from engine.workspace import Workspace
from tests.dashboard_figures import drill
from tests.sales.rest import create, ok, user_id
from tests.ui.pages import html as page

SVG = re.compile(r"<svg .*?</svg>", re.S)


def widget(text: str, name: str) -> str:
    found = re.search(rf'data-widget="{name}".*?(?=data-widget="|\Z)', text, re.S)
    assert found is not None, f"no widget {name}"
    return found.group(0)


def kpi(text: str, name: str) -> str:
    found = re.search(r'<div class="fs-3 fw-semibold text-body">([^<]*)</div>', widget(text, name))
    assert found is not None
    return found.group(1)


def _data(ws: Workspace, api_client: Callable[..., Any]) -> dict[str, Any]:
    rep, boss = api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    for api, name, stage, amount, closes in (
        (rep, "Alpha", "lead", "1000", "2026-01-15"),
        (rep, "Bravo", "offer", "2500", "2026-02-10"),
        (boss, "Delta", "offer", "700", "2026-03-05"),
        (boss, "Echo", "won", "9000", "2026-05-01"),
    ):
        create(api, "deal", {"name": name, "stage": stage, "amount": amount, "closes_on": closes})
    return {"rep": rep, "boss": boss, "admin": api_client(ws, "admin")}


def test_dashboard_page_links_every_figure_to_its_records(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any], ui_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("dash_kit")
    apis = _data(ws, api_client)
    assert ui_client(ws, "sales_manager").application.test_client().get("/app/dashboards/pipeline").status_code == 302
    boss = ui_client(ws, "sales_manager")
    text = page(boss.get("/app/dashboards/pipeline"))
    assert "<title>Pipeline" in text
    assert kpi(text, "deals") == "4" and kpi(text, "open_value") == "4,200.00"
    tile = re.search(r'<a class="card[^"]*dashboard-kpi" href="([^"]+)"[^>]*data-widget="deals"', text)
    assert tile is not None and htmllib.unescape(tile.group(1)) == "/app/deal"
    svgs = SVG.findall(text)
    assert len(svgs) == 6  # bar, funnel, line, bar, pie, pie
    for svg in svgs:
        assert "style" not in svg
        root = ET.fromstring(svg)
        assert root.get("role") == "group" and root.get("aria-label")  # a group: it holds links
    chart = ET.fromstring(SVG.findall(widget(text, "by_stage"))[0])
    links = {a.get("aria-label"): a.get("href") for a in chart.iter("{http://www.w3.org/2000/svg}a")}
    assert set(links) == {"Lead: 1,000", "Offer: 3,200", "Won: 9,000"}
    condition = parse_qs(urlsplit(links["Offer: 3,200"]).query)["filter"][0]
    assert sorted(r["name"] for r in drill(apis["boss"], "deal", condition)) == ["Bravo", "Delta"]
    listed = page(boss.get(links["Offer: 3,200"]))  # the drill-down is the list view
    assert "Bravo" in listed and "Delta" in listed and "Alpha" not in listed
    rows = re.findall(r"<tr><td><a href=\"/app/deal/[^\"]+\">([^<]+)</a>", widget(text, "biggest"))
    assert rows == ["Echo", "Bravo", "Alpha", "Delta"]


def test_the_filter_form_narrows_every_widget(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any], ui_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("dash_kit")
    apis = _data(ws, api_client)
    rep_id = user_id(apis["admin"], "sales_rep")
    boss = ui_client(ws, "sales_manager")
    text = page(boss.get("/app/dashboards/pipeline", query_string={"from": "2026-02-01", "to": "2026-03-31"}))
    assert kpi(text, "deals") == "2"
    assert 'name="from" value="2026-02-01"' in text and 'name="to" value="2026-03-31"' in text
    text = page(boss.get("/app/dashboards/pipeline", query_string={"owner": rep_id, "from": "", "to": ""}))
    assert kpi(text, "deals") == "2" and kpi(text, "open_value") == "3,500.00"
    assert f'<option value="{rep_id}" selected>' in text
    text = page(boss.get("/app/dashboards/pipeline", query_string={"from": "soon"}))
    assert 'role="alert"' in text and "from must be a date" in text
    assert kpi(text, "deals") == "4"  # the bad filter is ignored, and said so
    assert boss.get("/app/dashboards/nothing").status_code == 404
    ok(apis["boss"].get("/api/v1/dashboards"))


def test_a_sales_rep_sees_only_their_own_figures(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any], ui_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("dash_kit")
    _data(ws, api_client)
    rep = ui_client(ws, "sales_rep")
    text = page(rep.get("/app/dashboards/pipeline"))
    assert kpi(text, "deals") == "2" and kpi(text, "open_value") == "3,500.00"
    assert "Echo" not in text and "Delta" not in text
    assert "This figure cannot be shown" in widget(text, "avg_margin")  # a field hidden from reps
