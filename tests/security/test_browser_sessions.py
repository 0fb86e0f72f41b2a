"""Browser sessions: sign in with a form, a signed cookie, CSRF tokens on every write."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD


def form_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client) -> str:
    token = form_token(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"email": "admin@test.dev", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/")
    return form_token(client.get("/").get_data(as_text=True))


def test_signed_out_home_redirects_to_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


def test_session_reads_the_api_and_writes_need_the_csrf_token(client, workspace):
    csrf = sign_in(client)
    cookie = client.get_cookie("tessera_session")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert client.get("/api/v1/gadget").status_code == 200  # reads: the session is enough
    refused = client.post("/api/v1/gadget", json={"name": "forged"})
    assert refused.status_code == 403 and "CSRF" in refused.get_json()["detail"]
    accepted = client.post("/api/v1/gadget", json={"name": "mine"}, headers={"X-CSRF-Token": csrf})
    assert accepted.status_code == 201


def test_wrong_password_and_forged_login_form(client):
    token = form_token(client.get("/login").get_data(as_text=True))
    wrong = client.post("/login", data={"email": "admin@test.dev", "password": "nope-nope-1", "csrf_token": token})
    assert wrong.status_code == 401 and "wrong password" in wrong.get_data(as_text=True)
    forged = client.post("/login", data={"email": "admin@test.dev", "password": PASSWORD, "csrf_token": "x"})
    assert forged.status_code == 400


def test_logout_revokes_the_session_token(client):
    csrf = sign_in(client)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert client.get("/api/v1/gadget").status_code == 401
    assert client.get("/").headers["Location"].endswith("/login")
