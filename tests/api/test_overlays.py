"""Run-time entities and fields: stored in the database, live in every process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml
from click.testing import CliRunner

from engine.checking import check_packs
from engine.cli import main
from engine.config import Config
from tests.conftest import TEST_PACKS

SECOND_PROCESS = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    from engine.actor import SYSTEM
    from engine.config import Config
    from engine.workspace import Workspace
    config = Config(database_url=sys.argv[1], packs=("testkit",), extra_pack_paths=(Path(sys.argv[2]),),
                    secret_key="x" * 40, instance_path=Path(sys.argv[3]))
    ws = Workspace(config, meta_check_interval=0)
    print(json.dumps(sorted(ws.snapshot().catalog.entities["gadget"].fields)), flush=True)
    for line in sys.stdin:
        try:
            record = ws.records.create(SYSTEM, "gadget", json.loads(line))
            print(json.dumps({"ok": record}), flush=True)
        except Exception as exc:
            print(json.dumps({"error": str(exc)}), flush=True)
""")


def test_added_field_is_usable_at_once_and_from_a_second_process(admin, config, tmp_path):
    other = subprocess.Popen(
        [sys.executable, "-c", SECOND_PROCESS, config.database_url, str(TEST_PACKS), str(tmp_path / "other")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    try:
        before = json.loads(other.stdout.readline())
        assert "colour" not in before  # the second process started with the old metadata

        added = admin.post(
            "meta/entities/gadget/fields",
            {"name": "colour", "type": "enum", "options": ["red", "green"], "label": "Colour"},
        )
        assert added.status_code == 201
        assert "colour" in [f["name"] for f in added.get_json()["fields"]]
        assert admin.post("gadget", {"name": "here", "colour": "red"}).get_json()["colour"] == "red"
        assert admin.post("gadget", {"name": "bad", "colour": "blue"}).status_code == 422

        other.stdin.write(json.dumps({"name": "there", "colour": "green"}) + "\n")
        other.stdin.flush()
        answer = json.loads(other.stdout.readline())
        assert answer.get("ok", {}).get("colour") == "green", answer
    finally:
        other.stdin.close()
        other.wait(timeout=30)
    listed = admin.get("gadget?colour=green").get_json()["data"]
    assert [r["name"] for r in listed] == ["there"]


def test_added_entity_gets_a_table_an_api_and_an_openapi_entry(admin):
    document = {
        "entity": "visit",
        "label": "Visit",
        "title": "subject",
        "fields": {
            "subject": {"type": "string", "required": True},
            "gadget": {"type": "link", "to": "gadget"},
            "when": {"type": "datetime"},
        },
    }
    response = admin.post("meta/entities", document)
    assert response.status_code == 201, response.get_json()
    gadget = admin.post("gadget", {"name": "g"}).get_json()
    visit = admin.post("visit", {"subject": "check", "gadget": gadget["id"], "when": "2026-05-01T10:00:00Z"})
    assert visit.status_code == 201
    assert admin.get(f"gadget/{gadget['id']}/related/visit").get_json()["data"][0]["subject"] == "check"
    assert "/api/v1/visit" in admin.get("openapi.json").get_json()["paths"]
    assert "visit" in [e["name"] for e in admin.get("meta/entities").get_json()["data"]]
    assert admin.post("meta/entities", document).status_code == 409


def test_invalid_overlay_is_refused_with_the_checker_messages(admin, workspace):
    response = admin.post("meta/entities/gadget/fields", {"name": "size", "type": "enum"})
    assert response.status_code == 422
    assert any("'options' is a required property" in e["message"] for e in response.get_json()["errors"])
    broken_link = admin.post("meta/entities", {"entity": "thing", "fields": {"x": {"type": "link", "to": "nowhere"}}})
    assert broken_link.status_code == 422
    assert "thing" not in workspace.snapshot().catalog.entities


def test_only_admins_change_metadata(rep):
    assert rep.post("meta/entities/gadget/fields", {"name": "x", "type": "int"}).status_code == 403


def test_overlays_export_as_a_pack_that_passes_check(admin, config, tmp_path, monkeypatch):
    admin.post("meta/entities/gadget/fields", {"name": "colour", "type": "string", "max_length": 20})
    admin.post("meta/entities", {"entity": "visit", "fields": {"subject": {"type": "string"}}})
    monkeypatch.setenv("TESSERA_DATABASE_URL", config.database_url)
    monkeypatch.setenv("TESSERA_PACKS", "testkit")
    monkeypatch.setenv("TESSERA_EXTRA_PACK_PATHS", str(TEST_PACKS))
    monkeypatch.setenv("TESSERA_INSTANCE_PATH", str(tmp_path / "instance"))
    out = tmp_path / "exported" / "custom"
    result = CliRunner().invoke(main, ["packs", "export-overlays", str(out), "--name", "custom"])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((out / "entities" / "gadget.extension.yaml").read_text()) == {
        "extends": "gadget",
        "fields": {"colour": {"type": "string", "max_length": 20}},
    }
    assert yaml.safe_load((out / "entities" / "visit.yaml").read_text())["entity"] == "visit"
    checked = Config(database_url="sqlite://", packs=None, extra_pack_paths=(TEST_PACKS, out.parent))
    problems, _ = check_packs(checked, [out.parent])
    assert not problems, problems.items
