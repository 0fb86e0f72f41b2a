from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.app import create_app
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, Api, make_config, sign_in
from tests.plugins_sms.fake_gateway import fake_gateway  # noqa: F401  (a fixture)

SMS_PACKS = Path(__file__).parent / "packs"  # smskit: a message template


@pytest.fixture
def ws(database_url: str, tmp_path: Path) -> Iterator[Workspace]:
    config = make_config(database_url, tmp_path, ("testkit", "sms", "smskit"))
    config = config.with_overrides(extra_pack_paths=(*config.extra_pack_paths, SMS_PACKS))
    workspace = Workspace(config, meta_check_interval=0)
    workspace.install()
    ensure_roles(workspace)
    create_user(workspace, "admin@test.dev", "Ada Admin", PASSWORD, ["admin"])
    create_user(workspace, "lead@test.dev", "Lena Lead", PASSWORD, ["support_lead"])
    yield workspace
    workspace.close()


@pytest.fixture
def app(ws: Workspace) -> Any:
    return create_app(ws.config, ws)


@pytest.fixture
def admin(app: Any) -> Api:
    return sign_in(app.test_client(), "admin@test.dev")


@pytest.fixture
def lead(app: Any) -> Api:
    return sign_in(app.test_client(), "lead@test.dev")
