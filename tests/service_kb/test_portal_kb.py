"""The knowledge base in the client portal (``/portal/kb``): a customer signed in through
``/login`` searches and reads published public articles only (drafts and internal articles
are 404, as through the API), article bodies are Markdown rendered without raw HTML, votes
count, and the portal's navigation and home page lead there. Flask test client on SQLite and
PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from engine.app import create_app
from tests.conftest import PASSWORD
from tests.sales.rest import get
from tests.service.ticketing import Desk
from tests.service_kb.kb import MONDAY, library, published

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(desk: Desk, role: str = "customer") -> FlaskClient:
    """A browser signed in through the sign-in page as the role's user."""
    client = create_app(desk.ws.config, desk.ws).test_client()
    token = CSRF.search(client.get("/login").get_data(as_text=True))
    assert token
    data = {"email": f"{role}@test.dev", "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=data).status_code == 302
    return client


def page(client: FlaskClient, path: str, status: int = 200) -> str:
    reply = client.get(path)
    assert reply.status_code == status, (path, reply.status_code)
    return str(reply.get_data(as_text=True))


@pytest.fixture
def desk(sales_workspace: Any, api_client: Any) -> Desk:
    return Desk(sales_workspace("service_kb"), api_client, MONDAY)


def test_a_customer_searches_and_reads_published_public_articles_only(desk):
    arts = library(desk)
    web = browser(desk)
    home = page(web, "/portal")
    assert 'href="/portal/kb"' in home and 'action="/portal/kb"' in home  # navigation and search box

    listed = page(web, "/portal/kb")
    assert "VPN setup" in listed and "VPN setup, step by step." in listed
    assert 'data-category="network"' in listed and "Network &amp; VPN" in listed
    for hidden in ("Firewall firmware runbook", "Authenticator app", "Windows 7"):
        assert hidden not in listed
    found = page(web, "/portal/kb?q=forticlient")
    assert "VPN setup" in found and "Authenticator app" not in found and "1 article found" in found
    assert "No article matches" in page(web, "/portal/kb?q=nothing-like-this")
    assert "VPN setup" not in page(web, "/portal/kb?category=hardware")

    article = page(web, f"/portal/kb/{arts['public']['id']}")
    assert "Install FortiClient and import the profile." in article and arts["public"]["number"] in article
    for hidden in ("internal", "draft", "archived"):
        assert "no such article" in page(web, f"/portal/kb/{arts[hidden]['id']}", 404), hidden
    assert page(web, "/portal/kb/no-such-id", 404)


def test_an_article_body_is_markdown_without_raw_html(desk):
    body = (
        "## Steps\n\n1. Open **FortiClient**.\n\n<script>alert('x')</script>\n\n"
        '<img src=x onerror="alert(1)">\n\n[click](javascript:alert(2)) and [docs](https://docs.example.com)'
    )
    art = published(desk, "<b>Bold</b> title", visibility="public", body=body)
    html = page(browser(desk), f"/portal/kb/{art['id']}")
    assert "<h2>Steps</h2>" in html and "<strong>FortiClient</strong>" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert('x')&lt;/script&gt;" in html
    assert 'onerror="' not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert 'href="javascript:' not in html and 'href="https://docs.example.com"' in html
    assert "<b>Bold</b>" not in html and "&lt;b&gt;Bold&lt;/b&gt; title" in html


def test_a_customer_votes_on_an_article(desk):
    art = published(desk, "VPN setup", visibility="public")
    web = browser(desk)
    shown = page(web, f"/portal/kb/{art['id']}")
    assert "Was this article helpful?" in shown
    token = CSRF.search(shown)
    assert token
    voted = web.post(f"/portal/kb/{art['id']}/vote", data={"vote": "rate_helpful", "csrf_token": token.group(1)})
    assert voted.status_code == 302
    assert "Thank you for your feedback." in page(web, voted.headers["Location"])
    assert web.post(f"/portal/kb/{art['id']}/vote", data={"vote": "rate_helpful"}).status_code == 302  # no token
    assert get(desk.lead, "kb_article", art["id"])["helpful_count"] == 1


def test_staff_use_the_generated_pages_and_global_search(desk):
    art = published(desk, "VPN setup", visibility="public", body="Import the SplitTunnel profile.")
    staff = browser(desk, "support_agent")
    assert staff.get("/portal/kb").status_code == 302  # the portal is for customers
    assert "VPN setup" in page(staff, f"/app/kb_article/{art['id']}")
    assert "VPN setup" in page(staff, "/app/search?q=splittunnel")
    assert "VPN setup" in page(staff, "/app/kb_article")
