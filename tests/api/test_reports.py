"""Reports from YAML (``engine.reports``) over the ``report_kit`` test pack, on SQLite and PostgreSQL.

A report's rows are computed as the caller (a sales rep sees their own deals and not the hidden
margin); a role the report does not name cannot open it; the CSV and XLSX downloads parse and
neutralise formulas; a scheduled report queues one e-mail per recipient, each computed as that
recipient, once per period; a bad report document is a ``tessera check`` problem at its place.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from engine.app import create_app
from engine.automation.delivery import build_email
from engine.automation.jobs import InProcessRunner
from engine.checking import check_packs
from engine.security.users import create_user, ensure_roles
from engine.storage import system_tables as st
from engine.workspace import Workspace
from tests.conftest import PASSWORD, Api, make_config, sign_in

DEALS = [  # (owner, name, account, stage, amount, margin)
    ("rep", "Alpha", "Acme", "lead", "1000", "10"),
    ("rep", '=HYPERLINK("http://evil")', "Acme", "offer", "2500.50", "20"),
    ("rep2", "Delta", "Globex", "offer", "700", "30"),
    ("boss", "Echo", "Globex", "won", "9000", "40"),
]
MONDAY = dt.datetime(2026, 3, 2, 7, 0, 30, tzinfo=dt.UTC)


@pytest.fixture
def kit(database_url: str, tmp_path: Path) -> Iterator[tuple[Workspace, dict[str, Api]]]:
    ws = Workspace(make_config(database_url, tmp_path, ("report_kit",)), meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    people = (("admin", "admin"), ("rep", "sales_rep"), ("rep2", "sales_rep"), ("boss", "sales_manager"))
    for who, role in (*people, ("agent", "support_agent")):
        create_user(ws, f"{who}@test.dev", who.title(), PASSWORD, [role])
    client = create_app(ws.config, ws).test_client()
    apis = {who: sign_in(client, f"{who}@test.dev") for who in ("admin", "rep", "rep2", "boss", "agent")}
    accounts = {}
    for name in ("Acme", "Globex"):
        reply = apis["boss"].post("account", {"name": name})
        assert reply.status_code == 201, reply.get_json()
        accounts[name] = reply.get_json()["id"]
    for owner, name, account, stage, amount, margin in DEALS:
        values = {"name": name, "account": accounts[account], "stage": stage, "amount": amount}
        if owner == "boss":  # the margin is hidden from sales reps: they cannot write it either
            values["margin"] = margin
        reply = apis[owner].post("deal", values)
        assert reply.status_code == 201, reply.get_json()
    yield ws, apis
    ws.close()


def _ok(reply: Any, status: int = 200) -> Any:
    assert reply.status_code == status, reply.get_data(as_text=True)[:2000]
    return reply.get_json()


def _table(report: dict[str, Any]) -> list[dict[str, Any]]:
    names = [c["name"] for c in report["columns"]]
    return [dict(zip(names, row["values"], strict=True)) for row in report["rows"]]


def test_rows_are_computed_as_the_caller(kit: tuple[Workspace, dict[str, Api]]) -> None:
    _, apis = kit
    boss = _ok(apis["boss"].get("/api/v1/reports/deals"))
    assert boss["label"] == "Deals" and boss["kind"] == "records" and boss["truncated"] is False
    assert [c["name"] for c in boss["columns"]] == [
        "name", "account.name", "stage", "amount", "margin", "closes_on", "owner",
    ]  # fmt: skip
    rows = _table(boss)
    assert [r["name"] for r in rows] == ["Echo", '=HYPERLINK("http://evil")', "Alpha", "Delta"]  # -amount
    assert rows[0]["account.name"] == "Globex" and rows[0]["stage"] == "Won" and rows[0]["owner"] == "Boss"
    assert Decimal(str(rows[0]["amount"])) == Decimal("9000") and Decimal(str(rows[0]["margin"])) == 40
    assert boss["rows"][0]["url"].startswith("/app/deal/")
    # a sales rep: their own deals only, and the margin hidden from them is no column at all
    rep = _ok(apis["rep"].get("/api/v1/reports/deals"))
    assert "margin" not in [c["name"] for c in rep["columns"]]
    assert sorted(r["name"] for r in _table(rep)) == ['=HYPERLINK("http://evil")', "Alpha"]
    summary = _ok(apis["boss"].get("/api/v1/reports/by_stage"))
    assert summary["kind"] == "summary"
    assert [c["label"] for c in summary["columns"]] == ["Stage", "Deals", "Value"]
    assert [(r["stage"], r["deals"], Decimal(str(r["value"]))) for r in _table(summary)] == [
        ("Offer", 2, Decimal("3200.50")),
        ("Lead", 1, Decimal("1000")),
    ]


def test_only_listed_roles_may_open_a_report(kit: tuple[Workspace, dict[str, Api]]) -> None:
    _, apis = kit
    assert [r["name"] for r in _ok(apis["boss"].get("/api/v1/reports"))["data"]] == ["by_stage", "deals"]
    assert [r["name"] for r in _ok(apis["rep"].get("/api/v1/reports"))["data"]] == ["deals"]
    assert _ok(apis["agent"].get("/api/v1/reports"))["data"] == []  # no role listed, no deals readable
    for who, name in (("rep", "by_stage"), ("agent", "deals"), ("boss", "nothing")):
        reply = apis[who].get(f"/api/v1/reports/{name}")
        assert reply.status_code == 404 and reply.mimetype == "application/problem+json", (who, name)
    assert apis["admin"].get("/api/v1/reports/by_stage").status_code == 200  # administrators may open any
    for query in ({"format": "pdf"}, {"colour": "red"}):
        assert apis["boss"].get("/api/v1/reports/deals", query_string=query).status_code == 400
    listed = _ok(apis["boss"].get("/api/v1/reports"))["data"]
    assert listed[1]["schedule"] == {"cron": "0 7 * * 1", "timezone": "UTC", "format": "csv"}


def test_csv_and_xlsx_downloads_parse_and_neutralise_formulas(kit: tuple[Workspace, dict[str, Api]]) -> None:
    _, apis = kit
    reply = apis["rep"].get("/api/v1/reports/deals", query_string={"format": "csv"})
    assert reply.status_code == 200 and reply.mimetype == "text/csv"
    assert 'filename="deals-' in reply.headers["Content-Disposition"]
    lines = list(csv.reader(io.StringIO(reply.get_data().decode("utf-8-sig"))))
    assert lines[0] == ["Name", "Account: Name", "Stage", "Amount", "Closes on", "Owner"]
    assert sorted(line[0] for line in lines[1:]) == ['\'=HYPERLINK("http://evil")', "Alpha"]
    assert {line[1] for line in lines[1:]} == {"Acme"}
    reply = apis["boss"].get("/api/v1/reports/by_stage", query_string={"format": "xlsx"})
    assert reply.status_code == 200 and reply.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(reply.get_data())).active
    assert sheet is not None
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0] == ["Stage", "Deals", "Value"]
    assert [(r[0], r[1], Decimal(str(r[2]))) for r in cells[1:]] == [
        ("Offer", 2, Decimal("3200.5")),
        ("Lead", 1, Decimal("1000")),
    ]


def _emails(ws: Workspace) -> list[dict[str, Any]]:
    o = st.outbox
    with ws.db.connect() as conn:
        rows = conn.execute(sa.select(o.c.payload).where(o.c.channel == "email").order_by(o.c.created_at)).all()
    return [row.payload for row in rows if row.payload.get("report")]


def _attachment(payload: dict[str, Any]) -> bytes:
    (attached,) = payload["attachments"]
    return base64.b64decode(attached["data"])


def test_a_scheduled_report_emails_each_recipient_their_own_rows_once(
    kit: tuple[Workspace, dict[str, Api]],
) -> None:
    ws, _ = kit
    runner = InProcessRunner(ws)
    runner.tick(MONDAY - dt.timedelta(minutes=5))  # 06:55 UTC: by_stage (07:30 Berlin) is due, deals is not
    sent = _emails(ws)
    assert [(p["report"], p["to"]) for p in sent] == [("by_stage", "boss@test.dev")]  # reps may not open it
    sheet = load_workbook(io.BytesIO(_attachment(sent[0]))).active
    assert sheet is not None and [c.value for c in next(sheet.iter_rows())] == ["Stage", "Deals", "Value"]
    runner.tick(MONDAY)
    deals = [p for p in _emails(ws) if p["report"] == "deals"]
    # one e-mail per recipient user: the reps by role and the manager by address; no e-mail to an outsider
    assert sorted(p["to"] for p in deals) == ["boss@test.dev", "rep2@test.dev", "rep@test.dev"]
    files = {p["to"]: _attachment(p).decode("utf-8-sig") for p in deals}
    assert "Alpha" in files["rep@test.dev"] and "Delta" not in files["rep@test.dev"]
    assert "Margin" not in files["rep@test.dev"] and "Margin" in files["boss@test.dev"]
    assert [ln.split(",")[0] for ln in files["rep2@test.dev"].splitlines()[1:]] == ["Delta"]
    assert all(p["attachments"][0]["filename"] == "deals-2026-03-02.csv" for p in deals)
    assert deals[0]["subject"] == "Deals (2026-03-02)" and "/app/reports/deals" in deals[0]["body"]
    message = build_email(ws, {"id": "r1", "payload": deals[0]})  # what the e-mail channel sends
    (attached,) = list(message.iter_attachments())
    assert attached.get_filename() == "deals-2026-03-02.csv" and attached.get_content_type() == "text/csv"
    assert attached.get_payload(decode=True) == _attachment(deals[0])
    # the same slot again, a minute later or from a second worker: nothing more
    runner.tick(MONDAY + dt.timedelta(minutes=1))
    InProcessRunner(ws).tick(MONDAY + dt.timedelta(minutes=20))
    assert len([p for p in _emails(ws) if p["report"] == "deals"]) == 3
    # next Monday is the next period
    runner.tick(MONDAY + dt.timedelta(days=7))
    assert len([p for p in _emails(ws) if p["report"] == "deals"]) == 6


def test_an_administrator_changes_a_report_as_an_overlay(kit: tuple[Workspace, dict[str, Api]]) -> None:
    _, apis = kit
    admin, boss = apis["admin"], apis["boss"]
    shipped = _ok(admin.get("meta/documents/report/by_stage"))
    assert shipped["kind"] == "report" and shipped["source"] == "report_kit"
    won = {"report": "by_stage", "entity": "deal", "roles": ["sales_manager"], "filter": "stage == 'won'"}
    _ok(admin.put("meta/documents/report/by_stage", {**won, "aggregates": {"value": "sum(amount)"}}))
    rows = _table(_ok(boss.get("/api/v1/reports/by_stage")))
    assert [Decimal(str(r["value"])) for r in rows] == [Decimal("9000")]
    by_margin = {"report": "deals", "entity": "deal", "columns": ["name"], "sort": "-margin"}
    _ok(admin.put("meta/documents/report/deals", {**by_margin, "roles": ["sales_rep", "sales_manager"]}))
    assert next(r["name"] for r in _table(_ok(boss.get("/api/v1/reports/deals")))) == "Echo"  # the only margin
    mine = _ok(apis["rep"].get("/api/v1/reports/deals"))  # the margin is hidden from reps: unsorted, not refused
    assert sorted(r["name"] for r in _table(mine)) == ['=HYPERLINK("http://evil")', "Alpha"]
    bad = {"report": "extra", "entity": "deal", "columns": ["name", "colour"]}
    reply = admin.post("meta/documents/report", bad)
    assert reply.status_code == 422 and "deal has no field 'colour'" in str(reply.get_json())
    assert boss.get("/api/v1/reports/extra").status_code == 404


BAD_REPORT = """\
report: broken
entity: deal
filter: 'stage == '
columns: [name, colour, account.nope, stage.name]
sort: -nothing
schedule:
  cron: '61 7 * * 1'
  timezone: Mars/Olympus
  recipients: {roles: [sales_manager]}
