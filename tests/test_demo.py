"""``tessera demo``: every pack with deterministic sample data and one login per role."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.actor import SYSTEM
from engine.app import create_app
from engine.config import Config
from engine.demo import DEMO_PASSWORD, prepare_demo
from engine.workspace import Workspace


def demo_config(tmp_path: Path, name: str) -> Config:
    return Config(
        database_url=f"sqlite:///{tmp_path / name}",
        secret_key="demo-" + "k" * 40,
        instance_path=tmp_path / "instance",
        password_hashing="fast",
        auth_rate_limit="100 per minute",
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("demo")
    config = demo_config(tmp_path, "demo.db")
    logins = prepare_demo(config)
    return config, logins


def test_demo_has_realistic_sample_data(demo):
    config, _ = demo
    ws = Workspace(config)
    counts = {
        e: ws.records.list(SYSTEM, e, {"count": "true", "limit": "1"}).total
        for e in ("account", "contact", "activity", "product")
    }
    assert counts["account"] >= 100 and counts["contact"] >= 300
    assert counts["activity"] >= 500 and counts["product"] >= 20
    contact = ws.records.list(SYSTEM, "contact", {"expand": "account", "limit": "1", "sort": "last_name"}).data[0]
    assert isinstance(contact["account"], dict) and contact["account"]["name"]


def test_every_demo_login_works_and_lands_on_a_working_start_page(demo):
    config, logins = demo
    client = create_app(config).test_client()
    assert len(logins) == 12
    for email, password, _role in logins:
        assert password == DEMO_PASSWORD
        response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
        assert response.status_code == 200, email
    assert client.get("/").status_code == 302  # signed out: to the login page
    login_page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    email, password, _ = logins[0]
    client.post("/login", data={"email": email, "password": password, "csrf_token": csrf})
    page = client.get("/?menu=1").get_data(as_text=True)
    assert 'href="/app/account"' in page and 'href="/app/ticket"' in page  # the menu of every pack
    for email, password, role in logins:  # every demo role gets a working start page
        web = create_app(config).test_client()
        token = re.search(r'name="csrf_token" value="([^"]+)"', web.get("/login").get_data(as_text=True)).group(1)
        web.post("/login", data={"email": email, "password": password, "csrf_token": token})
        home = web.get("/", follow_redirects=True)
        assert home.status_code == 200, (role, home.get_data(as_text=True)[:500])


def test_demo_data_is_deterministic(demo, tmp_path):
    config, _ = demo
    again = demo_config(tmp_path, "again.db")
    prepare_demo(again)

    def names(cfg: Config) -> list[str]:
        ws = Workspace(cfg)
        return [r["name"] for r in ws.records.list(SYSTEM, "account", {"sort": "name", "limit": "500"}).data]

    assert names(config) == names(again)


def test_demo_is_not_seeded_twice(demo):
    config, _ = demo
    before = Workspace(config).records.list(SYSTEM, "account", {"count": "true", "limit": "1"}).total
    prepare_demo(config)
    assert Workspace(config).records.list(SYSTEM, "account", {"count": "true", "limit": "1"}).total == before


def test_demo_roles_get_the_default_grants(demo):
    config, logins = demo
    client = create_app(config).test_client()

    def api(role: str):
        email = next(e for e, _, r in logins if r == role)
        token = client.post("/api/v1/auth/token", json={"email": email, "password": DEMO_PASSWORD}).get_json()["token"]
        return {"Authorization": f"Bearer {token}"}

    rep, executive, customer = api("sales_rep"), api("executive"), api("customer")
    assert client.get("/api/v1/account?limit=1&count=true", headers=rep).get_json()["total"] >= 100
    created = client.post("/api/v1/account", json={"name": "Rep's new account"}, headers=rep)
    assert created.status_code == 201
    assert client.post("/api/v1/account", json={"name": "No"}, headers=executive).status_code == 403
    # the portal customer is linked to one account and sees that account only
    own = client.get("/api/v1/account?count=true", headers=customer).get_json()
    assert own["total"] == 1
    account_id = own["data"][0]["id"]
    # ... its public activities only, and its own tickets (of which the demo has some)
    activities = client.get("/api/v1/activity?limit=500", headers=customer).get_json()["data"]
    assert all(a["visibility"] == "public" for a in activities)
    tickets = client.get("/api/v1/ticket?limit=500", headers=customer).get_json()["data"]
    assert tickets and all(t["account"] == account_id for t in tickets)
    assert client.get("/api/v1/product?count=true", headers=customer).status_code == 404  # default deny


def test_contacts_are_data_subjects_with_consents(demo):
    config, logins = demo
    client = create_app(config).test_client()
    email = next(e for e, _, r in logins if r == "admin")
    token = client.post("/api/v1/auth/token", json={"email": email, "password": DEMO_PASSWORD}).get_json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    contact = client.get("/api/v1/contact?limit=1", headers=headers).get_json()["data"][0]
    consent = client.post(
        "/api/v1/consent",
        json={"contact": contact["id"], "purpose": "newsletter", "source": "webform"},
        headers=headers,
    )
    assert consent.status_code == 201 and consent.get_json()["recorded_at"]
    exported = client.get(f"/api/v1/privacy/contacts/{contact['id']}/export", headers=headers).get_json()
    assert exported["record"]["id"] == contact["id"]
    assert [c["purpose"] for c in exported["related"]["consent"]] == ["newsletter"]
