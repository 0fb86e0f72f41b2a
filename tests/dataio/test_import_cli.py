"""``tessera import``: summary, exit codes, the error report next to the file, one-line errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.config import load_config
from engine.workspace import Workspace
from tests.conftest import PASSWORD, table_rows


@pytest.fixture
def env(cli_env: dict[str, str]) -> dict[str, str]:
    """The ``tessera`` environment, initialised, with an administrator and a sales rep."""
    assert run("init", "--admin-email", "boss@test.dev", "--admin-password", PASSWORD).exit_code == 0
    result = run("user", "add", "rep@test.dev", "--name", "Rex", "--role", "sales_rep", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    return cli_env


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def count(name: str = "gadget") -> int:
    ws = Workspace(load_config(), meta_check_interval=0)
    try:
        return table_rows(ws, name)
    finally:
        ws.close()


def test_an_import_prints_a_summary_and_writes(env, tmp_path):
    path = write(tmp_path / "gadgets.csv", "Name;Price;Colour\nA;1.234,50;red\nB;2;blue\n")
    result = run("import", "gadget", path)
    assert result.exit_code == 0, result.output
    assert "gadget: 2 rows: 2 created, 0 updated, 0 unchanged, 0 skipped, 0 flagged, 0 failed" in result.output
    assert "ignored columns: Colour" in result.output
    assert count() == 2 and not (tmp_path / "gadgets.csv.errors.csv").exists()


def test_row_errors_exit_1_write_nothing_and_leave_a_report_next_to_the_file(env, tmp_path):
    path = write(tmp_path / "gadgets.csv", "name,count\nA,1\nB,many\n")
    result = run("import", "gadget", path)
    assert result.exit_code == 1
    assert "nothing was written: 1 row(s) failed" in result.output
    report = tmp_path / "gadgets.csv.errors.csv"
    assert f"row report: {report}" in result.output
    with report.open(encoding="utf-8-sig", newline="") as handle:
        assert list(csv.reader(handle))[1] == ["2", "count", "count", "Not a number: 'many'.", "B", "many"]
    assert count() == 0
    write(path, "name,count\nA,1\nB,2\n")
    assert run("import", "gadget", path).exit_code == 0
    assert not report.exists()  # the stale report is gone
    assert count() == 2


def test_dry_run_and_partial(env, tmp_path):
    path = write(tmp_path / "g.csv", "name,count\nA,1\nB,x\nC,3\n")
    dry = run("import", "gadget", path, "--dry-run")
    assert dry.exit_code == 1 and "dry run: nothing was written" in dry.output and count() == 0
    partial = run("import", "gadget", path, "--partial", "--batch-size", "1")
    assert partial.exit_code == 1
    assert "2 of 3 batches written" in partial.output and "rolled back: rows 2-2 (1 failed)" in partial.output
    assert count() == 2


def test_map_key_and_template(env, tmp_path):
    path = write(tmp_path / "g.csv", "Produkt,Mail\nA,a@x.test\n")
    assert run("import", "gadget", path, "--map", "Produkt=name,Mail=email", "--key", "email").exit_code == 0
    again = run("import", "gadget", path, "--map", "Produkt=name,Mail=email", "--key", "email")
    assert "0 created, 0 updated, 1 unchanged" in again.output and count() == 1
    template = write(tmp_path / "t.yaml", "entity: gadget\ncolumns: {Produkt: name, Mail: email}\nkey: email\n")
    assert "0 created, 0 updated, 1 unchanged" in run("import", "gadget", path, "--template", template).output
    wrong = run("import", "maker", path, "--template", template)
    assert wrong.exit_code == 1 and wrong.output.strip().endswith("is for gadget, not maker")


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, (), "error: no such file: "),
        ("", (), "error: x.csv: the file is empty"),
        ("name\n", (), "error: x.csv has no data rows"),
        ("name\nA\n", ("--map", "name=colour"), "error: gadget has no field 'colour'"),
        ("name\nA\n", ("--as", "nobody@test.dev"), "error: no active user nobody@test.dev"),
        ("name\nA\n", ("--as", "rep@test.dev"), "error: You may not import gadget records"),
        ("name\nA\n", ("--delimiter", ";;"), "error: the delimiter must be one character"),
        ("name\nA\n", ("--encoding", "nope"), "error: unknown encoding 'nope'"),
        ("name,notes\nA,B\n", ("--map", "name=name,name=notes"), "error: the column 'name' is mapped twice"),
        ("name\nA\n", ("--template", "nowhere.yaml"), "error: no template file nowhere.yaml"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(env, tmp_path, content, args, message):
    path = tmp_path / "x.csv"
    if content is not None:
        write(path, content)
    result = run("import", "gadget", path, *args)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(message), result.output
    assert count() == 0


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("encoding: 1252", "'encoding' must be text, not the number 1252"),
        ("delimiter: 1", "'delimiter' must be text, not the number 1"),
        ("key: [email]", "'key' must be text, not a list"),
        ("auto: 'no'", "'auto' must be true or false, not the text 'no'"),
        ("columns: {name: [name]}", "columns: 'name' must name a field or be null, not a list"),
        ("values: {status: [live]}", "values: 'status' must map cell texts to stored values"),
        ("values: {status: {Yes: live}}", "values: status: quote the cell text read as true/false"),
    ],
)
def test_a_template_value_of_the_wrong_type_is_one_line(env, tmp_path, template, message):
    path = write(tmp_path / "x.csv", "name\nA\n")
    yaml_file = write(tmp_path / "t.yaml", f"entity: gadget\n{template}\n")
    result = run("import", "gadget", path, "--template", yaml_file)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(f"error: {yaml_file}: {message}"), result.output


def test_map_beside_a_template_replaces_its_columns_and_must_name_columns_of_the_file(env, tmp_path):
    path = write(tmp_path / "g.csv", "Produkt,Count\nA,3\n")
    template = write(tmp_path / "t.yaml", "entity: gadget\ncolumns: {Produkt: notes, Gone: email}\n")
    missing = run("import", "gadget", path, "--template", template, "--map", "Missing=count")
    assert missing.exit_code == 1
    assert (
        missing.output.strip().splitlines()[-1] == "error: the file has no column 'Missing' (columns: Produkt, Count)"
    )
    # "produkt" replaces the template's "Produkt"; the template's missing "Gone" is fine, and
    # its (default) auto: false leaves Count unmatched
    result = run("import", "gadget", path, "--template", template, "--map", "produkt=name")
    assert result.exit_code == 0, result.output
    assert "1 created" in result.output and "ignored columns: Count" in result.output


def test_a_stale_report_is_removed_when_the_file_cannot_be_read(env, tmp_path):
    path = tmp_path / "g.csv"
    path.write_bytes(b"name\nM\xfcller\n")
    report = write(tmp_path / "g.csv.errors.csv", "row,column,field,message\n1,,,an earlier run\n")
    result = run("import", "gadget", path, "--encoding", "utf-8")
    assert result.exit_code == 1 and "not readable as utf-8" in result.output
    assert not report.exists()


@pytest.mark.parametrize("flags, processes", [((), 1), (("--one-process",), 0)])
def test_a_file_of_several_batches_is_checked_in_a_second_process_unless_asked_not_to(
    env, tmp_path, monkeypatch, flags, processes
):
    from engine.dataio import import_rows

    started: list[int] = []
    forked = import_rows._forked
    monkeypatch.setattr(import_rows, "_forked", lambda *a: started.append(1) or forked(*a))
    monkeypatch.setattr(import_rows, "other_threads", lambda: False)  # threads other tests left behind
    path = write(tmp_path / "gadgets.csv", "name,count\n" + "".join(f"G{i},{i}\n" for i in range(12)))
    result = run("import", "gadget", path, "--batch-size", "5", *flags)
    assert result.exit_code == 0, result.output
    assert "gadget: 12 rows: 12 created" in result.output
    assert len(started) == processes and count() == 12
