"""Fixtures of the connector tests: a workspace with the integrations pack, a fake peer, and
the shipped example connectors (examples/connectors/) pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integrations.fake_peer import FakePeer
from tests.sales.conftest import api_client, sales_workspace  # noqa: F401

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "connectors"


def example(name: str, peer: FakePeer, **changes: Any) -> dict[str, Any]:
    """A shipped example connector, its URLs pointed at ``peer``."""
    values = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    for key in ("base_url", "token_url"):
        if values.get(key):
            path = values[key].split("://", 1)[1].split("/", 1)[1] if "/" in values[key].split("://", 1)[1] else ""
            values[key] = f"{peer.url}/{path}".rstrip("/") if key == "token_url" else peer.url
    return {**values, **changes}


@pytest.fixture
def peer() -> Iterator[FakePeer]:
    server = FakePeer().start()
    yield server
    server.stop()


@pytest.fixture
def integrations(sales_workspace: Callable[..., Any]) -> Any:  # noqa: F811
    return sales_workspace("integrations")


@pytest.fixture
def admin_api(integrations: Any, api_client: Any) -> Any:  # noqa: F811
    return api_client(integrations, "admin")


@pytest.fixture
def client_for_webhook(integrations: Any) -> Any:
    """A test client with no credentials (the webhook's sender is no user)."""
    from engine.app import create_app

    return create_app(integrations.config, integrations).test_client()
