"""What a signed-in user types into list pages, read right (exploratory review): the
filter builder on a datetime field (it compared a datetime with a date: a 400 for every
datetime field, "Created at" included), a number filter of NaN or a calendar date at the
ends of time (500s), the bulk "set field" box for non-text fields (sent as raw text: refused,
or an emptied bool), saving a view whose filter cannot run, and redirects after sign-in and
bulk actions that left the site. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.conftest import PASSWORD
from tests.sales.rest import account, create, get, ok
from tests.ui.pages import csrf_of, html


@pytest.fixture
def crm(sales_workspace: Any, api_client: Any, ui_client: Any) -> dict[str, Any]:
    ws = sales_workspace("core")
    return {"ws": ws, "api": api_client(ws, "sales_manager"), "ui": ui_client(ws, "sales_manager")}


def names(page: str, *candidates: str) -> list[str]:
    return [name for name in candidates if name in page]


def test_the_filter_builder_reads_a_date_on_a_datetime_field_as_that_day(crm: Any) -> None:
    account(crm["api"], "Made today")
    today = dt.datetime.now(dt.UTC).date()
    ui = crm["ui"]
    for op, found in (("eq", True), ("ge", True), ("le", True), ("gt", False), ("lt", False), ("ne", False)):
        page = html(ui.get("/app/account", query_string={"bf": "created_at", "bo": op, "bv": today.isoformat()}))
        assert bool(names(page, "Made today")) is found, op
    moment = html(ui.get("/app/account", query_string={"bf": "created_at", "bo": "lt", "bv": "2000-01-01T10:00"}))
    assert not names(moment, "Made today")
    for bad in ("NaN", "Infinity", "sNaN"):  # were 500s
        refused = ui.get("/app/account", query_string={"bf": "employees", "bo": "gt", "bv": bad})
        assert refused.status_code == 400 and "is not a number" in refused.get_data(as_text=True)


def test_the_calendar_refuses_dates_at_the_ends_of_time(crm: Any) -> None:
    for day, view in (("0001-01-01", "week"), ("9999-12-31", "month"), ("0001-01-01", "day")):
        reply = crm["ui"].get("/app/calendar", query_string={"date": day, "view": view})
        assert reply.status_code == 400, (day, view)  # were 500s
    assert crm["ui"].get("/app/calendar", query_string={"date": "2026-03-01", "view": "month"}).status_code == 200


def test_bulk_set_field_reads_the_typed_value_by_the_fields_type(crm: Any) -> None:
    api, ui = crm["api"], crm["ui"]
    a = account(api, "Alpha")
    contact = create(api, "contact", {"first_name": "Ann", "last_name": "Lee", "consent_marketing": True})

    def bulk(entity: str, field: str, value: str, *ids: str) -> Any:
        data = {"csrf_token": ui.csrf, "action": "set", "field": field, "value": value, "ids": list(ids)}
        return ui.post(f"/app/{entity}/bulk", data=data, follow_redirects=True)

    bulk("account", "employees", "1,200", a["id"])  # an English user's thousands separator
    bulk("account", "tags", "Key account; strategic", a["id"])
    bulk("account", "annual_revenue", "1,234,567.50", a["id"])
    stored = get(api, "account", a["id"])
    assert stored["employees"] == 1200 and stored["tags"] == ["key_account", "strategic"]
    assert str(stored["annual_revenue"]) == "1234567.50"
    bulk("contact", "consent_marketing", "no", contact["id"])
    assert get(api, "contact", contact["id"])["consent_marketing"] is False
    refused = html(bulk("contact", "consent_marketing", "", contact["id"]))
    assert "Type true or false." in refused and get(api, "contact", contact["id"])["consent_marketing"] is False
    wrong = html(bulk("account", "employees", "many", a["id"]))
    assert "Not a number" in wrong and get(api, "account", a["id"])["employees"] == 1200


def test_a_view_whose_filter_cannot_run_is_not_saved_and_the_list_is_kept(crm: Any) -> None:
    ui = crm["ui"]
    data = {"csrf_token": ui.csrf, "name": "Broken", "filter": "nosuchfield == 1", "sort": "name"}
    reply = ui.post("/app/account/views", data=data)
    assert reply.status_code == 302 and "filter=nosuchfield" in reply.headers["Location"]
    assert "The view was not saved" in html(ui.get(reply.headers["Location"]), 400)  # the list, with its error
    unnamed = ui.post("/app/account/views", data={**data, "name": "", "filter": 'city == "Hamburg"'})
    assert unnamed.status_code == 302 and "city" in unnamed.headers["Location"]  # was an error page
    assert ok(crm["api"].get("/api/v1/saved_view"))["data"] == []


def test_redirects_never_leave_the_site(crm: Any) -> None:
    from engine.app import create_app

    client = create_app(crm["ws"].config, crm["ws"]).test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    for target in ("/\t/evil.example", "/\n/evil.example", "/ /evil.example", "//evil.example", "/\\evil.example"):
        login = {"email": "sales_manager@test.dev", "password": PASSWORD, "csrf_token": token, "next": target}
        reply = client.post("/login", data=login)
        assert reply.status_code == 302 and reply.headers["Location"] == "/", target
        client.post("/logout", data={"csrf_token": csrf_of(client.get("/app/profile").get_data(as_text=True))})
        token = csrf_of(client.get("/login").get_data(as_text=True))
    ui = crm["ui"]
    a = account(crm["api"], "Beta")
    data = {"csrf_token": ui.csrf, "action": "set", "field": "city", "value": "Kiel", "ids": [a["id"]]}
    for back in ("https://evil.example/", "/\t/evil.example"):
        reply = ui.post("/app/account/bulk", data={**data, "back": back})
        assert reply.headers["Location"] == "/app/account", back
    assert ui.post("/app/account/bulk", data={**data, "back": "/app/account?sort=name"}).headers["Location"] == (
        "/app/account?sort=name"
    )


def test_a_new_form_prefills_several_options_by_their_values(crm: Any) -> None:
    """The options of a multi_enum prefill were matched inside one text (``new_logo_x``
    selected "New logo")."""
    page = html(crm["ui"].get("/app/account/new?tags=key_account&tags=strategic"))
    assert 'value="key_account" selected' in page and 'value="strategic" selected' in page
    assert 'value="new_logo" selected' not in html(crm["ui"].get("/app/account/new?tags=new_logo_x"))