"""
BAD_SUMMARY = """\
report: broken_summary
entity: nothing
group_by: [stage]
"""
MIXED = """\
report: mixed
entity: deal
columns: [name]
group_by: [name:month]
aggregates: {total: sum(name), n: count()}
"""


def test_the_checker_reports_bad_report_documents(database_url: str, tmp_path: Path) -> None:
    pack = tmp_path / "bad_reports"
    (pack / "reports").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: bad_reports\nversion: 1.0.0\ndepends: [report_kit]\n")
    (pack / "reports" / "broken.yaml").write_text(BAD_REPORT)
    (pack / "reports" / "summary.yaml").write_text(BAD_SUMMARY)
    (pack / "reports" / "mixed.yaml").write_text(MIXED)
    problems, _ = check_packs(make_config(database_url, tmp_path, ("report_kit",)), [pack])
    text = "\n".join(str(p) for p in problems.items)
    where = str(pack / "reports" / "broken.yaml")
    assert f"{where}:3:" in text  # the filter's syntax error, on its line
    assert f"{where}:4:" in text and "deal has no field 'colour'" in text
    assert "account has no field 'nope'" in text and "deal.stage is not a link" in text
    assert f"{where}:5:" in text and "no sortable field 'nothing'" in text
    assert "unknown time zone 'Mars/Olympus'" in text
    assert "unknown entity 'nothing'" in text
    assert "not both" in text and "only date and datetime fields take a bucket" in text
    assert "sum() needs a number" in text
    (pack / "reports" / "broken.yaml").write_text(BAD_REPORT.replace("Mars/Olympus", "UTC"))
    problems, _ = check_packs(make_config(database_url, tmp_path, ("report_kit",)), [pack])
    assert "cron '61 7 * * 1' is not valid" in "\n".join(str(p) for p in problems.items)
    (pack / "reports" / "broken.yaml").write_text("report: broken\nentity: deal\ncolumns: [name]\nextra: 1\n")
    problems, _ = check_packs(make_config(database_url, tmp_path, ("report_kit",)), [pack])
    assert "unknown key 'extra'" in "\n".join(str(p) for p in problems.items)
