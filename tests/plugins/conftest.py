"""The example plugin (examples/plugin_hello) found through a real entry point, without
``pip install``: a temporary ``.dist-info`` and the example's source folder on sys.path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.plugin_testing import plugin_installed
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugin_hello"


@pytest.fixture
def hello_plugin() -> Iterator[Path]:
    with plugin_installed("hello", "tessera_hello", source=EXAMPLE, version="0.1.0") as info:
        yield info


@pytest.fixture
def hello_ws(hello_plugin: Path, database_url: str, tmp_path: Path) -> Iterator[Workspace]:
    """A workspace with the plugin's ``hello`` pack, an admin and a sales rep."""
    ws = Workspace(make_config(database_url, tmp_path, packs=("hello",)), meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "admin@test.dev", "Ada Admin", PASSWORD, ["admin"])
    create_user(ws, "rep@test.dev", "Rex Rep", PASSWORD, ["sales_rep"])
    yield ws
    ws.close()
