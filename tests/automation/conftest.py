"""Workspaces with the automation test packs (``tests/packs/autokit`` and friends)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config


@pytest.fixture
def auto_workspace(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Workspace]]:
    """``auto_workspace("auto_rules")``: a workspace with autokit plus the named packs."""
    made: list[Workspace] = []

    def build(*packs: str, **config: Any) -> Workspace:
        ws = Workspace(make_config(database_url, tmp_path, ("autokit", *packs), **config), meta_check_interval=0)
        ws.install()
        ensure_roles(ws)
        create_user(ws, "admin@test.dev", "Ada Admin", PASSWORD, ["admin"])
        create_user(ws, "rep@test.dev", "Rex Rep", PASSWORD, ["sales_rep"])
        made.append(ws)
        return ws

    yield build
    for ws in made:
        ws.close()
