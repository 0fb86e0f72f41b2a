"""``TESSERA_TRUSTED_PROXIES``: behind nginx, the client's address comes from X-Forwarded-For."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.app import create_app
from engine.config import load_config
from engine.errors import TesseraError
from engine.workspace import Workspace
from tests.conftest import make_config

NO_TOML = Path("/nonexistent.toml")
PROXIED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


def test_the_setting_is_a_small_number() -> None:
    assert load_config({}, NO_TOML).trusted_proxies == 0
    assert load_config({"TESSERA_TRUSTED_PROXIES": "1"}, NO_TOML).trusted_proxies == 1
    with pytest.raises(TesseraError, match="TESSERA_TRUSTED_PROXIES must be the number of reverse proxies"):
        load_config({"TESSERA_TRUSTED_PROXIES": "yes"}, NO_TOML)


def test_behind_a_trusted_proxy_the_forwarded_client_is_seen(
    workspace: Workspace, database_url: str, tmp_path: Path
) -> None:
    # nginx on the same machine connects from 127.0.0.1; the caller is outside
    proxied = create_app(make_config(database_url, tmp_path, trusted_proxies=1), workspace).test_client()
    assert proxied.get("/metrics", headers=PROXIED).status_code == 403
    assert proxied.get("/metrics").status_code == 200  # a local caller, not through the proxy


def test_without_the_setting_forwarded_headers_are_ignored(client: Any) -> None:
    # nobody can claim another address by sending the header themselves
    spoofed = client.get(
        "/metrics", headers={"X-Forwarded-For": "127.0.0.1"}, environ_base={"REMOTE_ADDR": "198.51.100.4"}
    )
    assert spoofed.status_code == 403
