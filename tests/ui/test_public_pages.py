"""The public pages, no sign-in: the web-to-lead form (``/forms/lead`` and its embeddable
variant), the survey answer page of a signed single-use record link (``/respond/TOKEN``),
and the terms and privacy pages. Flask test client on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from engine.app import create_app
from tests.sales.rest import account, create, get, listing, user_id
from tests.service.feedback import at, emails, reply_link, surveys, tick, utc
from ui.public import DEFAULT_COMPANY

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def visitor(ws: Any) -> FlaskClient:
    return create_app(ws.config, ws).test_client()


def field_error(page: Any, field: str) -> str | None:
    found = re.search(rf'data-field-error="{field}">([^<]*)<', page.get_data(as_text=True))
    return found.group(1) if found else None


def test_a_web_to_lead_submission_creates_a_lead(sales_workspace, api_client):
    ws = sales_workspace("leads")
    admin, web = api_client(ws, "admin"), visitor(ws)
    form = web.get("/forms/lead")
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    assert "Talk to our team" in page and 'action="/forms/lead"' in page
    for name in ("first_name", "last_name", "company", "email", "description", "consent_marketing"):
        assert f'name="{name}"' in page, name
    assert re.search(r'class="hp-field" aria-hidden="true">.*?name="fax_number"', page, re.S)  # the honeypot
    assert "<script>" not in page and "style=" not in page  # the CSP allows neither
    assert form.headers["X-Frame-Options"] == "DENY"
    assert "Set-Cookie" not in form.headers  # anonymous: no session

    values = {"first_name": "Jana", "last_name": "Vogel", "company": "Vogel Logistik", "email": "jana@vogel.test"}
    extra = {"consent_marketing": "true", "employees": "250", "budget": "15000.50", "fax_number": ""}
    sent = web.post("/forms/lead", data={**values, **extra})
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/forms/lead/thanks")
    thanks = web.get(sent.headers["Location"]).get_data(as_text=True)
    assert "We will get back to you within one working day." in thanks
    [lead] = listing(admin, "lead", email="jana@vogel.test")
    assert (lead["company"], lead["source"], lead["consent_marketing"]) == ("Vogel Logistik", "webform", True)
    assert (lead["employees"], float(lead["budget"])) == (250, 15000.5)

    # a bot filling the honeypot is thanked and dropped
    bot = web.post("/forms/lead", data={**values, "email": "bot@spam.test", "fax_number": "+1 555"})
    assert bot.status_code == 303 and listing(admin, "lead", email="bot@spam.test") == []


def test_a_bad_submission_shows_the_errors_and_creates_nothing(sales_workspace, api_client):
    ws = sales_workspace("leads")
    admin, web = api_client(ws, "admin"), visitor(ws)
    missing = web.post("/forms/lead", data={"first_name": "Jana", "company": "Vogel Logistik"})
    assert missing.status_code == 422
    assert field_error(missing, "email") == "Is required."
    page = missing.get_data(as_text=True)
    assert 'value="Vogel Logistik"' in page  # what was typed stays
    wrong = web.post("/forms/lead", data={"email": "not an address", "employees": "many"})
    assert wrong.status_code == 422
    assert field_error(wrong, "email") and field_error(wrong, "employees")
    assert listing(admin, "lead") == []
    assert web.get("/forms/nope").status_code == 404
    assert web.get("/forms/survey_reply").status_code == 404  # a record-link form creates nothing


def test_the_embeddable_form_may_be_framed_and_the_others_may_not(sales_workspace, api_client):
    ws = sales_workspace("leads")
    admin, web = api_client(ws, "admin"), visitor(ws)
    embedded = web.get("/forms/lead/embed")
    assert embedded.status_code == 200
    assert "frame-ancestors *" in embedded.headers["Content-Security-Policy"]
    assert "script-src 'self'" in embedded.headers["Content-Security-Policy"]
    page = embedded.get_data(as_text=True)
    assert 'action="/forms/lead/embed"' in page and "navbar" not in page
    sent = web.post("/forms/lead/embed", data={"last_name": "Kai", "email": "kai@frame.test"})
    assert sent.status_code == 303 and sent.headers["Location"].endswith("/forms/lead/embed/thanks")
    assert "frame-ancestors *" in web.get(sent.headers["Location"]).headers["Content-Security-Policy"]
    assert len(listing(admin, "lead", email="kai@frame.test")) == 1
    for framed_nowhere in ("/forms/lead", "/terms", "/privacy"):
        assert "frame-ancestors 'none'" in web.get(framed_nowhere).headers["Content-Security-Policy"]


def test_a_survey_is_answered_on_its_page_once(sales_workspace, api_client):
    ws = sales_workspace("surveys")
    at(ws, utc(2030, 3, 2))
    admin, lead = api_client(ws, "admin"), api_client(ws, "support_lead")
    csat, _ = surveys(lead)
    customer = account(admin, "Klinikum Nord gGmbH", owner=user_id(admin, "sales_rep"))
    contact = create(admin, "contact", {"last_name": "Brandt", "email": "eva@klinikum.test", "account": customer["id"]})
    about = {"related_entity": "ticket", "related_id": "T-1", "contact": contact["id"]}
    response = create(lead, "survey_response", {"survey": csat["id"], "account": customer["id"], **about})
    tick(ws, utc(2030, 3, 3, 9))
    [mail] = emails(ws, to="eva@klinikum.test")
    link = reply_link(mail)
    token = link.rsplit("/", 1)[1]

    web = visitor(ws)
    clicked = web.get(link, headers=BROWSER)  # the e-mailed address, opened in a browser
    assert clicked.status_code == 303 and clicked.headers["Location"].endswith(f"/respond/{token}")
    assert web.get(link).is_json  # API clients still get JSON there
    form = web.get(f"/respond/{token}")
    page = form.get_data(as_text=True)
    assert form.status_code == 200 and "How did we do?" in page
    assert re.findall(r'type="radio" name="score" id="[^"]+" value="(\d+)"', page) == ["1", "2", "3", "4", "5"]
    assert 'name="comment"' in page

    bad = web.post(f"/respond/{token}", data={"score": "9"})
    assert bad.status_code == 422 and field_error(bad, "score")
    missing = web.post(f"/respond/{token}", data={"comment": "No score"})
    assert missing.status_code == 422 and field_error(missing, "score") == "Is required."
    answered = web.post(f"/respond/{token}", data={"score": "4", "comment": "Quick and friendly"})
    assert answered.status_code == 200 and "Thank you for your feedback!" in answered.get_data(as_text=True)
    stored = get(lead, "survey_response", response["id"])
    assert (stored["status"], stored["score"], stored["comment"]) == ("responded", 4, "Quick and friendly")

    # the link cannot be used again; an altered one opens nothing
    again = web.post(f"/respond/{token}", data={"score": "1"})
    assert again.status_code == 409 and "already used" in again.get_data(as_text=True)
    assert web.get(f"/respond/{token}").status_code == 409
    assert web.get(f"/respond/{token[:-3]}abc").status_code == 404
    assert get(lead, "survey_response", response["id"])["score"] == 4


def test_the_terms_and_privacy_pages(sales_workspace):
    web = visitor(sales_workspace("surveys"))
    for path, heading in (("/terms", "Terms of use"), ("/privacy", "Privacy notice")):
        page = web.get(path)
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and f">{heading}</h1>" in text and DEFAULT_COMPANY in text, path
