"""Retention rules delete or anonymise old records; a dry run only reports."""

from __future__ import annotations

import datetime as dt

from click.testing import CliRunner

from engine.cli import main
from engine.security.retention import run_retention
from tests.conftest import TEST_PACKS, table_rows


def test_rules_report_then_apply(admin, workspace):
    person = admin.post("person", {"last_name": "Old", "email": "old@x.dev", "city": "Rome"}).get_json()
    admin.post("person_note", {"person": person["id"], "text": "temp note"})
    admin.post("person_note", {"person": person["id"], "text": "keep this"})
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)

    report = {(r.entity, r.rule): len(r.record_ids) for r in run_retention(workspace, later, dry_run=True)}
    assert report == {("person_note", "purge_old_notes"): 1, ("person", "anonymise_inactive"): 1}
    assert table_rows(workspace, "person_note") == 2  # a dry run changes nothing

    assert run_retention(workspace, dt.datetime.now(dt.UTC), dry_run=True)[0].record_ids == []  # not old yet
    run_retention(workspace, later)
    assert table_rows(workspace, "person_note") == 1
    record = admin.get(f"person/{person['id']}").get_json()
    assert record["last_name"] == "(erased)" and record["email"] is None and record["city"] == "Rome"
    actions = [h["action"] for h in admin.get(f"person/{person['id']}/history").get_json()["data"]]
    assert actions[0] == "retention_anonymise"


def test_retention_command(config, workspace, monkeypatch, tmp_path):
    for key, value in {
        "TESSERA_DATABASE_URL": config.database_url,
        "TESSERA_PACKS": "testkit",
        "TESSERA_EXTRA_PACK_PATHS": str(TEST_PACKS),
        "TESSERA_INSTANCE_PATH": str(tmp_path / "instance"),
        "TESSERA_SECRET_KEY": config.secret_key or "",
    }.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(main, ["retention", "--dry-run", "--now", "2030-01-01T00:00:00Z"])
    assert result.exit_code == 0, result.output
    assert "person_note.purge_old_notes: would delete 0 record(s)" in result.output
    bad = CliRunner().invoke(main, ["retention", "--now", "soon"])
    assert bad.exit_code == 1 and "--now must be an ISO datetime" in bad.output
