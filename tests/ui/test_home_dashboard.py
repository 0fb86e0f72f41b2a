"""The ``home`` dashboard page (``/app/dashboards/home``, and ``/`` for roles without a
dashboard of their own) in a signed-in browser session: today's date and the days left in the
month, the quote of the day as a blockquote, the conversion-rate tile and bars linking to the
leads they are over and to the converted ones. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import html as htmllib
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from markupsafe import escape

import ui.dashboards  # noqa: F401 - the dashboard route
from engine.workspace import Workspace
from tests.sales.rest import create, ok
from tests.ui.pages import html as page
from tests.ui.test_dashboards import SVG, kpi, widget

T0 = dt.datetime(2026, 3, 31, 10, 0, tzinfo=dt.UTC)  # the last day of March


def _leads(api: Any) -> None:
    """Three web-form leads of the rep, one converted, and a converted referral: 2 of 4."""
    for name, source, convert in (
        ("Ashdown", "webform", True),
        ("Birchley", "webform", False),
        ("Copperfield", "webform", False),
        ("Dunmore", "referral", True),
    ):
        made = create(api, "lead", {"last_name": name, "email": f"{name.lower()}@example.org", "source": source})
        if convert:
            ok(api.post(f"/api/v1/lead/{made['id']}/actions/convert", json={}))


def test_home_page_shows_the_day_the_quote_and_the_conversion_drill_downs(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any], ui_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("dashboards")
    ws.records.clock = lambda: T0
    api = api_client(ws, "sales_rep")
    _leads(api)
    rep = ui_client(ws, "sales_rep")
    text = page(rep.get("/app/dashboards/home"))

    day = widget(text, "today")
    assert '<time datetime="2026-03-31">31 Mar 2026</time>' in day and "Tuesday" in day
    assert "Last day of the month" in day
    assert re.search(r'href="/app/calendar\?view=day&amp;date=2026-03-31"[^>]*data-widget="today"', text)

    quote = ok(api.get("/api/v1/dashboards/home"))["widgets"][-1]
    block = re.search(r"<blockquote[^>]*><p[^>]*>(.*?)</p></blockquote>", widget(text, "quote_of_the_day"), re.S)
    assert block is not None and block.group(1) == str(escape(quote["text"]))
    assert f'<figcaption class="blockquote-footer mb-0">{escape(quote["author"])}</figcaption>' in text

    assert kpi(text, "conversion_rate") == "50.0 %" and kpi(text, "my_leads") == "4"
    matches = re.search(r'<a class="small dashboard-matches" href="([^"]+)"[^>]*>2 of 4</a>', text)
    assert matches is not None
    converted = page(rep.get(htmllib.unescape(matches.group(1))))  # the drill-down is the list view
    assert "Ashdown" in converted and "Dunmore" in converted and "Birchley" not in converted

    chart = ET.fromstring(SVG.findall(widget(text, "conversion_by_source"))[0])
    bars = {a.get("aria-label"): a.get("href") for a in chart.iter("{http://www.w3.org/2000/svg}a")}
    assert set(bars) == {"Web form: 33.3 %", "Referral: 100.0 %"}
    web = page(rep.get(bars["Web form: 33.3 %"]))  # a bar lists the leads its rate is over
    assert all(name in web for name in ("Ashdown", "Birchley", "Copperfield")) and "Dunmore" not in web
    links = re.findall(
        r'<li class="list-inline-item"><a href="([^"]+)">([^<]+)</a>', widget(text, "conversion_by_source")
    )
    assert [label for _, label in links] == ["Web form: 1 of 3", "Referral: 1 of 1"]
    only = page(rep.get(htmllib.unescape(links[0][0])))
    assert "Ashdown" in only and "Birchley" not in only

    ws.records.clock = lambda: T0 + dt.timedelta(days=1)  # the next day: another quote, 29 days left
    later = page(rep.get("/app/dashboards/home"))
    assert "29 days left in the month, 90 in the quarter" in widget(later, "today")
    assert str(escape(quote["text"])) not in widget(later, "quote_of_the_day")


def test_roles_without_a_dashboard_land_on_home_without_what_they_may_not_read(
    sales_workspace: Callable[..., Workspace], ui_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("dashboards")
    technician = page(ui_client(ws, "technician").get("/"))
    assert "<title>Home" in technician and 'data-widget="today"' in technician
    assert 'data-widget="today_activities"' in technician and "<blockquote" in technician
    assert 'data-widget="conversion_rate"' not in technician and "/app/lead" not in technician
    rep = page(ui_client(ws, "sales_rep").get("/"))
    assert "<title>My sales" in rep  # a role's own dashboard stays its start page
    assert 'href="/app/dashboards/home"' in rep  # and home is a click away
