"""Dashboards from YAML (``engine.dashboards``) over the ``dash_kit`` test pack.

Each figure of ``GET /api/v1/dashboards/NAME`` equals the same aggregate asked of
``POST /api/v1/ENTITY/aggregate``; each drill-down filter lists exactly the records counted;
the global filters (date range, owner) apply to every widget; a sales rep sees only their own
deals; a bad definition is a ``tessera check`` problem naming its file and place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from engine.app import create_app
from engine.checking import check_packs
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, Api, make_config, sign_in
from tests.dashboard_figures import check_figures, number, ok

DEALS = [  # (owner, name, stage, amount, closes_on, signed_at, hot)
    ("rep", "Alpha", "lead", "1000", "2026-01-15", None, True),
    ("rep", "Bravo", "offer", "2500.50", "2026-02-10", None, False),
    ("rep", "Charlie", "won", "4000", "2026-02-20", "2026-02-21T09:30:00Z", True),
    ("rep2", "Delta", "offer", "700", "2026-03-05", None, False),
    ("rep2", "Echo", "won", "9000", "2026-05-01", "2026-05-02T23:30:00Z", False),
    ("rep2", "Foxtrot", "lost", "300", None, None, False),
]


@pytest.fixture
def dash(database_url: str, tmp_path: Path) -> Iterator[dict[str, Api]]:
    ws = Workspace(make_config(database_url, tmp_path, ("dash_kit",)), meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    for who, role in (("admin", "admin"), ("rep", "sales_rep"), ("rep2", "sales_rep"), ("boss", "sales_manager")):
        create_user(ws, f"{who}@test.dev", who.title(), PASSWORD, [role])
    client = create_app(ws.config, ws).test_client()
    apis = {who: sign_in(client, f"{who}@test.dev") for who in ("admin", "rep", "rep2", "boss")}
    for owner, name, stage, amount, closes_on, signed_at, hot in DEALS:
        values = {"name": name, "stage": stage, "amount": amount, "closes_on": closes_on, "signed_at": signed_at}
        reply = apis[owner].post("deal", {**values, "hot": hot})
        assert reply.status_code == 201, reply.get_json()
    yield apis
    ws.close()


def _ok(reply: Any, status: int = 200) -> Any:
    return ok(reply, status)


def test_figures_equal_the_aggregate_api_and_drill_down_to_their_records(dash: dict[str, Api]) -> None:
    boss = dash["boss"]
    board = _ok(boss.get("/api/v1/dashboards/pipeline"))
    figures = {w["name"]: w for w in board["widgets"]}
    assert number(figures["open_value"]["value"]) == Decimal("4200.50")
    assert figures["deals"]["value"] == 6
    stages = figures["by_stage"]["series"]
    assert [p["key"] for p in stages] == ["lead", "offer", "won", "lost"]  # the enum's order
    assert [p["label"] for p in stages] == ["Lead", "Offer", "Won", "Lost"]
    assert stages[1]["color"] == "#60a5fa"
    assert stages[1]["url"].startswith("/app/deal?filter=")
    months = {p["key"]: p["value"] for p in figures["by_month"]["series"]}
    assert {k: number(v) for k, v in months.items()} == {
        None: Decimal("300"),
        "2026-01": Decimal("1000"),
        "2026-02": Decimal("6500.50"),
        "2026-03": Decimal("700"),
        "2026-05": Decimal("9000"),
    }
    assert {p["key"]: p["value"] for p in figures["signed"]["series"]} == {None: 4, "2026-Q1": 1, "2026-Q2": 1}
    assert {p["key"]: p["value"] for p in figures["hot"]["series"]} == {False: 4, True: 2}
    assert sorted(p["label"] for p in figures["by_owner"]["series"]) == ["Rep", "Rep2"]  # user names
    table = figures["biggest"]
    assert [c["name"] for c in table["columns"]] == ["name", "stage", "amount", "margin"]
    assert "error" not in figures["avg_margin"]
    assert [r["values"][0] for r in table["rows"]] == ["Echo", "Charlie", "Bravo", "Alpha", "Delta"]
    assert table["rows"][0]["url"].startswith("/app/deal/")
    check_figures(boss, board)
    # the answers follow the OpenAPI document
    doc = _ok(boss.get("openapi.json"))
    schemas = doc["paths"]["/api/v1/dashboards/{name}"]["get"]["responses"]["200"]["content"]
    conforms(doc, schemas["application/json"]["schema"], board)
    listed = doc["paths"]["/api/v1/dashboards"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    conforms(doc, listed, _ok(boss.get("/api/v1/dashboards")))


def conforms(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    Draft202012Validator({**schema, "components": doc["components"]}).validate(value)


def test_global_filters_apply_to_every_widget(dash: dict[str, Api]) -> None:
    boss = dash["boss"]
    users = _ok(dash["admin"].get("/api/v1/user", query_string={"email": "rep2@test.dev"}))["data"]
    rep2_id = users[0]["id"]
    board = _ok(boss.get("/api/v1/dashboards/pipeline", query_string={"from": "2026-02-01", "to": "2026-03-31"}))
    assert board["filters"] == {"from": "2026-02-01", "to": "2026-03-31", "owner": None}
    figures = {w["name"]: w for w in board["widgets"]}
    assert figures["deals"]["value"] == 3  # Bravo, Charlie, Delta close in the range
    assert "closes_on >= 2026-02-01" in figures["deals"]["filter"]
    assert {p["key"]: p["value"] for p in figures["signed"]["series"]} == {"2026-Q1": 1}
    assert figures["by_owner"]["filter"] is None  # no date_field: the range does not apply
    check_figures(boss, board)
    owned = _ok(boss.get("/api/v1/dashboards/pipeline", query_string={"owner": rep2_id}))
    figures = {w["name"]: w for w in owned["widgets"]}
    assert figures["deals"]["value"] == 3
    assert [p["label"] for p in figures["by_owner"]["series"]] == ["Rep2"]
    check_figures(boss, owned)
    mine = _ok(dash["rep"].get("/api/v1/dashboards/pipeline", query_string={"owner": "me"}))
    assert {w["name"]: w for w in mine["widgets"]}["deals"]["value"] == 3


def test_a_sales_rep_sees_only_their_own_figures(dash: dict[str, Api]) -> None:
    rep = dash["rep"]
    board = _ok(rep.get("/api/v1/dashboards/pipeline"))
    figures = {w["name"]: w for w in board["widgets"]}
    assert figures["deals"]["value"] == 3
    assert number(figures["open_value"]["value"]) == Decimal("3500.50")
    assert [p["label"] for p in figures["by_owner"]["series"]] == ["Rep"]
    assert [r["values"][0] for r in figures["biggest"]["rows"]] == ["Charlie", "Bravo", "Alpha"]
    # the margin is hidden from sales reps: its column is left out, its tile says why
    assert [c["name"] for c in figures["biggest"]["columns"]] == ["name", "stage", "amount"]
    assert "margin" in figures["avg_margin"]["error"] and "value" not in figures["avg_margin"]
    check_figures(rep, board)
    listed = _ok(rep.get("/api/v1/dashboards"))["data"]
    assert [(d["name"], d["home"], d["url"]) for d in listed] == [("pipeline", True, "/app/dashboards/pipeline")]


def test_bad_requests_are_problems(dash: dict[str, Api]) -> None:
    boss = dash["boss"]
    for query in ({"from": "yesterday"}, {"from": "2026-03-01", "to": "2026-02-01"}, {"colour": "red"}):
        reply = boss.get("/api/v1/dashboards/pipeline", query_string=query)
        assert reply.status_code == 400 and reply.mimetype == "application/problem+json", query
    assert boss.get("/api/v1/dashboards/nothing").status_code == 404
    assert dash["admin"].client.get("/api/v1/dashboards").status_code == 401


def test_aggregate_groups_dates_by_calendar_bucket(dash: dict[str, Api]) -> None:
    boss = dash["boss"]
    rows = _ok(boss.post("deal/aggregate", {"group_by": ["closes_on:year", "stage"], "filter": "closes_on != null"}))
    assert [(r["closes_on:year"], r["stage"], r["count"]) for r in rows["data"]] == [
        ("2026", "lead", 1),
        ("2026", "offer", 2),
        ("2026", "won", 2),
    ]
    days = _ok(boss.post("deal/aggregate", {"group_by": ["signed_at:day"], "filter": "signed_at != null"}))["data"]
    assert [r["signed_at:day"] for r in days] == ["2026-02-21", "2026-05-02"]
    body = {"group_by": ["closes_on:quarter", "closes_on:month"], "filter": "closes_on != null"}
    buckets = _ok(boss.post("deal/aggregate", body))["data"]
    assert [(r["closes_on:quarter"], r["closes_on:month"], r["count"]) for r in buckets] == [
        ("2026-Q1", "2026-01", 1),
        ("2026-Q1", "2026-02", 2),
        ("2026-Q1", "2026-03", 1),
        ("2026-Q2", "2026-05", 1),
    ]
    for bad in (["name:month"], ["closes_on:week"], ["created_at:month", "amount:year"]):
        reply = boss.post("deal/aggregate", {"group_by": bad})
        assert reply.status_code == 400, bad
    created = _ok(boss.post("deal/aggregate", {"group_by": ["created_at:month"]}))["data"]
    assert created == [{"created_at:month": dt.datetime.now(dt.UTC).strftime("%Y-%m"), "count": 6}]


BAD_DASHBOARD = """\
dashboard: broken
widgets:
  - {name: a, type: bar, entity: deal, group_by: colour}
  - {name: b, type: kpi, entity: deal, filter: 'stage == '}
  - {name: c, type: kpi, entity: nothing}
  - {name: d, type: line, entity: deal, metric: sum(name), group_by: 'name:month'}
  - {name: e, type: pie, entity: deal}
  - {name: f, type: table, entity: deal, columns: [name, colour], date_field: name}
