"""Importing into the testkit's entities: mapping, conversion, links, upsert, batches, errors."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from engine.actor import SYSTEM
from engine.dataio.importing import ImportOptions, import_table, write_error_report
from engine.dataio.mapping import MappingError
from engine.dataio.sources import SourceError, read_table
from engine.errors import PermissionDenied
from engine.security.identity import load_actor
from engine.security.users import create_user, ensure_roles, find_user
from engine.storage.database import read_transaction
from engine.workspace import Workspace
from tests.conftest import PASSWORD, make_config, table_rows


def actor_of(ws: Workspace, email: str) -> Any:
    user = find_user(ws, email)
    assert user is not None
    with read_transaction(ws.db) as conn:
        return load_actor(conn, ws.snapshot(), user["id"], "test")


def run(ws: Workspace, text: str, entity: str = "gadget", email: str = "admin@test.dev", **options: Any):
    table = read_table(text.encode(), filename="upload.csv")
    return import_table(ws, actor_of(ws, email), entity, table, ImportOptions(**options))


def gadgets(ws: Workspace) -> list[dict[str, Any]]:
    return sorted(ws.records.list(SYSTEM, "gadget", {"limit": "500"}).data, key=lambda g: g["name"])


@pytest.fixture
def makers(workspace: Workspace) -> dict[str, str]:
    return {
        name: workspace.records.create(SYSTEM, "maker", {"name": name, "code": code})["id"]
        for name, code in [("ACME", "A-1"), ("Globex", "G-7"), ("Initech", "G-7")]
    }


def test_columns_match_fields_by_name_or_label_and_values_are_converted(workspace, makers):
    text = (
        "NAME;Anzahl;Price;Active;Released on;Status;Maker;Makers;Tags;Seen at;E-mail\n"
        "Sprocket;;1.234,50;ja;31.01.2026;Live;ACME;Globex|ACME;Red;31.01.2026 09:30;s@acme.test\n"
        "Widget;;12;nein;2026-02-01;retired;{acme};;;;\n"
    )
    report = run(workspace, text.format(acme=makers["ACME"]), timezone="Europe/Berlin")
    assert (report.total, report.created, report.failed) == (2, 2, 0), report.errors
    assert report.written and report.ignored_columns == ["Anzahl"]
    assert report.mapping["NAME"] == "name" and report.mapping["E-mail"] == "email"
    sprocket, widget = gadgets(workspace)
    assert sprocket["price"] == pytest.approx(1234.5) and sprocket["active"] is True
    assert sprocket["released_on"] == "2026-01-31" and sprocket["status"] == "live"
    assert sprocket["maker"] == makers["ACME"] and sprocket["makers"] == [makers["Globex"], makers["ACME"]]
    assert sprocket["tags"] == ["red"] and sprocket["seen_at"].startswith("2026-01-31T08:30:00")
    assert widget["maker"] == makers["ACME"] and widget["active"] is False and widget["status"] == "retired"


def test_a_link_names_exactly_one_readable_record_or_the_row_fails(workspace, makers):
    report = run(workspace, f"name,maker\nA,Nobody\nB,{makers['Initech']}\nC,Globex\n")
    assert (report.failed, report.created, report.written) == (1, 2, False)
    assert [(e.row, e.column, e.message) for e in report.errors] == [
        (1, "maker", "No maker with id or name 'Nobody' (or you may not see it).")
    ]
    assert table_rows(workspace, "gadget") == 0  # all or nothing


def test_a_mapping_can_say_which_field_a_link_is_matched_by(workspace, makers):
    mapping = {"Product": "name", "Vendor code": "maker.code"}
    report = run(workspace, "Product,Vendor code\nA,A-1\nB,G-7\n", mapping=mapping)
    assert [(e.row, e.message) for e in report.errors] == [
        (2, "2 maker records match 'G-7'; use a unique value (code).")
    ]
    report = run(workspace, "Product,Vendor code\nA,A-1\n", mapping=mapping)
    assert report.created == 1 and gadgets(workspace)[0]["maker"] == makers["ACME"]


def test_any_bad_row_means_nothing_is_written_and_every_problem_is_reported(workspace):
    text = "name,count,released_on,status\nGood,1,2026-01-01,draft\n,x,2026-13-01,nope\nAlso good,2,,\n"
    report = run(workspace, text)
    assert (report.total, report.failed, report.written, report.not_written) == (3, 1, False, 2)
    problems = {(e.row, e.column): e.message for e in report.errors}
    assert problems == {
        (2, "count"): "Not a number: 'x'.",
        (2, "released_on"): "Not a valid calendar date: '2026-13-01'.",
        (2, "status"): "'nope' is not one of: draft, live, retired.",
    }
    assert table_rows(workspace, "gadget") == 0


def test_validation_of_the_data_access_layer_applies(workspace):
    report = run(workspace, "name,email,count\n,a@b.test,1\nX,not-an-email,5000000\n")
    problems = {(e.row, e.field): e.message for e in report.errors}
    assert problems[(1, "name")] == "Is required."
    assert "valid email" in problems[(2, "email")] and (2, "count") in problems
    assert table_rows(workspace, "gadget") == 0


def test_a_unique_value_repeated_in_the_file_fails_its_second_row(workspace):
    report = run(workspace, "name,email\nA,same@x.test\nB,same@x.test\n")
    assert [(e.row, e.field) for e in report.errors] == [(2, "email")]
    assert "unique" in report.errors[0].message.lower()


def test_partial_commits_the_batches_without_errors(workspace):
    text = "name,count\nA,1\nB,2\nC,x\nD,4\nE,5\n"
    report = run(workspace, text, partial=True, batch_size=2)
    assert [(b.first_row, b.last_row, b.written) for b in report.batches] == [(1, 2, True), (3, 4, False), (5, 5, True)]
    assert (report.created, report.failed, report.not_written) == (3, 1, 1)
    assert [g["name"] for g in gadgets(workspace)] == ["A", "B", "E"]


def test_a_partial_dry_run_reports_what_the_real_run_does(workspace):
    # row 5 repeats row 3's unique e-mail; row 3's batch is rolled back (row 4), so row 5 lands
    text = "name,email,count\nA,a@x.test,1\nB,b@x.test,2\nC,c@x.test,3\nD,d@x.test,x\nE,c@x.test,5\n"
    dry = run(workspace, text, partial=True, batch_size=2, dry_run=True)
    assert table_rows(workspace, "gadget") == 0 and not dry.written
    real = run(workspace, text, partial=True, batch_size=2)
    assert [(b.first_row, b.last_row, b.written) for b in real.batches] == [(1, 2, True), (3, 4, False), (5, 5, True)]
    assert (real.created, real.failed) == (3, 1)
    differ = {"dry_run", "written"}
    assert {k: v for k, v in dry.to_dict().items() if k not in differ} == {
        k: v for k, v in real.to_dict().items() if k not in differ
    }
    assert [g["name"] for g in gadgets(workspace)] == ["A", "B", "E"]


def test_a_dry_run_reports_everything_and_writes_nothing(workspace):
    audit = table_rows(workspace, "tessera_audit")
    report = run(workspace, "name,email\nA,a@x.test\nB,a@x.test\nC,\n", dry_run=True)
    assert (report.created, report.failed, report.dry_run, report.written) == (2, 1, True, False)
    assert report.errors[0].row == 2
    assert table_rows(workspace, "gadget") == 0 and table_rows(workspace, "tessera_audit") == audit


def test_importing_the_same_file_twice_with_a_key_gives_the_same_database(workspace, makers):
    text = "name,email,count,maker,status\nA,a@x.test,1,ACME,live\nB,b@x.test,2,,draft\nC,c@x.test,,Globex,\n"

    def dump() -> list[tuple[Any, ...]]:
        table = workspace.snapshot().tables.main("gadget")
        with read_transaction(workspace.db) as conn:
            return [tuple(r) for r in conn.execute(sa.select(table).order_by(table.c.id))]

    first = run(workspace, text, key="email")
    assert (first.created, first.updated, first.failed) == (3, 0, 0)
    before = dump()
    second = run(workspace, text, key="email")
    assert (second.created, second.updated, second.unchanged, second.failed) == (0, 0, 3, 0)
    assert dump() == before
    third = run(workspace, text.replace("B,b@x.test,2", "B,b@x.test,5"), key="email", dry_run=True)
    assert (third.updated, third.unchanged) == (1, 2)  # a dry run tells them apart too
    assert dump() == before


def test_a_key_repeated_in_the_file_updates_the_record_its_first_row_created(workspace):
    report = run(workspace, "name,email,count\nA,a@x.test,1\nB,b@x.test,2\nA2,a@x.test,\n", key="email")
    assert (report.created, report.updated, report.failed) == (2, 1, 0)
    assert {(g["email"], g["name"], g["count"]) for g in gadgets(workspace)} == {
        ("a@x.test", "A2", 1),
        ("b@x.test", "B", 2),
    }


def test_the_key_must_be_a_mapped_stored_field(workspace):
    with pytest.raises(MappingError, match=r"no column fills the key field 'email'"):
        run(workspace, "name\nA\n", key="email")
    with pytest.raises(MappingError, match=r"no single-valued stored field 'tags'"):
        run(workspace, "name,tags\nA,red\n", key="tags")


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"name": "colour"}, "gadget has no field 'colour'"),
        ({"name": "number"}, "gadget.number is read-only"),
        ({"name": "parts"}, "table fields"),
        ({"Label": "name"}, "the file has no column 'Label'"),
        ({"name": "name", "other": "name"}, "both fill gadget.name"),
        ({"name": "status.code"}, "is not a link"),
    ],
)
def test_mapping_mistakes_are_refused_before_anything_is_read(workspace, mapping, message):
    with pytest.raises(MappingError, match=message):
        run(workspace, "name,other\nA,B\n", mapping=mapping)


def test_a_file_matching_no_field_is_refused(workspace):
    with pytest.raises(MappingError, match=r"no column of upload.csv matches a field of gadget"):
        run(workspace, "Colour,Smell\nred,sweet\n")


def test_ragged_rows_are_reported_and_blank_lines_keep_the_numbering(workspace):
    report = run(workspace, "name,count\nA,1\nB\n\nC,3,surplus\nD,4,\n")
    assert [(e.row, e.message) for e in report.errors] == [
        (2, "The row has 1 cells; the header row has 2."),
        (4, "The row has 3 cells; the header row has 2."),
    ]
    assert report.total == 4  # the blank line is not a row


def test_import_needs_the_import_permission(workspace):
    with pytest.raises(PermissionDenied, match=r"You may not import gadget records"):
        run(workspace, "name\nA\n", email="rep@test.dev")
    assert table_rows(workspace, "gadget") == 0


def test_constants_and_the_source_category(workspace, makers):
    report = run(workspace, "name\nA\n", defaults={"status": "Live", "maker": "Globex"})
    assert report.created == 1
    assert gadgets(workspace)[0]["status"] == "live" and gadgets(workspace)[0]["maker"] == makers["Globex"]
    with pytest.raises(MappingError, match=r"gadget has no field source_detail"):
        run(workspace, "name\nB\n", source_detail="Trade fair")


def test_imports_are_audited_as_the_importing_user(workspace):
    run(workspace, "name\nA\n")
    record = gadgets(workspace)[0]
    history = workspace.records.history(SYSTEM, "gadget", record["id"], {}).data
    assert [h["action"] for h in history] == ["create"]
    assert record["created_by"] == find_user(workspace, "admin@test.dev")["id"]


def test_the_error_report_repeats_the_row_and_defuses_formulas(workspace, tmp_path: Path):
    report = run(workspace, "name,count,=HYPERLINK(2)\n=HYPERLINK(1),x,y\n")
    path = tmp_path / "upload.csv.errors.csv"
    write_error_report(report, path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.reader(handle))
    assert lines[0] == ["row", "column", "field", "message", "name", "count", "'=HYPERLINK(2)"]
    assert lines[1] == ["1", "count", "count", "Not a number: 'x'.", "'=HYPERLINK(1)", "x", "y"]


def test_progress_is_reported_per_batch(workspace):
    seen: list[int] = []
    table = read_table(("name\n" + "".join(f"G{i}\n" for i in range(5))).encode(), filename="g.csv")
    import_table(workspace, SYSTEM, "gadget", table, ImportOptions(batch_size=2), seen.append)
    assert seen == [2, 4, 5]


@pytest.fixture
def rules_workspace(database_url, tmp_path):
    ws = Workspace(make_config(database_url, tmp_path, ("autokit", "auto_rules")), meta_check_interval=0)
    ws.install()
    ensure_roles(ws)
    create_user(ws, "admin@test.dev", "Ada Admin", PASSWORD, ["admin"])
    yield ws
    ws.close()


@pytest.mark.parametrize("rules", [True, False])
def test_no_rules_turns_rule_side_effects_off(rules_workspace, rules):
    report = run(rules_workspace, "subject,priority\nServer down,P1\n", entity="case", rules=rules)
    assert report.created == 1, report.errors
    case = rules_workspace.records.list(SYSTEM, "case", {}).data[0]
    tasks = rules_workspace.records.list(SYSTEM, "task", {}).data
    if rules:
        assert case["note"] == "Raised at Server down" and len(tasks) == 1
    else:
        assert case["note"] is None and tasks == []


def test_a_key_import_run_again_leaves_links_as_they_are(workspace, makers):
    text = "name,makers\nSprocket,ACME|Globex\n"
    run(workspace, text, key="name")
    run(workspace, text, key="name")
    (sprocket,) = gadgets(workspace)
    assert sprocket["version"] == 1 and sprocket["makers"] == [makers["ACME"], makers["Globex"]]
    run(workspace, "name,makers\nSprocket,Globex\n", key="name")
    history = workspace.records.history(SYSTEM, "gadget", sprocket["id"], {}).data
    assert [h["action"] for h in history] == ["update", "create"]
    assert history[0]["changes"]["makers"] == [[makers["ACME"], makers["Globex"]], [makers["Globex"]]]


def test_a_partial_run_stopped_by_an_unreadable_line_says_what_stays_written(workspace):
    data = b"name\n" + b"".join(b"Gadget number %d\n" % i for i in range(5000)) + b"Gro\xdf\n"
    assert len(data) > 64 * 1024  # past the sample the encoding is checked on
    table = read_table(data, filename="late.csv", encoding="utf-8")
    stays = r"\(the batches before it stay written: 5000 created, 0 updated\)"
    with pytest.raises(SourceError, match=r"line 5002 .*" + stays):
        import_table(workspace, SYSTEM, "gadget", table, ImportOptions(partial=True, parallel=False))
    assert table_rows(workspace, "gadget") == 5000


def test_numbers_a_spreadsheet_stored_as_numbers_ignore_the_decimal_separator(workspace):
    book = Workbook()
    sheet = book.active
    for row in (["name", "price"], ["Number", 1.25], ["Large number", 1234.5], ["Text", "1.234,5"]):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    table = read_table(out.getvalue(), filename="prices.xlsx")
    report = import_table(workspace, SYSTEM, "gadget", table, ImportOptions(decimal=","))
    assert report.created == 3, report.errors
    prices = {g["name"]: g["price"] for g in gadgets(workspace)}
    assert prices == {
        "Large number": pytest.approx(1234.5),
        "Number": pytest.approx(1.25),
        "Text": pytest.approx(1234.5),
    }
