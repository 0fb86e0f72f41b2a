"""The permission matrix of the shipped packs, generated from their metadata.

For every entity of the core pack, every demo role and every action, the API answers as the
declared grant says: read (list 200, else the entity does not exist: 404), create (allowed:
the request reaches validation; refused: 403, or 404 when the role cannot even read), update
and delete of a record owned by someone else (scope all: done; a narrower scope or none:
403 when the record is readable, else 404).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.app import create_app
from engine.security.permissions import scope_of
from engine.security.users import DEFAULT_ROLES, create_user, ensure_roles
from engine.workspace import Workspace
from tests.conftest import PASSWORD, PG_URL, _pg_url, make_config, sign_in

ROLES = [r for r in DEFAULT_ROLES if r != "admin"]
SAMPLE = {
    "string": "x",
    "text": "x",
    "email": "m@x.dev",
    "phone": "+49 30 123456",
    "url": "https://x.dev",
    "int": 1,
    "decimal": "1",
    "money": "1",
    "percent": "1",
    "bool": True,
    "rating": 1,
    "json": {},
    "date": dt.date.today().isoformat(),
    "datetime": "2026-01-01T00:00:00Z",
    "duration": 60,
}


def sample_record(ws: Workspace, entity_name: str, made: dict[str, str]) -> str:
    """A minimal valid record of ``entity_name`` owned by the engine (not by any test user)."""
    if entity_name in made:
        return made[entity_name]
    entity = ws.snapshot().catalog.entities[entity_name]
    values: dict[str, Any] = {}
    for fd in entity.fields.values():
        if not fd.required or fd.readonly or "default" in fd.options:
            continue
        if fd.type == "enum":
            values[fd.name] = fd.enum_options[0].value
        elif fd.type in ("link", "user", "team"):
            values[fd.name] = sample_record(ws, fd.target or "", made)
        elif fd.type in SAMPLE:
            values[fd.name] = SAMPLE[fd.type]
    made[entity_name] = ws.records.create(SYSTEM, entity_name, values)["id"]
    return made[entity_name]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shipped(request, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("matrix")
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("PostgreSQL tests need TESSERA_TEST_DATABASE_URL")
        schema = f"m_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(_pg_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        request.addfinalizer(lambda: _drop(admin, schema))
        url = f"{_pg_url()}?options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tmp_path / 'matrix.db'}"
    config = make_config(url, tmp_path, packs=("core",))
    ws = Workspace(config, meta_check_interval=0)
    request.addfinalizer(ws.close)  # before the schema goes
    ws.install()
    ensure_roles(ws)
    for role in ROLES:
        create_user(ws, f"{role}@matrix.dev", role, PASSWORD, [role])
    client = create_app(config, ws).test_client()
    apis = {role: sign_in(client, f"{role}@matrix.dev") for role in ROLES}
    # records reference a user outside every role's scope
    made = {"user": create_user(ws, "nobody@matrix.dev", "Nobody", PASSWORD, [])["id"]}
    entities = [e for e in ws.snapshot().catalog.api_entities() if e.pack == "core"]
    records = {e.name: sample_record(ws, e.name, made) for e in entities}
    return ws, apis, entities, records


def _drop(admin: Any, schema: str) -> None:
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def scope(entity: Any, role: str, action: str) -> str:
    return scope_of((entity.permissions.get(role) or {}).get(action, "none"))


CASES = [
    (e, r, a)
    for e in ("account", "contact", "activity", "product", "notification", "user_badge", "crm_setting", "consent")
    for r in ROLES
    for a in ("read", "create", "update", "delete")
]


@pytest.mark.parametrize(("entity_name", "role", "action"), CASES)
def test_the_api_agrees_with_the_declared_grant(shipped, entity_name, role, action):
    ws, apis, entities, records = shipped
    entity = next(e for e in entities if e.name == entity_name)
    api, record_id = apis[role], records[entity_name]
    readable = scope(entity, role, "read") != "none"
    granted = scope(entity, role, action)
    if action == "read":
        assert api.get(f"{entity_name}?limit=1").status_code == (200 if readable else 404)
        return
    if action == "create":
        status = api.post(entity_name, {}).status_code
        if granted == "none":
            assert status == (403 if readable else 404)
        else:
            assert status in (201, 422)  # allowed: it reaches validation
        return
    # the sample record belongs to nobody of the role's scope: only "all" reaches it
    sees_record = readable and scope(entity, role, "read") == "all"
    if action == "update":
        status = api.patch(f"{entity_name}/{record_id}", {}).status_code
    else:
        status = api.delete(f"{entity_name}/{record_id}").status_code
        if status == 204:  # put it back for the other cases
            ws.records.restore(SYSTEM, entity_name, record_id)
    if granted == "all":
        assert status in (200, 204)
    else:
        assert status == (403 if sees_record else 404)