"""


def test_a_bad_dashboard_is_a_check_problem(tmp_path: Path, database_url: str) -> None:
    pack = tmp_path / "bad_dash"
    (pack / "dashboards").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: bad_dash\nversion: 1.0.0\ndepends: [dash_kit]\n")
    (pack / "dashboards" / "broken.yaml").write_text(BAD_DASHBOARD)
    problems, _ = check_packs(make_config(database_url, tmp_path, ("dash_kit",)), [pack])
    text = "\n".join(str(p) for p in problems.items)
    where = str(pack / "dashboards" / "broken.yaml")
    assert f"{where}:3:" in text and "deal has no field 'colour'" in text
    assert f"{where}:4:" in text  # the filter's syntax error
    assert "unknown entity 'nothing'" in text
    assert "sum() needs a number" in text
    assert "only date and datetime fields take a bucket" in text
    assert "a pie chart needs group_by" in text
    assert "deal.name is not a date or datetime field" in text
    (pack / "dashboards" / "broken.yaml").write_text("dashboard: broken\nwidgets: []\nextra: 1\n")
    problems, _ = check_packs(make_config(database_url, tmp_path, ("dash_kit",)), [pack])
    text = "\n".join(str(p) for p in problems.items)
    assert "unknown key 'extra'" in text


def test_an_administrator_changes_a_dashboard_as_an_overlay(dash: dict[str, Api]) -> None:
    admin, boss = dash["admin"], dash["boss"]
    shipped = _ok(admin.get("meta/documents/dashboard/pipeline"))
    assert shipped["kind"] == "dashboard"
    smaller = {
        "dashboard": "pipeline",
        "label": "Won deals",
        "roles": ["sales_manager"],
        "widgets": [
            {"name": "won", "type": "kpi", "entity": "deal", "metric": "sum(amount)", "filter": "stage == 'won'"}
        ],
    }
    _ok(admin.put("meta/documents/dashboard/pipeline", smaller))
    board = _ok(boss.get("/api/v1/dashboards/pipeline"))
    assert board["label"] == "Won deals" and [w["name"] for w in board["widgets"]] == ["won"]
    assert number(board["widgets"][0]["value"]) == Decimal("13000")
    assert _ok(dash["rep"].get("/api/v1/dashboards"))["data"][0]["home"] is False  # roles changed
    bad = {"dashboard": "extra", "widgets": [{"name": "x", "type": "bar", "entity": "deal", "group_by": "colour"}]}
    reply = admin.post("meta/documents/dashboard", bad)
    assert reply.status_code == 422, reply.get_json()
    assert "deal has no field 'colour'" in str(reply.get_json())
    assert boss.get("/api/v1/dashboards/extra").status_code == 404


def test_a_widget_whose_value_cannot_be_computed_fails_alone(dash: dict[str, Api], database_url: str) -> None:
    admin = dash["admin"]
    board = {
        "dashboard": "overflow",
        "widgets": [
            {"name": "deals", "type": "kpi", "entity": "deal"},
            {"name": "by_stage", "type": "bar", "entity": "deal", "group_by": "stage"},
            {"name": "huge", "type": "kpi", "entity": "deal", "filter": "9223372036854775807 + 1 > 0"},
            {"name": "won", "type": "kpi", "entity": "deal", "metric": "sum(amount)", "filter": "stage == 'won'"},
        ],
    }
    _ok(admin.post("meta/documents/dashboard", board), 201)
    figures = {w["name"]: w for w in _ok(admin.get("/api/v1/dashboards/overflow?refresh=true"))["widgets"]}
    assert figures["deals"]["value"] == 6 and number(figures["won"]["value"]) == Decimal("13000")
    assert {p["key"]: p["value"] for p in figures["by_stage"]["series"]} == {"lead": 1, "offer": 2, "won": 2, "lost": 1}
    if database_url.startswith("postgresql"):
        assert "could not be computed" in figures["huge"]["error"]  # bigint out of range
    else:  # SQLite computes it as a float
        assert figures["huge"]["value"] == 6
