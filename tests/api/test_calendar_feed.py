"""The iCalendar feed per user (``/api/v1/public/calendar/TOKEN.ics``) and its address
(``/api/v1/me/calendar-feed``): the core pack's activities and the certifications pack's
trainings, read as the token's user, so permissions decide every event. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from icalendar import Calendar

from engine.actor import SYSTEM
from engine.security.users import create_user
from tests.conftest import PASSWORD
from tests.sales.conftest import api_client, sales_workspace  # noqa: F401 - the shipped packs' workspaces

TODAY = dt.datetime.now(dt.UTC).date()


def ok(reply: Any, status: int = 200) -> Any:
    assert reply.status_code == status, reply.get_data(as_text=True)
    return reply.get_json()


def at(days: int, time: str) -> str:
    return f"{(TODAY + dt.timedelta(days=days)).isoformat()}T{time}:00Z"


@pytest.fixture
def office(sales_workspace: Any, api_client: Any) -> dict[str, Any]:  # noqa: F811 - the imported fixtures
    """Two reps with activities of their own, a presales engineer attending one training."""
    ws = sales_workspace("core", "certifications")
    create_user(ws, "other_rep@test.dev", "Olga Other", PASSWORD, ["sales_rep"])
    users = {u["email"].split("@")[0]: u["id"] for u in ws.records.list(SYSTEM, "user", {"limit": "100"}).data}
    api = {name: api_client(ws, name) for name in ("sales_rep", "other_rep", "presales", "admin")}

    def activity(who: str, subject: str, due_at: str) -> dict[str, Any]:
        return ok(api[who].post("/api/v1/activity", json={"kind": "call", "subject": subject, "due_at": due_at}), 201)

    def training(title: str, starts: int, ends: int, attendees: list[str]) -> dict[str, Any]:
        body = {
            "title": title,
            "starts_on": (TODAY + dt.timedelta(days=starts)).isoformat(),
            "ends_on": (TODAY + dt.timedelta(days=ends)).isoformat(),
            "attendees": attendees,
        }
        return ok(api["admin"].post("/api/v1/training", json=body), 201)

    made = {
        "rex_call": activity("sales_rep", "Call Rex's customer", at(3, "09:30")),
        "rex_old": activity("sales_rep", "Long gone call", at(-60, "10:00")),
        "rex_far": activity("sales_rep", "Call in two years", at(700, "10:00")),
        "olga": activity("other_rep", "Olga's private lunch", at(3, "12:00")),
        "bootcamp": training("Storage bootcamp", 10, 12, [users["presales"]]),
        "other_course": training("Network course", 20, 20, [users["technician"]]),
    }
    return {"ws": ws, "api": api, "users": users, "made": made}


def feed_url(client: Any) -> str:
    address = ok(client.post("/api/v1/me/calendar-feed"))
    assert address["url"].startswith("http://localhost/api/v1/public/calendar/tcf_")
    assert address["url"].endswith(".ics") and address["webcal_url"] == "webcal://" + address["url"][7:]
    return str(address["url"]).removeprefix("http://localhost")


def events(client: Any, path: str) -> dict[str, Any]:
    reply = client.get(path)  # no Authorization header is needed: the token is in the path
    assert reply.status_code == 200, reply.get_data(as_text=True)
    assert reply.headers["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = Calendar.from_ical(reply.get_data())
    return {str(e["summary"]): e for e in calendar.walk("VEVENT")}


def test_the_feed_holds_the_users_own_activities_at_their_times(office):
    rep = office["api"]["sales_rep"]
    assert ok(rep.get("/api/v1/me/calendar-feed")) == {"url": None, "webcal_url": None, "created_at": None}
    path = feed_url(rep)
    assert ok(rep.get("/api/v1/me/calendar-feed"))["url"] == f"http://localhost{path}"
    found = events(rep.client, path)
    assert set(found) == {"Call Rex's customer"}  # not 60 days back, not 2 years on
    call, record = found["Call Rex's customer"], office["made"]["rex_call"]
    assert call["dtstart"].dt == dt.datetime.combine(TODAY + dt.timedelta(days=3), dt.time(9, 30), dt.UTC)
    assert call["dtend"].dt == call["dtstart"].dt
    assert str(call["uid"]) == f"activity-{record['id']}@localhost"
    assert str(call["url"]) == f"http://localhost/app/activity/{record['id']}"
    assert f"/app/activity/{record['id']}" in str(call["description"])
    assert call["last-modified"].dt == dt.datetime.fromisoformat(record["updated_at"]).replace(microsecond=0)
    # another rep's activity is never in it: not in the team scope, not in everything they may read
    for scope in ("team", "all"):
        assert "Olga's private lunch" not in events(rep.client, f"{path}?scope={scope}")


def test_trainings_are_all_day_events_of_their_attendees(office):
    presales = office["api"]["presales"]
    path = feed_url(presales)
    mine = events(presales.client, path)
    assert set(mine) == {"Storage bootcamp"}
    bootcamp = mine["Storage bootcamp"]
    assert bootcamp["dtstart"].dt == TODAY + dt.timedelta(days=10)
    assert bootcamp["dtend"].dt == TODAY + dt.timedelta(days=13)  # the last day included
    assert "VALUE=DATE" in bootcamp.to_ical().decode()
    assert str(bootcamp["uid"]) == f"training-{office['made']['bootcamp']['id']}@localhost"
    # presales read every training: scope=all adds the one they do not attend
    assert set(events(presales.client, f"{path}?scope=all")) == {"Storage bootcamp", "Network course"}
    # a sales rep may not read trainings at all
    rep = office["api"]["sales_rep"]
    assert not {"Storage bootcamp", "Network course"} & set(events(rep.client, f"{feed_url(rep)}?scope=all"))


def test_a_new_address_ends_the_old_one_and_revoking_ends_it(office):
    rep = office["api"]["sales_rep"]
    old = feed_url(rep)
    new = feed_url(rep)
    assert old != new
    gone = rep.client.get(old)
    assert gone.status_code == 404 and gone.headers["Content-Type"] == "application/problem+json"
    assert rep.client.get(new).status_code == 200
    assert ok(rep.delete("/api/v1/me/calendar-feed"), 204) is None
    assert rep.client.get(new).status_code == 404
    assert ok(rep.get("/api/v1/me/calendar-feed"))["url"] is None


def test_unknown_tokens_and_inactive_users_are_the_same_404(office):
    rep, admin = office["api"]["sales_rep"], office["api"]["admin"]
    path = feed_url(rep)
    garbage = rep.client.get("/api/v1/public/calendar/tcf_not-a-token.ics")
    assert garbage.status_code == 404 and garbage.headers["Content-Type"] == "application/problem+json"
    for other in ("/api/v1/public/calendar/garbage", path.removesuffix(".ics"), path + "x"):
        assert rep.client.get(other).status_code == 404
    assert rep.client.get(f"{path}?scope=everything").status_code == 400
    ok(admin.patch(f"/api/v1/user/{office['users']['sales_rep']}", json={"active": False}))
    inactive = rep.client.get(path)
    assert inactive.status_code == 404 and inactive.get_json() == garbage.get_json()
    assert b"sales_rep" not in inactive.get_data()
    # the address routes need a sign-in; the feed never takes one from a bearer token
    assert rep.client.get("/api/v1/me/calendar-feed").status_code == 401
