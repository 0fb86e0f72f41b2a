"""The iCalendar feed in the staff UI: the address on /app/profile (made, regenerated and
turned off with CSRF-protected forms) and the "Subscribe (iCalendar)" link on /app/calendar.
SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import html as html_escape
import re
from typing import Any

import pytest

import ui.calendar  # registers the pages (ui/__init__.py imports them in the app)
import ui.settings  # noqa: F401
from tests.ui.pages import html

FEED = re.compile(r'id="calendar-feed-url" value="(http://localhost/api/v1/public/calendar/tcf_[^"]+\.ics)"')


@pytest.fixture
def shop(sales_workspace: Any, ui_client: Any) -> dict[str, Any]:
    ws = sales_workspace("core")
    return {"ws": ws, "ui": lambda role: ui_client(ws, role)}


def address(page: str) -> str | None:
    found = FEED.search(page)
    return html_escape.unescape(found.group(1)) if found else None


def test_the_profile_page_makes_shows_regenerates_and_turns_off_the_address(shop):
    client = shop["ui"]("sales_rep")
    due = f"{(dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).date().isoformat()}T08:00:00Z"
    body = {"kind": "call", "subject": "Feed call", "due_at": due}
    made = client.post("/api/v1/activity", json=body, headers={"X-CSRF-Token": client.csrf})
    assert made.status_code == 201, made.get_json()  # a session write: the CSRF header is needed
    page = html(client.get("/app/profile"))
    assert 'id="calendar-feed"' in page and "Make a calendar address" in page and address(page) is None
    forged = client.post("/app/profile/calendar-feed", data={"csrf_token": "forged"})
    assert forged.status_code == 403 and address(html(client.get("/app/profile"))) is None

    reply = client.post("/app/profile/calendar-feed", data={"csrf_token": client.csrf})
    assert reply.status_code == 302 and reply.headers["Location"].endswith("/app/profile#calendar-feed")
    page = html(client.get("/app/profile"))
    first = address(page)
    assert first is not None and "Your calendar address is ready." in page
    assert "webcal://localhost/api/v1/public/calendar/" in page
    feed = client.get(first.removeprefix("http://localhost"))
    assert feed.status_code == 200 and b"SUMMARY:Feed call" in feed.get_data()

    assert client.post("/app/profile/calendar-feed", data={"csrf_token": client.csrf}).status_code == 302
    page = html(client.get("/app/profile"))
    second = address(page)
    assert second not in (None, first) and "the old one no longer works" in page
    assert client.get(first.removeprefix("http://localhost")).status_code == 404
    assert second is not None and client.get(second.removeprefix("http://localhost")).status_code == 200

    assert client.post("/app/profile/calendar-feed/revoke", data={"csrf_token": client.csrf}).status_code == 302
    assert address(html(client.get("/app/profile"))) is None
    assert client.get(second.removeprefix("http://localhost")).status_code == 404


def test_the_calendar_page_links_to_the_subscription(shop):
    client = shop["ui"]("sales_rep")
    link = re.compile(r'<a [^>]*href="([^"]+)" data-calendar-subscribe>[^<]*<i [^>]*></i> Subscribe \(iCalendar\)</a>')
    before = link.search(html(client.get("/app/calendar")))
    assert before is not None and before.group(1) == "/app/profile#calendar-feed"  # no address yet: make one
    client.post("/app/profile/calendar-feed", data={"csrf_token": client.csrf})
    after = link.search(html(client.get("/app/calendar")))
    assert after is not None and after.group(1).startswith("webcal://localhost/api/v1/public/calendar/tcf_")
    assert after.group(1).removeprefix("webcal://") == address(html(client.get("/app/profile"))).removeprefix("http://")


def test_an_address_sealed_under_another_key_still_works_and_the_profile_says_so(shop, caplog):
    from engine.storage import system_tables as st
    from engine.storage.encryption import FieldCipher

    client = shop["ui"]("sales_rep")
    assert client.post("/app/profile/calendar-feed", data={"csrf_token": client.csrf}).status_code == 302
    path = str(address(html(client.get("/app/profile")))).removeprefix("http://localhost")
    other = FieldCipher("another-installation-" + "z" * 32, previous=[])
    with shop["ws"].db.begin() as conn:  # as restored from a backup made under another TESSERA_SECRET_KEY
        conn.execute(st.calendar_feed.update().values(token=other.seal("tcf_sealed-elsewhere")))

    with caplog.at_level("WARNING", logger="tessera.security"):
        page = html(client.get("/app/profile"))
        api = client.get("/api/v1/me/calendar-feed").get_json()
        calendar = html(client.get("/app/calendar"))
    assert address(page) is None and "still works but cannot be shown" in page
    assert "Regenerate the address" in page and "Make a calendar address" not in page
    assert api["url"] is None and api["created_at"] is not None
    assert "webcal://" not in calendar and "/app/profile#calendar-feed" in calendar
    assert "calendar feed token of user" in caplog.text
    assert client.get(path).status_code == 200  # found by its hash: subscribers keep their events
    # a new address replaces it and can be shown
    assert client.post("/app/profile/calendar-feed", data={"csrf_token": client.csrf}).status_code == 302
    assert address(html(client.get("/app/profile"))) is not None
    assert client.get(path).status_code == 404
