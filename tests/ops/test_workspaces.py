"""Several workspaces in one deployment: created by ``tessera workspace create NAME --host
HOST``, each its own database, routed by host name; nothing crosses between them, neither
records, users, tokens nor metadata overlays."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from engine.app import create_app
from engine.cli import main
from engine.config import load_config
from engine.workspaces import read_registry
from tests.conftest import PASSWORD, _pg_url


@pytest.fixture
def deployment(cli_env: dict[str, str], database_url: str) -> Iterator[list[str]]:
    """The ``tessera`` environment; collects the PostgreSQL databases the CLI creates
    for the workspaces, dropped after the test."""
    created: list[str] = []
    yield created
    if created and database_url.startswith("postgresql"):  # the PostgreSQL databases the CLI made
        admin = sa.create_engine(_pg_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in created:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(*args: str):
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def _token(client, host: str, email: str) -> str | None:
    answer = client.post(
        "/api/v1/auth/token", json={"email": email, "password": PASSWORD}, headers={"Host": host}
    ).get_json()
    return answer.get("token")


def test_workspaces_by_host_share_nothing(deployment, backend):
    suffix = uuid.uuid4().hex[:6]
    acme, beta = f"acme_{suffix}", f"beta_{suffix}"
    assert run("init", "--admin-email", "root@main.dev", "--admin-password", PASSWORD)[0] == 0
    for name in (acme, beta):
        code, output = run(
            "workspace", "create", name, "--host", f"{name.replace('_', '-')}.Example.com",
            "--admin-email", f"admin@{name.replace('_', '-')}.example.com", "--admin-password", PASSWORD,
        )  # fmt: skip
        assert code == 0, output
        assert f"workspace {name} ready on {name.replace('_', '-')}.example.com" in output
        if backend == "postgresql":
            deployment.append(f"{load_config().database_url.rsplit('/', 1)[1].split('?')[0]}_{name}")
    registry = read_registry(load_config())
    host = {n: f"{n.replace('_', '-')}.example.com" for n in (acme, beta)}
    assert [registry[n].hosts for n in (acme, beta)] == [(host[acme],), (host[beta],)]
    assert len({load_config().database_url, registry[acme].database_url, registry[beta].database_url}) == 3

    # the CLI reaches one workspace with --workspace; the others do not get its user
    code, _ = run("--workspace", acme, "user", "add", "rep@acme.dev", "--password", PASSWORD, "--role", "sales_rep")
    assert code == 0
    assert run("--workspace", "nowhere", "user", "add", "x@x.dev", "--password", PASSWORD) == (
        1,
        "error: no workspace 'nowhere'; 'tessera workspace list' shows the registered ones\n",
    )
    listed = run("workspace", "list")[1]
    assert host[acme] in listed and host[beta] in listed

    app = create_app(load_config())
    client = app.test_client()
    hosts = {acme: host[acme], beta: f"{host[beta]}:8443", "default": "localhost"}
    admins = {acme: f"admin@{host[acme]}", beta: f"admin@{host[beta]}", "default": "root@main.dev"}
    tokens = {name: _token(client, hosts[name], admins[name]) for name in hosts}
    assert all(tokens.values())
    # users and tokens are per workspace: acme's admin cannot sign in at beta, nor use a token there
    assert _token(client, hosts[beta], admins[acme]) is None
    assert _token(client, hosts[acme], "rep@acme.dev") and _token(client, hosts[beta], "rep@acme.dev") is None
    foreign = client.get("/api/v1/maker", headers={"Host": hosts[beta], "Authorization": f"Bearer {tokens[acme]}"})
    assert foreign.status_code == 401

    def call(name: str, method: str, path: str, **kw):
        headers = {"Host": hosts[name], "Authorization": f"Bearer {tokens[name]}"}
        return getattr(client, method)(f"/api/v1/{path}", headers=headers, **kw)

    # records stay in their workspace
    assert call(acme, "post", "maker", json={"name": "Acme only"}).status_code == 201
    assert call("default", "post", "maker", json={"name": "Main only"}).status_code == 201
    assert [m["name"] for m in call(acme, "get", "maker").get_json()["data"]] == ["Acme only"]
    assert [m["name"] for m in call("default", "get", "maker").get_json()["data"]] == ["Main only"]
    assert call(beta, "get", "maker").get_json()["data"] == []

    # a metadata overlay (a custom field) changes only its own workspace
    added = call(beta, "post", "meta/entities/maker/fields", json={"name": "tier", "type": "string", "label": "Tier"})
    assert added.status_code == 201, added.get_json()
    assert call(beta, "post", "maker", json={"name": "Beta", "tier": "gold"}).get_json()["tier"] == "gold"
    fields = {n: [f["name"] for f in call(n, "get", "meta/entities/maker").get_json()["fields"]] for n in hosts}
    assert "tier" in fields[beta] and "tier" not in fields[acme] and "tier" not in fields["default"]
    refused = call(acme, "post", "maker", json={"name": "Acme 2", "tier": "gold"})
    assert refused.status_code == 422
    for ws in app.extensions["tessera"].workspaces():
        ws.close()


def test_workspace_create_refuses_bad_input_and_writes_nothing(deployment, backend):
    assert run("init")[0] == 0
    name = f"w_{uuid.uuid4().hex[:6]}"
    assert run("workspace", "create", "Bad-Name", "--host", "a.example.com") == (
        1,
        "error: workspace name 'Bad-Name': use lower-case letters, digits and _ (not 'default')\n",
    )
    assert run("workspace", "create", name) == (1, "error: give the host name the workspace is served at with --host\n")
    assert run("workspace", "create", name, "--host", "not a host") == (1, "error: 'not a host' is not a host name\n")
    same_db = run("workspace", "create", name, "--host", "a.example.com", "--database-url", load_config().database_url)
    assert same_db == (1, "error: that database already holds a workspace; each workspace needs its own\n")
    # packs that do not exist: the database is not left behind, the registry not written
    code, output = run("workspace", "create", name, "--host", "a.example.com", "--packs", "nonesuch")
    assert code == 1 and "unknown pack 'nonesuch'" in output
    # nor an administrator the workspace's database refuses
    bad_admin = run(
        "workspace", "create", name, "--host", "a.example.com", "--admin-email", "a@b", "--admin-password", PASSWORD
    )
    assert bad_admin == (1, "error: The user is not valid: email: Not a valid email address.\n")
    assert read_registry(load_config()) == {}
    if backend == "postgresql":
        admin = sa.create_engine(_pg_url())
        with admin.connect() as conn:
            like = conn.execute(sa.text("SELECT count(*) FROM pg_database WHERE datname LIKE :n"), {"n": f"%_{name}"})
            assert like.scalar() == 0
        admin.dispose()
    else:
        assert not (load_config().instance_path / "workspaces" / name / "tessera.db").exists()

    assert run("workspace", "create", name, "--host", "a.example.com")[0] == 0
    if backend == "postgresql":
        deployment.append(f"{load_config().database_url.rsplit('/', 1)[1].split('?')[0]}_{name}")
    again = run("workspace", "create", f"{name}x", "--host", "A.example.com")
    assert again == (1, f"error: host 'a.example.com' already serves workspace {name!r}\n")
    assert run("workspace", "create", name, "--host", "b.example.com") == (
        1,
        f"error: workspace {name!r} exists already\n",
    )
