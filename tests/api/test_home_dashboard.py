"""The ``home`` dashboard of the dashboards pack through ``GET /api/v1/dashboards/home``: the
viewer's day (date in their time zone, days left in the month), their tasks and meetings of
the day, their leads and conversion rate (overall and by source, each rate drilling down to
the records it is over and to those converted), their pipeline, and a quote of the day that
is the same for everyone on a date and changes the next day. The clock is the records'
clock, set by the test. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from engine.checking import check_packs
from engine.workspace import Workspace
from tests.conftest import make_config
from tests.dashboard_figures import check_figures, drill, number
from tests.sales.conftest import api_client, sales_workspace  # noqa: F401 - the fixtures
from tests.sales.rest import account, create, ok, set_manager, user_id

HOME = Path(__file__).parents[2] / "metadata" / "dashboards" / "dashboards" / "home.yaml"
#: the last day of a month and of a quarter, mid-morning UTC
T0 = dt.datetime(2026, 3, 31, 10, 0, tzinfo=dt.UTC)
#: (source, converted) of the sales rep's leads: 3 of 6 converted
REP_LEADS = [
    ("webform", True),
    ("webform", False),
    ("webform", False),
    ("referral", True),
    ("referral", True),
    ("phone", False),
]


def figures(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {w["name"]: w for w in board["widgets"]}


def lead(api: Any, source: str, number: int, convert: bool) -> dict[str, Any]:
    values = {"last_name": f"Lead {number}", "company": f"Firm {number}", "email": f"lead{number}@firm{number}.example"}
    made = create(api, "lead", {**values, "source": source})
    if convert:
        made = ok(api.post(f"/api/v1/lead/{made['id']}/actions/convert", json={}))
        assert made["status"] == "converted"
    return made


@pytest.fixture
def home(sales_workspace: Callable[..., Workspace], api_client: Callable[..., Any]) -> Iterator[dict[str, Any]]:  # noqa: F811
    ws = sales_workspace("dashboards")
    ws.records.clock = lambda: T0
    apis = {role: api_client(ws, role) for role in ("admin", "sales_rep", "sales_manager", "technician")}
    set_manager(apis["admin"], "sales_rep", "sales_manager")  # the manager may read the rep's records
    yield {"ws": ws, **apis}


def test_my_leads_and_conversion_rate_agree_with_their_drill_down_lists(home: dict[str, Any]) -> None:
    rep, manager = home["sales_rep"], home["sales_manager"]
    for number_, (source, converted) in enumerate(REP_LEADS):
        lead(rep, source, number_, converted)
    lead(manager, "webform", 90, True)  # the manager's own: not in the rep's figures
    lead(manager, "event", 91, False)

    board = ok(rep.get("/api/v1/dashboards/home"))
    mine = figures(board)
    assert mine["my_leads"]["value"] == 6
    rate = mine["conversion_rate"]
    assert (rate["total"], rate["matches"], number(rate["value"])) == (6, 3, Decimal("50.0"))
    assert rate["format"] == "percent" and rate["rate"] == 'status == "converted"'
    converted = drill(rep, "lead", rate["match_filter"])
    assert sorted(r["last_name"] for r in converted) == ["Lead 0", "Lead 3", "Lead 4"]
    assert {r["status"] for r in converted} == {"converted"}
    assert len(drill(rep, "lead", rate["filter"])) == 6
    assert rate["match_url"].startswith("/app/lead?filter=") and rate["url"].startswith("/app/lead?filter=")
    by_source = {p["key"]: p for p in mine["conversion_by_source"]["series"]}
    assert {k: (p["matches"], p["total"], number(p["value"])) for k, p in by_source.items()} == {
        "webform": (1, 3, Decimal("33.3")),
        "referral": (2, 2, Decimal("100.0")),
        "phone": (0, 1, Decimal("0.0")),
    }
    assert [r["last_name"] for r in drill(rep, "lead", by_source["webform"]["match_filter"])] == ["Lead 0"]
    assert drill(rep, "lead", by_source["phone"]["match_filter"]) == []
    # the converted leads made deals (without an amount yet): the rep's pipeline lists them
    assert len(drill(rep, "opportunity", mine["open_pipeline"]["filter"])) == 3
    assert sum(len(drill(rep, "opportunity", p["filter"])) for p in mine["pipeline_by_stage"]["series"]) == 3
    check_figures(rep, board)

    # the manager's home counts their own leads only, though they may read the rep's
    theirs = figures(ok(manager.get("/api/v1/dashboards/home")))
    assert (theirs["conversion_rate"]["total"], theirs["conversion_rate"]["matches"]) == (2, 1)
    check_figures(manager, ok(manager.get("/api/v1/dashboards/home")))

    # the date range narrows the rates too: no lead was created in 2025
    empty = figures(ok(rep.get("/api/v1/dashboards/home", query_string={"from": "2025-01-01", "to": "2025-12-31"})))
    assert empty["conversion_rate"]["total"] == 0 and empty["conversion_rate"]["value"] is None
    assert empty["conversion_by_source"]["series"] == []


def test_my_tasks_and_meetings_today_are_my_own_of_my_day(home: dict[str, Any]) -> None:
    rep, manager, admin = home["sales_rep"], home["sales_manager"], home["admin"]
    customer = account(rep)["id"]

    def activity(api: Any, kind: str, subject: str, due: str) -> None:
        create(api, "activity", {"kind": kind, "subject": subject, "due_at": due, "account": customer})

    activity(rep, "meeting", "Rep meeting today", "2026-03-31T14:00:00Z")
    activity(rep, "task", "Rep task early today", "2026-03-31T00:30:00Z")
    activity(rep, "call", "Rep call tomorrow", "2026-04-01T09:00:00Z")
    activity(rep, "call", "Rep call yesterday", "2026-03-30T16:00:00Z")
    activity(rep, "note", "Rep note today", "2026-03-31T11:00:00Z")  # a note is no task or event
    activity(manager, "meeting", "Manager meeting today", "2026-03-31T15:00:00Z")

    def today(api: Any) -> list[str]:
        table = figures(ok(api.get("/api/v1/dashboards/home")))["today_activities"]
        assert {r["id"] for r in table["rows"]} == {r["id"] for r in drill(api, "activity", table["filter"])}
        return [r["values"][0] for r in table["rows"]]

    assert today(rep) == ["Rep task early today", "Rep meeting today"]  # by due time
    assert today(manager) == ["Manager meeting today"]  # the rep's are readable, but not theirs
    assert "Rep meeting today" in [r["subject"] for r in drill(manager, "activity", None)]
    assert today(home["technician"]) == []

    # in New York (UTC-4 in late March) 31 March runs from 04:00 UTC to 04:00 UTC on 1 April
    ok(admin.patch(f"/api/v1/user/{user_id(admin, 'sales_rep')}", json={"timezone": "America/New_York"}))
    assert today(rep) == ["Rep meeting today"]  # the 00:30 UTC task was due on 30 March there
    home["ws"].records.clock = lambda: dt.datetime(2026, 3, 31, 2, 0, tzinfo=dt.UTC)  # 22:00 on 30 March
    assert today(rep) == ["Rep call yesterday", "Rep task early today"]
    day = figures(ok(rep.get("/api/v1/dashboards/home")))["today"]
    assert (day["date"], day["time_zone"], day["days_left_in_month"]) == ("2026-03-30", "America/New_York", 1)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [  # (date, days in month, left in month, left in quarter, left in year, weekday)
        (dt.datetime(2026, 3, 31, 23, 59, tzinfo=dt.UTC), ("2026-03-31", 31, 0, 0, 275, 2)),
        (dt.datetime(2026, 4, 1, 0, 0, tzinfo=dt.UTC), ("2026-04-01", 30, 29, 90, 274, 3)),
        (dt.datetime(2028, 2, 28, 12, 0, tzinfo=dt.UTC), ("2028-02-28", 29, 1, 32, 307, 1)),
        (dt.datetime(2026, 12, 31, 8, 0, tzinfo=dt.UTC), ("2026-12-31", 31, 0, 0, 0, 4)),
    ],
)
def test_today_gives_the_days_left_in_the_month(
    home: dict[str, Any], moment: dt.datetime, expected: tuple[Any, ...]
) -> None:
    home["ws"].records.clock = lambda: moment
    day = figures(ok(home["sales_rep"].get("/api/v1/dashboards/home")))["today"]
    got = (day["date"], day["days_in_month"], day["days_left_in_month"])
    assert (*got, day["days_left_in_quarter"], day["days_left_in_year"], day["weekday"]) == expected
    assert day["url"] == f"/app/calendar?view=day&date={expected[0]}"
    assert day["time_zone"] == "UTC"


def test_the_quote_of_the_day_is_everyones_for_a_day_and_changes_daily(home: dict[str, Any]) -> None:
    shipped = yaml.safe_load(HOME.read_text())
    quotes = next(w for w in shipped["widgets"] if w["type"] == "daily_quote")["quotes"]
    assert len(quotes) >= 20 and all(q.get("author") for q in quotes)

    def quote(api: Any, moment: dt.datetime) -> tuple[str, str]:
        home["ws"].records.clock = lambda: moment
        widget = figures(ok(api.get("/api/v1/dashboards/home")))["quote_of_the_day"]
        assert widget["count"] == len(quotes) and widget["date"] == moment.date().isoformat()
        assert (widget["text"], widget["author"]) == (
            quotes[widget["index"]]["text"],
            quotes[widget["index"]]["author"],
        )
        return widget["text"], widget["author"]

    rep, technician = home["sales_rep"], home["technician"]
    morning = dt.datetime(2026, 6, 10, 7, 0, tzinfo=dt.UTC)
    first = quote(rep, morning)
    assert quote(rep, morning + dt.timedelta(hours=16)) == first  # later the same day
    assert quote(technician, morning) == first  # the same for everyone
    seen = [quote(rep, morning + dt.timedelta(days=n)) for n in range(1, 8)]
    assert all(a != b for a, b in zip([first, *seen], seen, strict=False))  # a new one each day
    assert quote(rep, morning + dt.timedelta(days=len(quotes))) == first  # the list taken in turn


def test_every_staff_role_may_open_home_and_roles_without_a_dashboard_land_on_it(home: dict[str, Any]) -> None:
    technician, rep = home["technician"], home["sales_rep"]
    listed = {d["name"]: d for d in ok(technician.get("/api/v1/dashboards"))["data"]}
    assert listed["home"]["home"] is True and listed["home"]["default"] is True
    board = ok(technician.get("/api/v1/dashboards/home"))
    # the lead and deal widgets are optional: left out for a technician, who may not read them
    assert [w["name"] for w in board["widgets"]] == ["today", "today_activities", "quote_of_the_day"]
    assert "lead" not in str(listed["home"]["widgets"])
    mine = {d["name"]: d["home"] for d in ok(rep.get("/api/v1/dashboards"))["data"]}
    assert mine["my_sales"] is True and mine["home"] is False  # a role's own dashboard stays its home
    assert len(figures(ok(rep.get("/api/v1/dashboards/home")))) == 9
    for role in ("sales_manager", "admin"):
        names = [d["name"] for d in ok(home[role].get("/api/v1/dashboards"))["data"]]
        assert "home" in names, role

    # the answer follows the OpenAPI document
    doc = ok(rep.get("/api/v1/openapi.json"))
    schema = doc["paths"]["/api/v1/dashboards/{name}"]["get"]["responses"]["200"]["content"]["application/json"]
    validator = Draft202012Validator({**schema["schema"], "components": doc["components"]})
    for api in (rep, technician):
        validator.validate(ok(api.get("/api/v1/dashboards/home")))
    kinds = doc["components"]["schemas"]["DashboardWidget"]["properties"]["type"]["enum"]
    assert {"today", "daily_quote"} <= set(kinds)
    assert "match_url" in doc["components"]["schemas"]["DashboardPoint"]["properties"]


BAD = """\
dashboard: broken
widgets:
  - {name: a, type: daily_quote}
  - {name: b, type: today, entity: deal}
  - {name: c, type: kpi, entity: deal, rate: 'stage == "won"', metric: sum(amount)}
  - {name: d, type: kpi, entity: deal, period: today}
  - {name: e, type: kpi}
  - {name: f, type: bar, entity: deal, group_by: stage, rate: 'stage + 1'}
  - {name: g, type: table, entity: deal, columns: [name], quotes: [{text: Hi}]}
