"""A write may give a record to someone outside the writer's read scope (a front desk files
inquiries that a rule hands to the sales desk, a rep passes a deal to a colleague). It is
written all the same; the answer says it can no longer be read instead of saying it does
not exist (which, read back inside the write, also rolled the write back)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.actor import SYSTEM
from engine.app import create_app
from engine.security.users import create_user
from tests.conftest import PASSWORD, pack_workspace, sign_in
from tests.ui.pages import csrf_of, html

ENTITY = """
entity: inquiry
title: subject
fields:
  subject: {type: string, required: true}
permissions:
  front_desk: {read: own, create: true, update: own}
  sales_rep:  {read: own, create: true, update: all}
"""
RULES = """
rules:
  - name: to_the_sales_desk
    entity: inquiry
    on: create
    when: '"front_desk" in $user.roles.name'
    do:
      - assign: {field: owner, strategy: round_robin, candidates: '"sales_rep" in roles.name', only_if_empty: false}
"""


@pytest.fixture
def ws(database_url: str, tmp_path: Path) -> Any:
    files = {"entities/inquiry.yaml": ENTITY, "rules/routing.yaml": RULES}
    ws = pack_workspace(database_url, tmp_path, "desk", files, {"front_desk": "Desk", "sales_rep": "Rep"})
    create_user(ws, "rep2@test.dev", "Rep Two", PASSWORD, ["sales_rep"])
    yield ws
    ws.close()


def _inquiries(ws: Any) -> list[dict[str, Any]]:
    return ws.records.list(SYSTEM, "inquiry", {"sort": "subject"}).data


def test_a_create_handed_to_someone_else_is_written_and_answered_as_out_of_sight(ws: Any) -> None:
    desk = sign_in(create_app(ws.config, ws).test_client(), "front_desk@test.dev")
    created = desk.post("inquiry", {"subject": "Call back about the SAN"})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body == {"id": body["id"], "_readable": False}
    assert created.headers["Location"] == f"/api/v1/inquiry/{body['id']}" and "ETag" not in created.headers
    [stored] = _inquiries(ws)
    assert stored["id"] == body["id"] and stored["owner"] != stored["created_by"]  # the rule gave it to a rep
    assert desk.get(f"inquiry/{body['id']}").status_code == 404
    # the same with an idempotency key, and its replay
    again = desk.post("inquiry", {"subject": "Quote for 40 laptops"}, headers={"Idempotency-Key": "desk-42"})
    replay = desk.post("inquiry", {"subject": "Quote for 40 laptops"}, headers={"Idempotency-Key": "desk-42"})
    assert again.get_json() == replay.get_json() == {"id": again.get_json()["id"], "_readable": False}
    bulk = desk.post("inquiry/bulk", [{"subject": "A"}, {"subject": "B"}]).get_json()["data"]
    assert [b["_readable"] for b in bulk] == [False, False]
    assert len(_inquiries(ws)) == 4


def test_an_update_passing_a_record_on_is_written(ws: Any) -> None:
    client = create_app(ws.config, ws).test_client()
    rep, rep2 = sign_in(client, "sales_rep@test.dev"), sign_in(client, "rep2@test.dev")
    mine = rep.post("inquiry", {"subject": "Renewal of the backup licences"}).get_json()
    assert mine["subject"] == "Renewal of the backup licences"  # their own: answered in full
    other = rep2.get("auth/me").get_json()["id"]
    passed = rep.patch(f"inquiry/{mine['id']}", {"owner": other})
    assert passed.status_code == 200, passed.get_json()
    assert passed.get_json() == {"id": mine["id"], "_readable": False}
    assert rep2.get(f"inquiry/{mine['id']}").get_json()["owner"] == other


def test_the_form_says_where_the_record_went(ws: Any) -> None:
    client = create_app(ws.config, ws).test_client()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"email": "front_desk@test.dev", "password": PASSWORD, "csrf_token": token})
    form = html(client.get("/app/inquiry/new"))
    sent = client.post("/app/inquiry/new", data={"csrf_token": csrf_of(form), "subject": "Printer on fire"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith("/app/inquiry")
    shown = html(client.get(sent.headers["Location"]))
    assert "Inquiry created. It is outside the records you may open, so it is not shown." in shown
    assert [i["subject"] for i in _inquiries(ws)] == ["Printer on fire"]
