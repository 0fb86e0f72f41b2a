"""``?dry_run=true`` on the metadata changes: the answer says what would happen (the
definition, the schema steps, or the checker's errors) and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from engine.app import create_app
from engine.workspace import Workspace
from tests.conftest import Api, sign_in

VIP = {
    "name": "flag_vip",
    "entity": "case",
    "on": ["create"],
    "when": 'subject == "VIP"',
    "do": [{"set": {"note": "vip"}}],
}


@pytest.fixture
def ws(auto_workspace: Any) -> Workspace:
    return auto_workspace("auto_rules")


@pytest.fixture
def admin(ws: Workspace) -> Api:
    return sign_in(create_app(ws.config, ws).test_client(), "admin@test.dev")


def _fields(admin: Api) -> list[str]:
    return [f["name"] for f in admin.get("meta/entities/case").get_json()["fields"]]


def test_a_dry_run_field_or_entity_shows_the_plan_and_stores_nothing(admin: Api) -> None:
    trial = admin.post("meta/entities/case/fields?dry_run=true", {"name": "region", "type": "string"})
    assert trial.status_code == 200, trial.get_json()
    body = trial.get_json()
    assert body["dry_run"] is True and "region" in [f["name"] for f in body["fields"]]
    assert len(body["plan"]) == 1 and "add_column" in body["plan"][0] and "region" in body["plan"][0]
    assert "region" not in _fields(admin)
    bad = admin.post("meta/entities/case/fields?dry_run=true", {"name": "boss", "type": "link"})
    assert bad.status_code == 422 and bad.get_json()["errors"]

    entity = {"entity": "site_visit", "fields": {"notes": {"type": "text"}}}
    planned = admin.post("meta/entities?dry_run=true", entity).get_json()
    assert planned["name"] == "site_visit" and any("add_table" in step for step in planned["plan"])
    assert admin.get("meta/entities/site_visit").status_code == 404
    assert admin.post("meta/entities", entity).status_code == 201
    assert admin.post("meta/entities?dry_run=maybe", entity).status_code == 400


def test_a_dry_run_document_is_checked_and_not_stored(admin: Api) -> None:
    checked = admin.post("meta/documents/rule?dry_run=true", VIP)
    assert checked.status_code == 200, checked.get_json()
    assert checked.get_json() == {
        "kind": "rule", "name": "flag_vip", "source": "overlay", "enabled": True, "document": VIP,
        "dry_run": True, "plan": [],
    }  # fmt: skip
    assert admin.get("meta/documents/rule/flag_vip").status_code == 404
    broken = admin.put("meta/documents/rule/flag_vip?dry_run=true", {**VIP, "when": "subject =="})
    assert broken.status_code == 422 and "when" in broken.get_json()["errors"][0]["field"]
    assert admin.get("meta/documents/rule/flag_vip").status_code == 404
    assert admin.get("admin/audit?entity=meta").get_json()["data"] == []


def test_every_dry_run_answer_is_documented_as_200(admin: Api) -> None:
    doc = admin.get("openapi.json").get_json()
    trials = {
        ("/api/v1/meta/entities/{name}/fields", "meta/entities/case/fields"): {"name": "region", "type": "string"},
        ("/api/v1/meta/entities", "meta/entities"): {"entity": "site_visit", "fields": {}},
        ("/api/v1/meta/documents/{kind}", "meta/documents/rule"): VIP,
    }
    for (path, url), body in trials.items():
        trial = admin.post(f"{url}?dry_run=true", body)
        assert trial.status_code == 200, (url, trial.get_json())
        answer = doc["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        Draft202012Validator({**answer, "components": doc["components"]}).validate(trial.get_json())
