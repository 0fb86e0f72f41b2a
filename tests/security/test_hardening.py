"""Security headers on every response; sign-in attempts are rate limited."""

from __future__ import annotations

import pytest

from engine.app import create_app
from engine.config import load_config
from engine.errors import TesseraError
from tests.conftest import PASSWORD, make_config


def test_security_headers(client, admin):
    for response in (client.get("/"), admin.get("gadget"), client.get("/api/v1/nope")):
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert admin.get("gadget").headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in client.get("/").headers  # plain HTTP here
    assert "Strict-Transport-Security" in client.get("/", base_url="https://localhost").headers


def test_sign_in_is_rate_limited_with_a_problem_response(workspace, database_url, tmp_path):
    config = make_config(database_url, tmp_path, auth_rate_limit="3 per minute")
    client = create_app(config, workspace).test_client()
    bad = {"email": "admin@test.dev", "password": "wrong-password-1"}
    statuses = [client.post("/api/v1/auth/token", json=bad).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    limited = client.post("/api/v1/auth/token", json={"email": "admin@test.dev", "password": PASSWORD})
    assert limited.status_code == 429
    assert limited.headers["Content-Type"] == "application/problem+json"
    assert "Retry-After" in limited.headers
    assert client.get("/healthz").status_code == 200  # other endpoints are not affected


def test_the_sign_in_limits_are_set_from_the_environment(workspace, database_url, tmp_path):
    settings = {"TESSERA_DATABASE_URL": database_url, "TESSERA_AUTH_RATE_LIMIT": "2 per minute"}
    loaded = load_config({**settings, "TESSERA_LOGIN_LOCKOUT": "9 per hour"}, tmp_path / "none.toml")
    assert (loaded.auth_rate_limit, loaded.login_lockout) == ("2 per minute", "9 per hour")
    config = make_config(database_url, tmp_path).with_overrides(auth_rate_limit=loaded.auth_rate_limit)
    client = create_app(config, workspace).test_client()
    good = {"email": "admin@test.dev", "password": PASSWORD}
    assert [client.post("/api/v1/auth/token", json=good).status_code for _ in range(3)] == [200, 200, 429]
    for variable in ("TESSERA_AUTH_RATE_LIMIT", "TESSERA_LOGIN_LOCKOUT"):
        with pytest.raises(TesseraError, match=f"{variable} must be a rate like '20 per minute', not 'often'"):
            load_config({**settings, variable: "often"}, tmp_path / "none.toml")
