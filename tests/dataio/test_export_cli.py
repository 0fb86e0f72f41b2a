"""``tessera export``: a file or stdout, the permissions of ``--as``, one-line errors and
nothing half-written. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from engine.actor import SYSTEM
from engine.cli import main
from engine.overlays import set_permission
from tests.conftest import TEST_PACKS


@pytest.fixture
def cli(workspace: Any, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The command line, pointed at the test workspace's database."""
    config = workspace.config
    monkeypatch.setenv("TESSERA_DATABASE_URL", database_url)
    monkeypatch.setenv("TESSERA_PACKS", "testkit")
    monkeypatch.setenv("TESSERA_EXTRA_PACK_PATHS", str(TEST_PACKS))
    monkeypatch.setenv("TESSERA_INSTANCE_PATH", str(config.instance_path))
    monkeypatch.setenv("TESSERA_SECRET_KEY", config.secret_key)
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, ["export", *args])

    return run


@pytest.fixture
def gadgets(workspace: Any) -> dict[str, str]:
    rep = workspace.records.list(SYSTEM, "user", {"email": "rep@test.dev"}).data[0]["id"]
    set_permission(
        workspace, SYSTEM, "gadget", "sales_rep", {"read": "own", "export": "all", "fields": {"price": "none"}}
    )
    made = {}
    for name, owner, status in (("Mine", rep, "live"), ("Theirs", None, "live"), ("=cmd|' /C calc'!A0", rep, "draft")):
        made[name] = workspace.records.create(
            SYSTEM, "gadget", {"name": name, "owner": owner, "status": status, "price": "5.00"}
        )["id"]
    return made


def test_export_writes_a_file_in_the_format_of_its_name(cli, gadgets, tmp_path):
    result = cli("gadget", "-o", "all.csv", "--fields", "name,status,price", "--sort", "name")
    assert result.exit_code == 0, result.output
    assert "exported 3 gadget record(s) to all.csv" in result.output
    rows = list(csv.reader(io.StringIO((tmp_path / "all.csv").read_text("utf-8-sig"))))
    assert rows[0] == ["name", "status", "price"]
    assert sorted(r[0] for r in rows[1:]) == ["'=cmd|' /C calc'!A0", "Mine", "Theirs"]
    assert result.exit_code == 0 and cli("gadget", "-o", "all.xlsx").exit_code == 0
    sheet = load_workbook(tmp_path / "all.xlsx").active
    assert sheet.max_row == 4  # the header and three records
    assert not list(tmp_path.glob(".all.*"))  # no temporary file left behind


def test_an_exported_file_gets_the_mode_of_any_new_file(cli, gadgets, tmp_path):
    previous = os.umask(0o027)
    try:
        assert cli("gadget", "-o", "all.csv").exit_code == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "all.csv").stat().st_mode) == 0o640  # not mkstemp's 0o600


def test_export_as_a_user_shows_only_what_they_may_read(cli, gadgets):
    result = cli("gadget", "--as", "rep@test.dev", "--format", "jsonl", "--filter", 'status == "live"')
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["name"] for r in records] == ["Mine"]
    assert "price" not in records[0]
    hidden = cli("gadget", "--as", "rep@test.dev", "--fields", "name,price")
    assert hidden.exit_code == 1 and hidden.output.startswith("error: Unknown field(s) in fields=: price")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["gadget", "--filter", "status =="], 1, "error: --filter: the expression ends too early (line 1, column 8)"),
        (["gadget", "--fields", "nope"], 1, "error: Unknown field(s) in fields=: nope"),
        (["nothing"], 1, "error: There is no entity 'nothing'"),
        (["gadget", "--as", "ghost@test.dev"], 1, "error: no active user with e-mail ghost@test.dev"),
        (["gadget", "--format", "pdf"], 2, "Invalid value for '--format'"),
        (["gadget", "--format", "xlsx"], 2, "an XLSX export needs a file"),
    ],
)
def test_a_mistake_is_one_line_and_writes_nothing(cli, gadgets, tmp_path, args, code, message):
    result = cli(*args, "-o", "out.csv") if code == 1 else cli(*args)
    assert result.exit_code == code
    assert message in result.output
    if code == 1:
        assert len(result.output.strip().splitlines()) == 1
        assert not (tmp_path / "out.csv").exists() and not list(tmp_path.glob(".out.csv.*"))


def test_a_user_without_the_export_grant_is_refused(cli, workspace):
    set_permission(workspace, SYSTEM, "gadget", "sales_rep", {"read": "all"})
    result = cli("gadget", "--as", "rep@test.dev")
    assert result.exit_code == 1 and result.output.strip() == "error: You may not export gadget records"
