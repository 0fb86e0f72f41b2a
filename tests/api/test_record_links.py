"""Record links (``/api/v1/public/respond/TOKEN``): a form with ``record_link:`` answered from
a signed, expiring, single-use link to one record that a message template made with
``{{ record_link("FORM") }}``. The ``link_kit`` pack e-mails a delivery's recipient a link
to confirm it (``received_by`` required, ``rating`` 1-5, ``confirmed`` set by the form)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.app import create_app
from engine.automation.delivery import build_email, send_email
from engine.config import load_config
from engine.errors import TesseraError
from engine.security.users import create_user, ensure_roles
from engine.storage import system_tables as st
from engine.storage.database import read_transaction
from engine.workspace import Workspace
from tests.conftest import PASSWORD, Api, make_config, sign_in


@pytest.fixture
def ws(database_url: str, tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(make_config(database_url, tmp_path, ("link_kit",)), meta_check_interval=0)
    workspace.install()
    ensure_roles(workspace)
    create_user(workspace, "admin@test.dev", "Ada", PASSWORD, ["admin"])
    yield workspace
    workspace.close()


def _rows(ws: Workspace) -> list[dict[str, Any]]:
    o = st.outbox
    with read_transaction(ws.db) as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(o).order_by(o.c.created_at, o.c.id)).all()]


def _link(ws: Workspace, row: dict[str, Any]) -> str:
    text = str(build_email(ws, row).get_body(("plain",)).get_content())
    found = re.search(r"/api/v1/public/respond/\S+", text)
    assert found, text
    return found.group(0)


def test_a_record_link_fills_the_form_fields_once(ws):
    client = create_app(ws.config, ws).test_client()
    admin, public = sign_in(client, "admin@test.dev"), Api(client, None)
    delivery = admin.post("delivery", {"name": "Rack rails", "email": "kim@example.com"}).get_json()
    [row] = _rows(ws)
    link = _link(ws, row)

    form = public.get(link).get_json()
    assert form["form"] == "confirm_delivery" and form["record"] == "Rack rails"
    assert [(f["name"], f["required"], f.get("min"), f.get("max")) for f in form["fields"]] == [
        ("received_by", True, None, None),
        ("rating", False, 1, 5),
    ]
    refused = public.post(link, {"rating": 9, "confirmed": False})
    assert refused.status_code == 422
    assert {e["field"] for e in refused.get_json()["errors"]} == {"received_by", "confirmed"}
    assert public.post(link, {"received_by": "Kim", "rating": 9}).status_code == 422  # over the field's max
    answer = public.post(link, {"received_by": "Kim", "rating": 5})
    assert answer.status_code == 200 and answer.get_json()["message"] == "Thanks, the delivery is confirmed."
    stored = ws.records.get(SYSTEM, "delivery", delivery["id"])
    assert (stored["received_by"], stored["rating"], stored["confirmed"]) == ("Kim", 5, True)

    # once; a changed token opens nothing; the form creates nothing at /public/forms
    again = public.post(link, {"received_by": "Mallory"})
    assert again.status_code == 409 and "already used" in again.get_json()["detail"]
    assert public.get(link).status_code == 409
    assert public.get(link[:-2] + "xy").status_code == 404
    assert public.get("/api/v1/public/respond/not-a-token").status_code == 404
    assert public.post("/api/v1/public/forms/confirm_delivery", {"received_by": "Eve"}).status_code == 404
    assert ws.records.get(SYSTEM, "delivery", delivery["id"])["received_by"] == "Kim"


def test_a_record_link_expires_and_a_wrong_form_name_fails_the_delivery(ws):
    client = create_app(ws.config, ws).test_client()
    admin, public = sign_in(client, "admin@test.dev"), Api(client, None)
    delivery = admin.post("delivery", {"name": "Switch", "email": "kim@example.com"}).get_json()
    link = _link(ws, _rows(ws)[0])
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    ws.records.clock = lambda: later
    expired = public.post(link, {"received_by": "Kim"})
    assert expired.status_code == 409 and "expired" in expired.get_json()["detail"]

    admin.patch(f"delivery/{delivery['id']}", {"name": "Switch 48p"})
    wrong = _rows(ws)[-1]
    result = send_email(ws, wrong)
    assert not result.ok and not result.retry and "no_such_form" in (result.error or "")


def test_record_links_are_absolute_under_the_configured_public_url(database_url, tmp_path):
    config = make_config(database_url, tmp_path, ("link_kit",), public_url="https://crm.example.com/tessera")
    workspace = Workspace(config, meta_check_interval=0)
    try:
        workspace.install()
        ensure_roles(workspace)
        create_user(workspace, "admin@test.dev", "Ada", PASSWORD, ["admin"])
        client = create_app(workspace.config, workspace).test_client()
        admin, public = sign_in(client, "admin@test.dev"), Api(client, None)
        admin.post("delivery", {"name": "Rack rails", "email": "kim@example.com"})
        [row] = _rows(workspace)
        text = str(build_email(workspace, row).get_body(("plain",)).get_content())
        found = re.search(r"https://crm\.example\.com/tessera(/api/v1/public/respond/\S+)", text)
        assert found, text
        # behind the proxy the path answers as before
        assert public.get(found.group(1)).get_json()["form"] == "confirm_delivery"
    finally:
        workspace.close()


def test_without_a_public_url_record_links_stay_paths(ws):
    client = create_app(ws.config, ws).test_client()
    sign_in(client, "admin@test.dev").post("delivery", {"name": "Rack rails", "email": "kim@example.com"})
    [row] = _rows(ws)
    text = str(build_email(ws, row).get_body(("plain",)).get_content())
    assert "Confirm here: /api/v1/public/respond/" in text
    assert "http" not in text


def test_the_public_url_is_read_from_the_environment_and_checked(tmp_path):
    none = tmp_path / "none.toml"
    assert load_config({}, none).public_url is None
    assert load_config({"TESSERA_PUBLIC_URL": "https://crm.example.com/"}, none).public_url == "https://crm.example.com"
    toml = tmp_path / "tessera.toml"
    toml.write_text('[tessera]\npublic_url = "http://localhost:8000"\n')
    assert load_config({}, toml).public_url == "http://localhost:8000"
    for bad in ("crm.example.com", "ftp://crm.example.com", "https://crm.example.com/?x=1", "https://:80"):
        with pytest.raises(TesseraError, match="TESSERA_PUBLIC_URL"):
            load_config({"TESSERA_PUBLIC_URL": bad}, none)
