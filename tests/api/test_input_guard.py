"""A NUL character anywhere in a request is a clear 400, on every route and both databases
(PostgreSQL text cannot hold one; before, several routes answered 500 there)."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "auth/token", {"email": "admin@test.dev\x00", "password": "x"}),
        ("POST", "auth/password-reset", {"email": "a\x00@test.dev"}),
        ("POST", "auth/keys", {"name": "ci\x00key"}),
        ("DELETE", "auth/keys/abc%00def", None),
        ("GET", "admin/audit?entity=gadget%00", None),
        ("POST", "auth/impersonate", {"user": {"nested": ["x\x00"]}}),
    ],
)
def test_a_nul_character_is_refused_with_a_problem(admin, method, path, body):
    response = admin._call(method, path, body)
    assert response.status_code == 400, response.get_json()
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "NUL" in response.get_json()["detail"]


def test_record_writes_still_name_the_field_holding_the_nul(admin):
    response = admin.post("gadget", {"name": "nul\x00byte"})
    assert response.status_code == 422
    assert [e["field"] for e in response.get_json()["errors"]] == ["name"]


def test_text_without_nul_passes_the_guard(admin):
    assert admin.post("auth/keys", {"name": "ci key"}).status_code in (200, 201)
