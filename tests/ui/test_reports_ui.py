"""Report pages (``/app/reports``, ``/app/reports/NAME``) through a signed-in browser session, over
the ``report_kit`` test pack and the shipped reports of the dashboards pack: the list shows the
reports the user may open, the page shows the rows they may read with download buttons whose
files parse, a report for other roles is a 404 page. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from openpyxl import load_workbook

from engine.workspace import Workspace
from tests.sales.rest import account, aggregate, create, day, ok
from tests.ui.pages import html as page


def _rows(text: str) -> list[list[str]]:
    body = re.search(r"<tbody>(.*?)</tbody>", text, re.S)
    assert body is not None, "the page has no table"
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]


def _deals(ws: Workspace, api_client: Callable[..., Any]) -> None:
    rep, boss = api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    acme = create(boss, "account", {"name": "Acme"})["id"]
    for api, name, stage, amount in (
        (rep, "Alpha", "lead", "1000"),
        (rep, "Bravo", "offer", "2500"),
        (boss, "Delta", "offer", "700"),
    ):
        create(api, "deal", {"name": name, "stage": stage, "amount": amount, "account": acme})


def test_report_pages_show_what_the_user_may_read(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any], ui_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("report_kit")
    _deals(ws, api_client)
    boss, rep = ui_client(ws, "sales_manager"), ui_client(ws, "sales_rep")
    listed = page(boss.get("/app/reports"))
    assert re.findall(r'data-report="([a-z_]+)"', listed) == ["by_stage", "deals"]
    assert re.findall(r'data-report="([a-z_]+)"', page(rep.get("/app/reports"))) == ["deals"]
    text = page(boss.get("/app/reports/deals"))
    assert "<title>Deals" in text and "Download CSV" in text and "Download XLSX" in text
    rows = _rows(text)
    assert [r[0] for r in rows] == ["Bravo", "Alpha", "Delta"]  # by amount, largest first
    assert rows[0][1:4] == ["Acme", "Offer", "2,500.00"]
    assert re.search(r'<td><a href="/app/deal/[^"]+">Bravo</a></td>', text)
    mine = page(rep.get("/app/reports/deals"))
    assert [r[0] for r in _rows(mine)] == ["Bravo", "Alpha"] and "Margin" not in mine
    assert "Margin" in text
    summary = _rows(page(boss.get("/app/reports/by_stage")))
    assert summary == [["Offer", "2", "3,200.00"], ["Lead", "1", "1,000.00"]]
    refused = rep.get("/app/reports/by_stage")
    assert refused.status_code == 404 and "by_stage" in refused.get_data(as_text=True)
    signed_out = ui_client(ws, "sales_manager").application.test_client().get("/app/reports/deals")
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]


def test_the_download_buttons_give_files_that_parse(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any], ui_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("report_kit")
    _deals(ws, api_client)
    rep = ui_client(ws, "sales_rep")
    text = page(rep.get("/app/reports/deals"))
    links = dict(re.findall(r'href="(/app/reports/deals/download\.(csv|xlsx))"', text))
    assert set(links.values()) == {"csv", "xlsx"}
    reply = rep.get("/app/reports/deals/download.csv")
    assert reply.status_code == 200 and reply.mimetype == "text/csv"
    lines = list(csv.reader(io.StringIO(reply.get_data().decode("utf-8-sig"))))
    assert lines[0][:3] == ["Name", "Account: Name", "Stage"] and [r[0] for r in lines[1:]] == ["Bravo", "Alpha"]
    reply = rep.get("/app/reports/deals/download.xlsx")
    sheet = load_workbook(io.BytesIO(reply.get_data())).active
    assert sheet is not None
    assert [row[0].value for row in sheet.iter_rows()] == ["Name", "Bravo", "Alpha"]
    assert rep.get("/app/reports/deals/download.pdf").status_code == 404


def test_the_shipped_reports_match_the_aggregates(
    sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any], ui_client: Callable[..., Any]
) -> None:
    ws = sales_workspace("dashboards")
    rep, boss = api_client(ws, "sales_rep"), api_client(ws, "sales_manager")
    customer = account(boss)["id"]
    for api, name, amount in ((rep, "Network refresh", "12000"), (boss, "Campus WiFi", "30000")):
        create(api, "opportunity", {"name": name, "account": customer, "amount": amount, "expected_close": day(30)})
    manager = ui_client(ws, "sales_manager")
    listed = re.findall(r'data-report="([a-z_]+)"', page(manager.get("/app/reports")))
    assert {"weekly_pipeline", "expiring_licences"} <= set(listed) and "open_tickets" not in listed
    pipeline = ok(boss.get("/api/v1/reports/weekly_pipeline"))
    assert pipeline["schedule"] == {"cron": "0 7 * * 1", "timezone": "Europe/Berlin", "format": "xlsx"}
    expected = aggregate(
        boss,
        "opportunity",
        {"filter": "is_closed == false", "group_by": ["owner"], "metrics": {"v": "sum(amount)", "n": "count()"}},
    )
    names = [c["name"] for c in pipeline["columns"]]
    got = sorted((dict(zip(names, r["values"], strict=True)) for r in pipeline["rows"]), key=lambda r: r["deals"])
    assert [(r["deals"], Decimal(str(r["pipeline"]))) for r in got] == sorted(
        (r["n"], Decimal(str(r["v"]))) for r in expected
    )
    assert {r["owner"] for r in got} == {"Sales Manager"}  # by name; their team's deals only
    everyone = ok(api_client(ws, "director").get("/api/v1/reports/weekly_pipeline"))
    assert sorted(r["values"][0] for r in everyone["rows"]) == ["Sales Manager", "Sales Rep"]
    assert "Campus WiFi" not in page(manager.get("/app/reports/expiring_licences"))
    assert page(manager.get("/app/reports/weekly_pipeline")).count("<tr>") == 2  # the header and one owner
    lead = ui_client(ws, "support_lead")
    page(lead.get("/app/reports/open_tickets"))
    assert lead.get("/app/reports/weekly_pipeline").status_code == 404
