"""Browser-session clients for the web interface: ``ui_client(ws, "sales_rep")`` signs in
through the login form, as a person would, and returns the Flask test client (with the
session's CSRF token as ``client.csrf``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine.app import create_app
from engine.workspace import Workspace
from tests.conftest import PASSWORD
from tests.sales.conftest import api_client, sales_workspace  # noqa: F401 - shared with the UI tests
from tests.ui.pages import csrf_of


@pytest.fixture
def ui_client() -> Callable[[Workspace, str], Any]:
    def make(ws: Workspace, role: str) -> Any:
        client = create_app(ws.config, ws).test_client()
        token = csrf_of(client.get("/login").get_data(as_text=True))
        reply = client.post("/login", data={"email": f"{role}@test.dev", "password": PASSWORD, "csrf_token": token})
        assert reply.status_code == 302, reply.get_data(as_text=True)
        client.csrf = csrf_of(client.get("/app/profile").get_data(as_text=True))
        return client

    return make
