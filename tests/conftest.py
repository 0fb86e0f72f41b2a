"""Shared fixtures: an app per database backend, users per role, an API client.

Every storage and API test runs on SQLite, and on PostgreSQL when
``TESSERA_TEST_DATABASE_URL`` is set (each test gets its own schema there, dropped after).
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine import dashboard_cache
from engine.app import create_app
from engine.config import Config
from engine.security.users import create_user, ensure_roles
from engine.workspace import Workspace
from tests.templates import Templates

TEST_PACKS = Path(__file__).parent / "packs"
PG_URL = os.environ.get("TESSERA_TEST_DATABASE_URL")
PASSWORD = "Test-password-1"


@pytest.fixture(autouse=True)
def dashboards_never_slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """No dashboard counts as slow to compute (``engine.dashboard_cache.SLOW``) unless a test
    says so: on a loaded machine a test dashboard can take a quarter second, and its view
    right after a change would then answer with the stale figures."""
    monkeypatch.setattr(dashboard_cache, "SLOW", math.inf)


def _pg_url() -> str:
    url = PG_URL or ""
    return "postgresql+psycopg://" + url.split("://", 1)[1] if url.startswith("postgresql://") else url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("PostgreSQL tests need TESSERA_TEST_DATABASE_URL")
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'tessera.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_pg_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in _pg_url() else "?"
    yield f"{_pg_url()}{sep}options=-csearch_path%3D{schema}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def make_config(database_url: str, tmp_path: Path, packs: tuple[str, ...] = ("testkit",), **extra: Any) -> Config:
    return Config(
        database_url=database_url,
        packs=packs,
        extra_pack_paths=(TEST_PACKS,),
        secret_key="test-secret-key-" + "x" * 32,
        instance_path=tmp_path / "instance",
        password_hashing="fast",
        **{"auth_rate_limit": "1000 per minute", **extra},
    )


def pack_workspace(
    database_url: str, tmp_path: Path, name: str, files: dict[str, str], roles: dict[str, str]
) -> Workspace:
    """An installed workspace of one pack written here (``files``: path in the pack -> YAML),
    with a user ``ROLE@test.dev`` for each of ``roles`` (role -> label)."""
    pack = tmp_path / "packs" / name
    for path, text in {"pack.yaml": f"name: {name}\nversion: 1.0.0\n", **files}.items():
        (pack / path).parent.mkdir(parents=True, exist_ok=True)
        (pack / path).write_text(text)
    config = make_config(database_url, tmp_path, (name,)).with_overrides(
        extra_pack_paths=(TEST_PACKS, tmp_path / "packs")
    )
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    ensure_roles(ws, roles)
    for role, label in roles.items():
        create_user(ws, f"{role}@test.dev", label, PASSWORD, [role])
    return ws


@pytest.fixture
def cli_packs() -> str:
    """The packs of ``cli_env``; a test module overrides this fixture for others."""
    return "testkit"


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_packs: str) -> dict[str, str]:
    """The environment the ``tessera`` command reads its configuration from: the test
    database, ``cli_packs`` and an instance folder in ``tmp_path``; returns what it set."""
    values = {
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_PACKS": cli_packs,
        "TESSERA_EXTRA_PACK_PATHS": str(TEST_PACKS),
        "TESSERA_INSTANCE_PATH": str(tmp_path / "instance"),
        "TESSERA_SECRET_KEY": "cli-test-secret-" + "z" * 32,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture(scope="session")
def db_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    """This worker's installed template databases (``tests.templates``)."""
    templates = Templates(tmp_path_factory.mktemp("templates"), _pg_url() if PG_URL else None)
    yield templates
    templates.drop_all()


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Config:
    return make_config(database_url, tmp_path)


@pytest.fixture
def workspace(config: Config) -> Iterator[Workspace]:
    ws = Workspace(config, meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "admin@test.dev", "Ada Admin", PASSWORD, ["admin"])
    create_user(ws, "rep@test.dev", "Rex Rep", PASSWORD, ["sales_rep"])
    yield ws
    ws.close()


class Api:
    """A small JSON client over Flask's test client, signed in as one user."""

    def __init__(self, client: Any, token: str | None):
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def _call(self, method: str, path: str, json: Any = None, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        url = path if path.startswith("/") else f"/api/v1/{path}"
        return self.client.open(url, method=method, json=json, headers={**self.headers, **(headers or {})}, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self._call("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("POST", path, json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("PATCH", path, json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self._call("PUT", path, json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self._call("DELETE", path, **kw)


def sign_in(client: Any, email: str) -> Api:
    response = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return Api(client, response.get_json()["token"])


@pytest.fixture
def app(workspace: Workspace, config: Config) -> Any:
    return create_app(config, workspace)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def admin(client: Any) -> Api:
    return sign_in(client, "admin@test.dev")


@pytest.fixture
def rep(client: Any) -> Api:
    return sign_in(client, "rep@test.dev")


@pytest.fixture
def anonymous(client: Any) -> Api:
    return Api(client, None)


def table_rows(workspace: Workspace, table: str) -> int:
    """Rows in a table, read directly: to prove that nothing was written."""
    with workspace.db.connect() as conn:
        return conn.execute(sa.text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one()
