"""Run-time definitions: rules (and the other automation documents) changed through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from engine.actor import SYSTEM
from engine.app import create_app
from engine.checking import check_packs
from engine.cli import main
from engine.config import Config
from engine.workspace import Workspace
from tests.conftest import TEST_PACKS, Api, sign_in

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


@pytest.fixture
def rep(ws: Workspace) -> Api:
    return sign_in(create_app(ws.config, ws).test_client(), "rep@test.dev")


def _note(api: Api, subject: str, **values: Any) -> Any:
    return api.post("case", {"subject": subject, **values}).get_json()["note"]


def _meta_audit(admin: Api) -> list[tuple[str, list[str]]]:
    entries = admin.get("admin/audit?entity=meta").get_json()["data"]
    return [(e["action"], sorted(e["changes"])) for e in reversed(entries)]


def test_a_rule_is_created_replaced_disabled_and_deleted_at_run_time(admin: Api, rep: Api) -> None:
    assert _note(rep, "VIP") is None
    created = admin.post("meta/documents/rule", VIP)
    assert created.status_code == 201, created.get_json()
    assert created.get_json() == {
        "kind": "rule",
        "name": "flag_vip",
        "source": "overlay",
        "enabled": True,
        "document": VIP,
    }
    assert _note(rep, "VIP") == "vip"

    replaced = admin.put("meta/documents/rule/flag_vip", {**VIP, "do": [{"set": {"note": "very important"}}]})
    assert replaced.status_code == 200, replaced.get_json()
    assert _note(rep, "VIP") == "very important"

    disabled = admin.put("meta/documents/rule/flag_vip", {**VIP, "enabled": False})
    assert disabled.get_json()["enabled"] is False
    assert _note(rep, "VIP") is None
    assert admin.get("meta/documents/rule/flag_vip").get_json()["enabled"] is False

    assert admin.delete("meta/documents/rule/flag_vip").status_code == 204
    assert admin.get("meta/documents/rule/flag_vip").status_code == 404
    assert admin.delete("meta/documents/rule/flag_vip").status_code == 404
    assert _note(rep, "VIP") is None
    assert _meta_audit(admin) == [
        ("add_rule", ["flag_vip"]),
        ("set_rule", ["flag_vip"]),
        ("set_rule", ["flag_vip"]),
        ("remove_rule", ["flag_vip"]),
    ]


def test_an_overlay_overrides_a_pack_rule_until_it_is_deleted(admin: Api, rep: Api) -> None:
    shipped = admin.get("meta/documents/rule/p1_note").get_json()
    assert (shipped["source"], shipped["enabled"]) == ("auto_rules", True)
    assert _note(rep, "Down", priority="P1") == "Raised at Down"
    # POST is for new names only; PUT replaces the pack's definition
    assert admin.post("meta/documents/rule", shipped["document"]).status_code == 409
    changed = {**shipped["document"], "do": [{"set": {"note": "Overridden"}}]}
    assert admin.put("meta/documents/rule/p1_note", changed).get_json()["source"] == "overlay"
    assert _note(rep, "Down", priority="P1") == "Overridden"
    admin.delete("meta/documents/rule/p1_note")
    assert admin.get("meta/documents/rule/p1_note").get_json()["source"] == "auto_rules"
    assert _note(rep, "Down", priority="P1") == "Raised at Down"


def test_documents_are_listed_by_kind(admin: Api) -> None:
    admin.post("meta/documents/rule", VIP)
    calendar = {"calendar": "office", "timezone": "Europe/Berlin", "working_hours": {"mon": "08:00-17:00"}}
    assert admin.post("meta/documents/calendar", calendar).status_code == 201
    rules = admin.get("meta/documents?kind=rule").get_json()["data"]
    assert {(d["name"], d["source"]) for d in rules} >= {("flag_vip", "overlay"), ("p1_note", "auto_rules")}
    assert all(d["kind"] == "rule" for d in rules)
    everything = admin.get("meta/documents").get_json()["data"]
    assert ("calendar", "office", "overlay") in {(d["kind"], d["name"], d["source"]) for d in everything}
    assert admin.get("meta/documents/calendar").get_json()["data"][0]["document"] == calendar
    assert admin.get("meta/documents?kind=dashboardz").status_code == 400
    assert admin.get("meta/documents/dashboardz/x").status_code == 404


def test_a_bad_rule_is_refused_with_the_checker_messages(admin: Api, rep: Api, ws: Workspace) -> None:
    bad = {**VIP, "when": 'subject == "VIP" and priority == "P9"'}
    response = admin.post("meta/documents/rule", bad)
    assert response.status_code == 422
    body = response.get_json()
    assert body["title"] == "Invalid metadata"
    message = next(e["message"] for e in body["errors"])
    assert message.startswith("overlay:rule:flag_vip:when: ")
    assert "(line 1, column 34)" in message and '"P9"' in message  # where in the expression
    schema = admin.post("meta/documents/rule", {**VIP, "on": "whenever"}).get_json()
    assert any(e["field"] == "on" for e in schema["errors"])
    mismatch = admin.put("meta/documents/rule/other_name", VIP)
    assert mismatch.status_code == 422
    assert mismatch.get_json()["errors"] == [{"field": "name", "message": "Must be 'other_name', the name in the URL."}]
    assert admin.post("meta/documents/rule", ["not", "a", "rule"]).status_code == 400
    # nothing was stored: the rule does not exist and cases are untouched
    assert admin.get("meta/documents/rule/flag_vip").status_code == 404
    assert _note(rep, "VIP") is None
    assert _meta_audit(admin) == []


def test_removing_a_document_others_need_is_refused(admin: Api) -> None:
    admin.post("meta/documents/calendar", {"calendar": "office", "timezone": "UTC", "working_hours": "24x7"})
    sla = {
        "sla": "case_response",
        "entity": "case",
        "milestones": [{"name": "response", "done_when": "first_response_at != null"}],
        "policies": [{"name": "standard", "calendar": "office", "targets": {"default": {"response": "4h"}}}],
    }
    created = admin.post("meta/documents/sla", sla)
    assert created.status_code == 201, created.get_json()
    refused = admin.delete("meta/documents/calendar/office")
    assert refused.status_code == 422
    assert admin.get("meta/documents/calendar/office").status_code == 200


def test_only_admins_see_or_change_documents(rep: Api) -> None:
    assert rep.get("meta/documents").status_code == 403
    assert rep.get("meta/documents/rule/p1_note").status_code == 403
    assert rep.post("meta/documents/rule", VIP).status_code == 403
    assert rep.put("meta/documents/rule/flag_vip", VIP).status_code == 403
    assert rep.delete("meta/documents/rule/p1_note").status_code == 403


def test_another_process_picks_the_rule_up_without_a_restart(admin: Api, ws: Workspace) -> None:
    other = Workspace(ws.config, meta_check_interval=0)  # a second process on the same database
    try:
        assert other.records.create(SYSTEM, "case", {"subject": "VIP"})["note"] is None
        admin.post("meta/documents/rule", VIP)
        assert other.records.create(SYSTEM, "case", {"subject": "VIP"})["note"] == "vip"
        admin.delete("meta/documents/rule/flag_vip")
        assert other.records.create(SYSTEM, "case", {"subject": "VIP"})["note"] is None
    finally:
        other.close()


def test_exported_documents_form_a_pack_that_passes_check(
    admin: Api, ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin.post("meta/documents/rule", VIP)
    calendar = {"calendar": "office", "timezone": "Europe/Berlin", "working_hours": {"mon": "08:00-17:00"}}
    admin.post("meta/documents/calendar", calendar)
    monkeypatch.setenv("TESSERA_DATABASE_URL", ws.config.database_url)
    monkeypatch.setenv("TESSERA_PACKS", "autokit,auto_rules")
    monkeypatch.setenv("TESSERA_EXTRA_PACK_PATHS", str(TEST_PACKS))
    monkeypatch.setenv("TESSERA_INSTANCE_PATH", str(tmp_path / "instance"))
    out = tmp_path / "exported" / "custom"
    result = CliRunner().invoke(main, ["packs", "export-overlays", str(out), "--name", "custom"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((out / "rules" / "flag_vip.yaml").read_text()) == {"rules": [VIP]}
    assert yaml.safe_load((out / "calendars" / "office.yaml").read_text()) == calendar
    checked = Config(database_url="sqlite://", packs=None, extra_pack_paths=(TEST_PACKS, out.parent))
    problems, count = check_packs(checked, [out.parent])
    assert not problems, problems.items
    assert count == 4  # custom, the packs it depends on and system


def _pack(root: Path, name: str, depends: list[str]) -> None:
    (root / name / "rules").mkdir(parents=True)
    (root / name / "pack.yaml").write_text(yaml.safe_dump({"name": name, "version": "1.0.0", "depends": depends}))
    rules = f"rules:\n  - name: {name}_rule\n    entity: case\n    on: create\n    do: [{{set: {{note: x}}}}]\n"
    (root / name / "rules" / "cases.yaml").write_text(rules)
    (root / name / "workflows").mkdir()
    flow = "workflow: deal_flow\nentity: deal\nfield: status\ntransitions: []\n"
    (root / name / "workflows" / "deals.yaml").write_text(flow)


def test_pack_automation_may_target_only_entities_of_packs_it_depends_on(tmp_path: Path) -> None:
    _pack(tmp_path, "dependent", ["autokit"])
    _pack(tmp_path, "stray", [])
    paths = (TEST_PACKS, tmp_path)
    fine, _ = check_packs(Config(database_url="sqlite://", packs=("autokit", "dependent"), extra_pack_paths=paths), [])
    assert not fine, fine.items
    stray, _ = check_packs(Config(database_url="sqlite://", packs=("autokit", "stray"), extra_pack_paths=paths), [])
    assert sorted(p.message for p in stray.items) == [
        "'case' belongs to pack 'autokit', which pack 'stray' does not depend on",
        "'deal' belongs to pack 'autokit', which pack 'stray' does not depend on",  # workflows too
    ]
    assert any(str(p.location).endswith("stray/rules/cases.yaml:3:5") for p in stray.items)  # at entity
