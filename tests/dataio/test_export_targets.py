"""``tessera export -o``: the target is written as the user means it (a FIFO or device
straight, a symlink kept, a file's mode kept), the format follows the file name, ``-o -``
is standard output, a closed pipe ends the export quietly; XLSX cells keep text exactly as
typed and numbers exactly as stored. On SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from engine.actor import SYSTEM
from engine.cli import main
from engine.dataio.writers import XLSX_CELL_LIMIT, xlsx_chunks
from tests.conftest import TEST_PACKS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(workspace: Any, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment pointing the command line at the test workspace's database."""
    config = workspace.config
    values = {
        "TESSERA_DATABASE_URL": database_url,
        "TESSERA_PACKS": "testkit",
        "TESSERA_EXTRA_PACK_PATHS": str(TEST_PACKS),
        "TESSERA_INSTANCE_PATH": str(config.instance_path),
        "TESSERA_SECRET_KEY": config.secret_key,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return values


@pytest.fixture
def cli(env: dict[str, str], workspace: Any) -> Any:
    for name in ("Alpha", "Beta"):
        workspace.records.create(SYSTEM, "gadget", {"name": name, "phone": "+49 30 1234567"})

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, ["export", "gadget", "--fields", "name,phone", "--sort", "name", *args])

    return run


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text("utf-8-sig"))))


def test_an_existing_file_keeps_its_mode(cli, tmp_path):
    target = tmp_path / "private.csv"
    target.write_text("old")
    target.chmod(0o600)
    assert cli("-o", str(target)).exit_code == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _csv(target)[1] == ["Alpha", "'+49 30 1234567"]  # CSV stays neutralised


def test_a_symlink_stays_a_symlink_and_its_file_gets_the_export(cli, tmp_path):
    (tmp_path / "real.csv").write_text("old")
    (tmp_path / "link.csv").symlink_to("real.csv")
    result = cli("-o", "link.csv")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "link.csv").is_symlink()
    assert _csv(tmp_path / "real.csv")[0] == ["name", "phone"]
    assert not list(tmp_path.glob(".real.csv.*")) and not list(tmp_path.glob(".link.csv.*"))


def test_a_fifo_is_written_straight_to(cli, tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = cli("-o", str(fifo))
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert b"Alpha" in got[0] and b"Beta" in got[0]


def test_dash_is_standard_output(cli, tmp_path):
    result = cli("-o", "-", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["name"] for line in result.stdout.splitlines()] == ["Alpha", "Beta"]
    assert not (tmp_path / "-").exists()


def test_a_missing_directory_is_named_not_the_temporary_file(cli, tmp_path):
    result = cli("-o", "nodir/x.csv")
    assert result.exit_code == 1
    assert result.output.strip() == "error: cannot write nodir/x.csv: No such file or directory"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("out.json", "jsonl"), ("out.NDJSON", "jsonl"), ("out.jsonl", "jsonl"), ("out.xlsx", "xlsx"), ("out.txt", "csv")],
)
def test_the_format_follows_the_file_name(cli, tmp_path, name, fmt):
    assert cli("-o", name).exit_code == 0
    data = (tmp_path / name).read_bytes()
    if fmt == "jsonl":
        assert json.loads(data.splitlines()[0])["name"] == "Alpha"
    elif fmt == "xlsx":
        assert data.startswith(b"PK")
    else:
        assert data.startswith("\ufeffname,phone".encode())


def test_a_format_contradicting_the_file_name_is_a_usage_error(cli, tmp_path):
    result = cli("-o", "out.json", "--format", "csv")
    assert result.exit_code == 2
    assert "--format csv does not match the file name out.json (which stands for jsonl)" in result.output
    assert not (tmp_path / "out.json").exists()
    assert cli("-o", "out.txt", "--format", "jsonl").exit_code == 0  # .txt claims no format


def test_a_closed_pipe_ends_the_export_quietly(env, workspace):
    long = "x" * 20_000
    for i in range(40):  # about 800 KB: far more than a pipe's buffer
        workspace.records.create(SYSTEM, "gadget", {"name": f"g{i}", "notes": long})
    process = subprocess.Popen(
        [sys.executable, "-c", "from engine.cli import main; main()", "export", "gadget", "--format", "jsonl"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    assert len(process.stdout.read(100)) == 100
    process.stdout.close()  # what ``| head -c 100`` does
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) in (0, 141)
    assert errors == ""


def _cells(data: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(data)).active
    return [list(row) for row in sheet.iter_rows()]


def test_xlsx_text_is_typed_text_exactly_as_written():
    texts = ["=1+1", "+49 30 1234567", "-2+3", "@SUM(A1)", "\t=1+1", "#N/A", "\x01=1+1"]
    [row] = _cells(b"".join(xlsx_chunks("t", [texts])))
    assert [c.value for c in row] == [*texts[:-1], "=1+1"]  # only XML's control characters go
    assert {c.data_type for c in row} == {"s"}  # text: never a formula, an error or a number


def test_xlsx_numbers_a_spreadsheet_would_round_are_exact_text():
    values = [2**53, 2**53 + 1, -(2**53) - 1, Decimal("1.250"), Decimal("12345678901234.567"), -5]
    [row] = _cells(b"".join(xlsx_chunks("t", [values])))
    assert [c.value for c in row] == [2**53, "9007199254740993", "-9007199254740993", 1.25, "12345678901234.567", -5]
    assert [c.data_type for c in row] == ["n", "s", "s", "n", "s", "n"]


def test_xlsx_text_beyond_excels_limit_is_cut_visibly_and_counted():
    counted: list[int] = []
    rows = [["a" * (XLSX_CELL_LIMIT + 10), "b" * XLSX_CELL_LIMIT, "c" * 40_000]]
    [row] = _cells(b"".join(xlsx_chunks("t", rows, on_cut=counted.append)))
    assert [len(c.value) for c in row] == [XLSX_CELL_LIMIT] * 3
    assert row[0].value.endswith("a\u2026") and row[1].value == "b" * XLSX_CELL_LIMIT
    assert counted == [2]


def test_the_command_line_warns_about_cut_cells(env, workspace, tmp_path):
    workspace.records.create(SYSTEM, "gadget", {"name": "Long", "notes": "n" * 40_000})
    result = CliRunner().invoke(main, ["export", "gadget", "--fields", "name,notes", "-o", "long.xlsx"])
    assert result.exit_code == 0, result.output
    assert "warning: 1 cell(s) longer than 32,767 characters (Excel's limit) were cut" in result.stderr
    assert _cells((tmp_path / "long.xlsx").read_bytes())[1][1].value.endswith("\u2026")