"""


def test_bad_new_widgets_are_check_problems(tmp_path: Path, database_url: str) -> None:
    pack = tmp_path / "bad_home"
    (pack / "dashboards").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: bad_home\nversion: 1.0.0\ndepends: [dash_kit]\n")
    (pack / "dashboards" / "broken.yaml").write_text(BAD)
    problems, _ = check_packs(make_config(database_url, tmp_path, ("dash_kit",)), [pack])
    text = "\n".join(str(p) for p in problems.items)
    where = str(pack / "dashboards" / "broken.yaml")
    assert f"{where}:3:" in text and "a quote widget needs quotes" in text
    assert "a today widget has no entity" in text
    assert "give rate or metric, not both" in text
    assert "a period applies to the widget's date_field" in text
    assert "a kpi widget needs an entity" in text
    assert f"{where}:8:" in text  # the rate is no condition
    assert "quotes belong to quote widgets" in text
    (pack / "dashboards" / "broken.yaml").write_text(
        "dashboard: broken\nwidgets:\n  - {name: a, type: kpi, entity: deal, period: someday, date_field: closes_on}\n"
    )
    problems, _ = check_packs(make_config(database_url, tmp_path, ("dash_kit",)), [pack])
    assert "someday" in "\n".join(str(p) for p in problems.items)
