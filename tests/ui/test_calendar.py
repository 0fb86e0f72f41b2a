"""The calendar page (/app/calendar): activities of the core pack by day, week and month, for
the signed-in user or their team, as each reader's permissions allow. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest

import ui.calendar  # noqa: F401 - registers the page (ui/__init__.py imports it in the app)
from engine.actor import SYSTEM
from engine.security.users import create_user
from tests.conftest import PASSWORD
from tests.ui.pages import html


def ok(reply: Any, status: int = 200) -> Any:
    assert reply.status_code == status, reply.get_json()
    return reply.get_json()


@pytest.fixture
def office(sales_workspace: Any, api_client: Any, ui_client: Any) -> dict[str, Any]:
    """Two reps and their manager in one team; each rep has activities of their own."""
    ws = sales_workspace("core")
    create_user(ws, "other_rep@test.dev", "Olga Other", PASSWORD, ["sales_rep"])
    users = {u["email"].split("@")[0]: u["id"] for u in ws.records.list(SYSTEM, "user", {"limit": "100"}).data}
    team = ws.records.create(SYSTEM, "team", {"name": "East", "manager": users["sales_manager"]})
    for name in ("sales_rep", "other_rep", "sales_manager"):
        ws.records.update(SYSTEM, "user", users[name], {"teams": [team["id"]]})
    api = {name: api_client(ws, name) for name in ("sales_rep", "other_rep", "sales_manager")}

    def activity(who: str, subject: str, due_at: str, kind: str = "call") -> dict[str, Any]:
        body = {"kind": kind, "subject": subject, "due_at": due_at}
        return ok(api[who].post("/api/v1/activity", json=body), 201)

    made = {
        "rex_call": activity("sales_rep", "Call Rex's customer", "2026-12-02T09:30:00Z"),
        "rex_meeting": activity("sales_rep", "Rex visits Acme", "2026-12-15T14:00:00Z", "meeting"),
        "olga_private": activity("other_rep", "Olga's private lunch", "2026-12-02T12:00:00Z", "meeting"),
        "rex_january": activity("sales_rep", "Rex plans January", "2027-01-05T08:00:00Z", "task"),
        "boss_review": activity("sales_manager", "Pipeline review", "2026-12-03T16:00:00Z"),
    }
    return {"ws": ws, "api": api, "ui": lambda role: ui_client(ws, role), "made": made}


def subjects(page: str) -> set[str]:
    return set(re.findall(r'class="calendar-entry[^"]*"[^>]*title="[^:"]+: ([^"]+)"', page))


def day_cell(page: str, day: str) -> str:
    found = re.search(rf'data-date="{day}"[^>]*>(.*?)</(?:td|section)>', page, re.S)
    assert found is not None, f"no cell for {day}"
    return found.group(1)


def test_the_month_shows_the_users_own_activities_on_their_days(office):
    page = html(office["ui"]("sales_rep").get("/app/calendar?view=month&date=2026-12-10"))
    assert subjects(page) == {"Call Rex&#39;s customer", "Rex visits Acme"}
    assert "Call Rex&#39;s customer" in day_cell(page, "2026-12-02")
    assert "09:30" in day_cell(page, "2026-12-02")
    assert "Rex visits Acme" in day_cell(page, "2026-12-15")
    assert f'href="/app/activity/{office["made"]["rex_call"]["id"]}"' in page
    assert "enum-badge-0ea5e9" in day_cell(page, "2026-12-02")  # coloured by kind (call)
    # the grid runs Monday to Sunday around the month; prev/next go a month either way
    assert 'data-date="2026-11-30"' in page and 'data-date="2027-01-03"' in page
    assert "date=2026-11-01" in page and "date=2027-01-01" in page


def test_a_rep_never_sees_another_reps_private_activity_even_in_team_scope(office):
    client = office["ui"]("sales_rep")
    for scope in ("mine", "team"):
        page = html(client.get(f"/app/calendar?view=month&date=2026-12-01&scope={scope}"))
        assert "Olga" not in page
        assert "Pipeline review" not in page


def test_the_managers_team_scope_shows_the_teams_activities_and_mine_only_their_own(office):
    client = office["ui"]("sales_manager")
    team = subjects(html(client.get("/app/calendar?view=month&date=2026-12-01&scope=team")))
    assert team == {"Call Rex&#39;s customer", "Rex visits Acme", "Olga&#39;s private lunch", "Pipeline review"}
    mine = subjects(html(client.get("/app/calendar?view=month&date=2026-12-01&scope=mine")))
    assert mine == {"Pipeline review"}


def test_week_and_day_views_show_only_their_days(office):
    client = office["ui"]("sales_rep")
    week = html(client.get("/app/calendar?view=week&date=2026-12-03"))
    assert subjects(week) == {"Call Rex&#39;s customer"}
    assert 'data-date="2026-11-30"' in week and 'data-date="2026-12-06"' in week
    assert 'data-date="2026-12-07"' not in week
    assert "date=2026-11-26" in week and "date=2026-12-10" in week  # previous and next week
    day = html(client.get("/app/calendar?view=day&date=2026-12-15"))
    assert subjects(day) == {"Rex visits Acme"}
    assert "date=2026-12-14" in day and "date=2026-12-16" in day
    empty = html(client.get("/app/calendar?view=day&date=2026-12-16"))
    assert subjects(empty) == set() and "Nothing planned." in empty


def test_days_are_the_users_days_in_their_time_zone(office):
    late = office["api"]["sales_rep"].post(
        "/api/v1/activity", json={"kind": "call", "subject": "Late call", "due_at": "2026-12-09T23:30:00Z"}
    )
    assert late.status_code == 201
    client = office["ui"]("sales_rep")
    utc = html(client.get("/app/calendar?view=week&date=2026-12-09"))
    assert "Late call" in day_cell(utc, "2026-12-09")
    reply = client.post(
        "/app/profile/settings", data={"csrf_token": client.csrf, "locale": "en", "timezone": "Europe/Berlin"}
    )
    assert reply.status_code == 302
    berlin = html(client.get("/app/calendar?view=week&date=2026-12-09"))
    assert "Late call" in day_cell(berlin, "2026-12-10") and "00:30" in day_cell(berlin, "2026-12-10")
    assert "Times in Europe/Berlin" in berlin


def test_bad_parameters_are_a_clear_error_and_the_page_needs_a_sign_in(office):
    client = office["ui"]("sales_rep")
    assert "view must be one of month, week, day" in html(client.get("/app/calendar?view=year"), 400)
    assert "YYYY-MM-DD" in html(client.get("/app/calendar?date=2026-13-01"), 400)
    assert "scope must be one of mine, team" in html(client.get("/app/calendar?scope=all"), 400)
    from engine.app import create_app

    anonymous = create_app(office["ws"].config, office["ws"]).test_client()
    assert "/login" in anonymous.get("/app/calendar").headers["Location"]


def test_the_calendar_declaration_is_published_in_the_metadata(office):
    described = ok(office["api"]["sales_rep"].get("/api/v1/meta/entities/activity"))
    assert described["calendar"] == {"start": "due_at", "title": "subject", "color_by": "kind"}


def test_any_entity_with_a_calendar_appears_and_date_ranges_span_their_days(sales_workspace, api_client, ui_client):
    ws = sales_workspace("certifications")
    lead = api_client(ws, "support_lead")
    body = {"title": "Firewall bootcamp", "starts_on": "2026-12-07", "ends_on": "2026-12-09"}
    training = ok(lead.post("/api/v1/training", json=body), 201)
    page = html(ui_client(ws, "support_lead").get("/app/calendar?view=month&date=2026-12-01"))
    assert "Trainings" in page  # named among what the calendar shows
    for day in ("2026-12-07", "2026-12-08", "2026-12-09"):
        assert f'href="/app/training/{training["id"]}"' in day_cell(page, day)
    for day in ("2026-12-06", "2026-12-10"):
        assert "Firewall bootcamp" not in day_cell(page, day)
    # a range that began before the shown week still shows on the days inside it
    week = html(ui_client(ws, "support_lead").get("/app/calendar?view=day&date=2026-12-09"))
    assert "Firewall bootcamp" in week
