"""Datetimes in record forms, through a signed-in browser session: typed and shown in the
time zone of the user's profile (as the calendar shows them), the input labelled with it;
an edit that leaves a datetime alone keeps its exact value and records no change of it.
On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.sales.rest import create, get, ok
from tests.ui.pages import html


@pytest.fixture
def new_yorker(sales_workspace: Any, api_client: Any, ui_client: Any) -> dict[str, Any]:
    """A rep whose profile says America/New_York (UTC-5 in December)."""
    ws = sales_workspace("core")
    client = ui_client(ws, "sales_rep")
    data = {"csrf_token": client.csrf, "locale": "en", "timezone": "America/New_York"}
    assert client.post("/app/profile/settings", data=data).status_code == 302
    return {"api": api_client(ws, "sales_rep"), "ui": client}


def input_of(page: str, name: str) -> str:
    found = re.search(rf'<input[^>]* name="{name}"[^>]*>', page)
    assert found is not None, f"no input {name}"
    return found.group(0)


def test_a_typed_datetime_is_the_users_local_time(new_yorker):
    ui, api = new_yorker["ui"], new_yorker["api"]
    data = {"csrf_token": ui.csrf, "kind": "meeting", "subject": "Site visit", "due_at": "2026-12-02T09:00"}
    created = ui.post("/app/activity/new", data=data)
    assert created.status_code == 302, created.get_data(as_text=True)[:2000]
    record_id = created.headers["Location"].rsplit("/", 1)[1]
    assert get(api, "activity", record_id)["due_at"].startswith("2026-12-02T14:00:00")
    calendar = html(ui.get("/app/calendar?view=day&date=2026-12-02"))
    assert "09:00" in calendar and "Site visit" in calendar
    form = html(ui.get("/app/activity/new"))
    assert re.search(r'for="f-due_at">[^<]*<small class="text-body-secondary">\(America/New_York\)</small>', form)


def test_the_edit_form_shows_the_stored_time_in_the_users_zone_to_the_second(new_yorker):
    ui, api = new_yorker["ui"], new_yorker["api"]
    activity = create(api, "activity", {"kind": "call", "subject": "Call back", "due_at": "2026-12-02T14:00:30Z"})
    field = input_of(html(ui.get(f"/app/activity/{activity['id']}/edit")), "due_at")
    assert 'value="2026-12-02T09:00:30"' in field and 'step="1"' in field


def test_an_edit_of_another_field_keeps_the_datetime_exactly(new_yorker):
    ui, api = new_yorker["ui"], new_yorker["api"]
    stored = "2026-12-02T14:00:30.250000Z"
    activity = create(api, "activity", {"kind": "call", "subject": "Call back", "due_at": stored})
    before = get(api, "activity", activity["id"])["due_at"]
    assert before.startswith("2026-12-02T14:00:30.25")  # kept to the sub-second
    form = html(ui.get(f"/app/activity/{activity['id']}/edit"))
    shown = input_of(form, "due_at").split('value="', 1)[1].split('"', 1)[0]
    data = {
        "csrf_token": ui.csrf,
        "version": str(activity["version"]),
        "kind": "call",
        "subject": "Call back about the quote",
        "due_at": shown,
    }
    saved = ui.post(f"/app/activity/{activity['id']}/edit", data=data)
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    after = get(api, "activity", activity["id"])
    assert after["subject"] == "Call back about the quote" and after["due_at"] == before
    history = ok(api.get(f"/api/v1/activity/{activity['id']}/history"))["data"]
    assert "due_at" not in history[0]["changes"] and "subject" in history[0]["changes"]
    # a changed time is written, in the user's zone
    data.update(version=str(after["version"]), due_at="2026-12-02T10:15")
    assert ui.post(f"/app/activity/{activity['id']}/edit", data=data).status_code == 302
    assert get(api, "activity", activity["id"])["due_at"].startswith("2026-12-02T15:15:00")
