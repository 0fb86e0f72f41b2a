"""The first-run setup wizard (/setup): only on a workspace without users; it creates the
administrator (signed in afterwards), names the company, loads sample data or leads to the
import guide, and is gone afterwards. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import ui.onboarding  # noqa: F401 - registers the wizard (ui/__init__.py imports it in the app)
from engine.actor import SYSTEM
from engine.app import create_app
from engine.security.users import find_user
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config


@pytest.fixture
def fresh(database_url: str, tmp_path: Path) -> Iterator[Workspace]:
    """A newly installed workspace with the core pack and no user at all."""
    ws = Workspace(make_config(database_url, tmp_path, ("core",)), meta_check_interval=0)
    ws.install()
    yield ws
    ws.close()


def token_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def answers(client: Any, **changes: str) -> dict[str, str]:
    page = client.get("/setup")
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    form = {
        "csrf_token": token_of(page.get_data(as_text=True)),
        "company": "Acme Systems GmbH",
        "full_name": "Ada Admin",
        "email": "ada@acme.example",
        "password": PASSWORD,
        "repeat_password": PASSWORD,
        "data": "empty",
    }
    return {**form, **changes}


def test_the_sign_in_page_of_a_new_workspace_leads_to_the_wizard(fresh):
    client = create_app(fresh.config, fresh).test_client()
    assert client.get("/login").headers["Location"].endswith("/setup")
    page = client.get("/setup").get_data(as_text=True)
    assert "1. Your company" in page and "2. The first administrator" in page
    assert "core" in page  # the packs this installation runs
    assert "Load sample data" in page


def test_the_wizard_creates_the_administrator_and_then_disappears(fresh):
    client = create_app(fresh.config, fresh).test_client()
    done = client.post("/setup", data=answers(client))
    assert done.status_code == 302 and done.headers["Location"].endswith("/app/help/api")
    admin = find_user(fresh, "ada@acme.example")
    assert admin is not None and admin["full_name"] == "Ada Admin"
    home = client.get("/")  # signed in as the new administrator
    assert home.status_code == 200 and "Admin" in home.get_data(as_text=True)
    settings = fresh.records.list(SYSTEM, "crm_setting", {}).data
    assert [s["company_name"] for s in settings] == ["Acme Systems GmbH"]
    assert fresh.records.list(SYSTEM, "account", {}).data == []  # an empty start
    # gone for everyone now: no second administrator through the wizard
    stranger = create_app(fresh.config, fresh).test_client()
    assert stranger.get("/setup").status_code == 404
    assert stranger.post("/setup", data={"email": "eve@evil.example"}).status_code == 404
    assert stranger.get("/login").status_code == 200
    assert find_user(fresh, "eve@evil.example") is None
    fresh.auth.verify_password("ada@acme.example", PASSWORD)


def test_sample_data_is_loaded_with_inactive_sample_people(fresh):
    client = create_app(fresh.config, fresh).test_client()
    assert client.post("/setup", data=answers(client, data="sample")).status_code == 302
    assert fresh.records.list(SYSTEM, "account", {"limit": "1"}).data  # the core pack's sample accounts
    sample_rep = find_user(fresh, "sales.rep@demo.tessera.dev")
    assert sample_rep is not None and sample_rep["active"] is False
    settings = fresh.records.list(SYSTEM, "crm_setting", {}).data
    assert [s["company_name"] for s in settings] == ["Acme Systems GmbH"]
    login = create_app(fresh.config, fresh).test_client()
    page = login.get("/login").get_data(as_text=True)
    tried = {"email": "sales.rep@demo.tessera.dev", "password": "Tessera-demo-2026", "csrf_token": token_of(page)}
    assert login.post("/login", data=tried).status_code == 401  # nobody signs in as a sample person


def test_wrong_answers_are_shown_and_nothing_is_created(fresh):
    client = create_app(fresh.config, fresh).test_client()
    bad = answers(client, company=" ", email="not-an-address", repeat_password="Something-else-1")
    page = client.post("/setup", data=bad)
    text = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "Enter your company&#39;s name." in text and "Enter an e-mail address." in text
    assert "The two passwords differ." in text
    weak = client.post("/setup", data=answers(client, password="short", repeat_password="short"))
    assert weak.status_code == 422
    forged = client.post("/setup", data={**answers(client), "csrf_token": "forged"})
    assert forged.status_code in (400, 403)
    assert fresh.records.list(SYSTEM, "user", {}).data == []
    assert client.get("/setup").status_code == 200  # still open
