"""Workspaces with the shipped sales packs (``metadata/``), on SQLite and PostgreSQL.

``sales_workspace("leads", "deals")`` gives a fresh database with the named packs (and what
they depend on) installed without demo data and one user per demo role (``ROLE@test.dev``,
password ``PASSWORD``), copied from this worker's template of that pack set
(``tests.templates``), and returns the workspace; ``api_client(ws, "sales_rep")`` gives a Flask test
client signed in as that role's user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

import metadata
from engine.app import create_app
from engine.security.users import DEFAULT_ROLES, create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config
from tests.templates import Templates


def shipped_packs() -> tuple[str, ...]:
    """Every first-party pack under ``metadata/`` (the test packs stay out)."""
    return tuple(sorted(p.name for p in Path(metadata.__file__).parent.iterdir() if (p / "pack.yaml").exists()))


@pytest.fixture
def sales_workspace(backend: str, tmp_path: Path, db_templates: Templates) -> Iterator[Callable[..., Workspace]]:
    made: list[Workspace] = []
    copies = ExitStack()

    def build(*packs: str, **config: Any) -> Workspace:
        packs = packs or shipped_packs()

        def install(url: str) -> None:
            ws = Workspace(make_config(url, tmp_path / "template", packs, **config), meta_check_interval=0)
            try:
                ws.install()
                ensure_roles(ws)
                for role in DEFAULT_ROLES:
                    create_user(ws, f"{role}@test.dev", role.replace("_", " ").title(), PASSWORD, [role])
            finally:
                ws.close()

        key = Templates.key(packs, sorted(config.items()))
        if backend == "sqlite":
            url = db_templates.sqlite_copy(key, tmp_path / f"workspace_{len(made)}.db", install)
        else:
            url = copies.enter_context(db_templates.postgres_copy(key, install))
        ws = Workspace(make_config(url, tmp_path, packs, **config), meta_check_interval=0)
        made.append(ws)
        return ws

    yield build
    for ws in made:
        ws.close()
    copies.close()


class ApiClient:
    """A signed-in test client: ``get/post/patch/delete`` return the Flask response."""

    def __init__(self, client: FlaskClient, token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def __getattr__(self, method: str) -> Callable[..., Any]:
        call = getattr(self.client, method)
        return lambda path, **kw: call(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)


@pytest.fixture
def api_client() -> Callable[[Workspace, str], ApiClient]:
    def make(ws: Workspace, role: str) -> ApiClient:
        app = create_app(ws.config, ws)
        client = app.test_client()
        reply = client.post("/api/v1/auth/token", json={"email": f"{role}@test.dev", "password": PASSWORD})
        assert reply.status_code == 200, reply.get_json()
        return ApiClient(client, reply.get_json()["token"])

    return make
