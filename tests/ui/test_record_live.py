"""Live updates of one record (``static/js/record-live.js`` on the record page and the edit
form), on SQLite and PostgreSQL: what the pages give the script (the record, its version, who
changed it last, the part it may refresh), and that the stream it listens to announces a
change of the record to a reader of it and nothing of records they may not read.

The banner itself, the refreshed details and the untouched edit form are seen in Chromium
(tests/browser/test_layout_editor.py)."""

from __future__ import annotations

import html as entities
import re
from typing import Any

import pytest

from tests.ui.pages import html
from tests.ui.test_live import Stream, created
from ui import live  # noqa: F401 - the routes register on import (as in ui/__init__)


@pytest.fixture
def live_app(app: Any) -> Any:
    app.config.update(TESSERA_LIVE_HEARTBEAT=0.2, TESSERA_LIVE_MAX_SECONDS=60)
    return app


def marker(page: str) -> dict[str, str]:
    """The attributes of the element record-live.js reads."""
    found = re.search(r"<div (data-live-record=[^>]*)></div>", page)
    assert found is not None, "the page has no live marker"
    return {k: entities.unescape(v) for k, v in re.findall(r'(data-[a-z-]+)="([^"]*)"', found.group(1))}


def admin_id(admin: Any) -> str:
    return admin.get("/api/v1/user?email=admin@test.dev").get_json()["data"][0]["id"]


def test_the_record_page_tells_the_script_its_version_and_who_changed_it(client, rep, admin):
    gadget = created(rep, {"name": "Desk lamp"})
    page = html(rep.get(f"/app/gadget/{gadget['id']}"))
    first = marker(page)
    assert first["data-live-record"] == "gadget" and first["data-record-id"] == gadget["id"]
    assert first["data-version"] == "1" and first["data-mode"] == "view"
    assert first["data-record-url"] == f"/app/gadget/{gadget['id']}"
    assert 'src="/assets/js/record-live.js"' in page
    assert client.get("/assets/js/record-live.js").status_code == 200
    # the part refreshed in place holds the fields, not the forms of the page
    detail = page[page.index("<div data-live-detail>") : page.index('<div class="col-xl-4">')]
    assert 'data-field="name"' in detail and "<form" not in detail
    assert admin.patch(f"gadget/{gadget['id']}", {"name": "Floor lamp"}).status_code == 200
    again = marker(html(rep.get(f"/app/gadget/{gadget['id']}")))
    assert again["data-version"] == "2" and again["data-updated-by"] == admin_id(admin)
    assert again["data-viewer"] == first["data-viewer"] != again["data-updated-by"]
    readable_users = rep.get("/api/v1/user").status_code == 200
    assert again["data-changed-by"] == ("Ada Admin" if readable_users else "")


def test_only_the_edit_form_of_a_record_listens_and_only_for_the_banner(rep):
    gadget = created(rep, {"name": "Desk lamp"})
    form = html(rep.get(f"/app/gadget/{gadget['id']}/edit"))
    found = marker(form)
    assert found["data-mode"] == "edit" and found["data-version"] == "1"
    assert 'src="/assets/js/record-live.js"' in form
    # the marker sits outside the form: the script never posts or changes a thing of it
    assert form.index("data-live-record") < form.index('<form method="post" novalidate')
    new = html(rep.get("/app/gadget/new"))
    assert "data-live-record" not in new and "record-live.js" not in new


def test_a_reader_of_the_record_hears_of_its_changes_and_of_nothing_else(live_app, client, rep, admin):
    mine = created(rep, {"name": "Rep's lamp"})
    hidden = created(admin, {"name": "Admin's own gadget"})
    assert rep.get(f"/app/gadget/{hidden['id']}").status_code == 404  # no page, so no banner
    shown = int(marker(html(rep.get(f"/app/gadget/{mine['id']}")))["data-version"])
    stream = Stream(live_app, rep.headers, "entity=gadget")
    try:
        assert admin.patch(f"gadget/{hidden['id']}", {"count": 7}).status_code == 200
        assert admin.patch(f"gadget/{mine['id']}", {"count": 2}).status_code == 200
        seen = stream.events(lambda name, data: data.get("id") == mine["id"])
        # the first thing the reader hears of is their record, newer than the page they see
        assert seen == [("change", {"entity": "gadget", "id": mine["id"], "version": shown + 1, "kind": "update"})]
        assert int(marker(html(rep.get(f"/app/gadget/{mine['id']}")))["data-version"]) == shown + 1
    finally:
        stream.close()


def test_the_calendar_listens_to_every_entity_it_shows(sales_workspace, api_client):
    ws = sales_workspace("core")
    rep, other = api_client(ws, "sales_rep"), api_client(ws, "admin")
    page = html(rep.get("/app/calendar?view=month&date=2026-12-10"))
    listened = re.search(r'<div data-live-entity="([^"]+)"></div>', page).group(1).split(",")
    assert "activity" in listened
    app = rep.client.application
    app.config.update(TESSERA_LIVE_HEARTBEAT=0.2, TESSERA_LIVE_MAX_SECONDS=60)
    stream = Stream(app, rep.headers, "entity=" + ",".join(listened))
    try:
        body = {"kind": "call", "subject": "Shared call", "due_at": "2026-12-02T09:30:00Z"}
        mine = rep.post("/api/v1/activity", json=body).get_json()
        assert other.patch(f"/api/v1/activity/{mine['id']}", json={"subject": "Moved call"}).status_code == 200
        seen = stream.events(lambda name, data: data.get("kind") == "update")
        assert seen[-1] == ("change", {"entity": "activity", "id": mine["id"], "version": 2, "kind": "update"})
    finally:
        stream.close()
