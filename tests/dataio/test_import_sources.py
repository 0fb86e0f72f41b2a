"""Reading files as tables: delimiters, encodings, XLSX values and formulas, bad files, streaming."""

from __future__ import annotations

import codecs
import datetime as dt
import io
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pytest

from engine.dataio.sources import SourceError, read_table


def rows(table) -> list[list[str | None]]:
    return list(table.rows)


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_the_delimiter_is_detected(delimiter):
    text = delimiter.join(["Name", "City", "Notes"]) + "\n" + delimiter.join(["Ann", "Köln", '"a, b; c"']) + "\n"
    table = read_table(text.encode(), filename="x.csv")
    assert table.headers == ["Name", "City", "Notes"]
    assert rows(table) == [["Ann", "Köln", "a, b; c"]]
    assert table.delimiter == delimiter


def test_an_exported_file_reads_back_as_it_was_before_its_formulas_were_neutralised():
    # an export writes '+49 ... and '=SUM(...) so a spreadsheet shows them as text
    text = "Phone,Notes,Name\n'+49 30 1234,'=SUM(A1),'quoted'\n'-5,'@home,'\n"
    table = read_table(text.encode(), filename="contacts.csv")
    assert rows(table) == [["+49 30 1234", "=SUM(A1)", "'quoted'"], ["-5", "@home", "'"]]
    book = openpyxl.Workbook()
    book.active.append(["Phone", "Name"])
    book.active.append(["'+49 30 1234", "'quoted'"])
    out = io.BytesIO()
    book.save(out)
    assert rows(read_table(out.getvalue(), filename="contacts.xlsx")) == [["+49 30 1234", "'quoted'"]]


def test_a_byte_order_mark_is_not_part_of_the_first_header():
    data = codecs.BOM_UTF8 + "Name,City\nÅsa,Malmö\n".encode()
    table = read_table(data, filename="x.csv")
    assert table.headers == ["Name", "City"] and rows(table) == [["Åsa", "Malmö"]]


def test_utf16_with_a_byte_order_mark_is_read():
    data = "Name\tCity\nJosé\tSão Paulo\n".encode("utf-16")
    table = read_table(data, filename="x.csv")
    assert rows(table) == [["José", "São Paulo"]]


def test_windows_1252_is_the_fallback_when_the_file_is_not_utf8():
    data = "Name;City\nMüller;Düsseldorf\n".encode("cp1252")
    table = read_table(data, filename="x.csv")
    assert table.encoding == "cp1252" and rows(table) == [["Müller", "Düsseldorf"]]


def test_a_wrong_explicit_encoding_names_the_row():
    data = ("Name\n" + "Ann\n" * 5 + "Müller\n").encode("latin-1")
    with pytest.raises(SourceError, match=r"people.csv: not readable as utf-8 .*byte 0xfc.*--encoding"):
        read_table(data, filename="people.csv", encoding="utf-8")


def test_an_unknown_encoding_is_refused():
    with pytest.raises(SourceError, match=r"unknown encoding 'klingon'"):
        read_table(b"a\n1\n", filename="x.csv", encoding="klingon")


def test_invalid_utf8_after_the_sample_stops_at_its_row():
    good = "Name\n" + "Ann\n" * 40_000  # beyond the sniffed sample
    table = read_table(good.encode() + b"M\xfcller\n", filename="big.csv")
    assert table.encoding == "utf-8"
    with pytest.raises(SourceError, match=r"big.csv: line 40002 is not valid utf-8.*--encoding"):
        rows(table)


@pytest.mark.parametrize("data", [b"", b"   \n\n"])
def test_an_empty_file_is_a_clear_error(data):
    with pytest.raises(SourceError, match=r"x.csv: the file is empty"):
        read_table(data, filename="x.csv")


def test_a_repeated_header_is_refused():
    with pytest.raises(SourceError, match=r"the column 'email' appears twice"):
        read_table(b"Email,Name,email\n", filename="x.csv")


def test_ragged_rows_are_passed_on_as_they_are():
    table = read_table(b"a,b,c\n1,2\n1,2,3,4\n\n5,6,7\n", filename="x.csv")
    assert rows(table) == [["1", "2"], ["1", "2", "3", "4"], [], ["5", "6", "7"]]


def test_nul_bytes_are_refused():
    with pytest.raises(SourceError, match=r"NUL bytes"):
        read_table(b"a,b\n1,\x002\n", filename="x.csv")


def test_old_excel_files_are_refused():
    with pytest.raises(SourceError, match=r"old Excel files \(.xls\)"):
        read_table(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, filename="old.xls")


def _xlsx(rows_: list[list[object]], sheet: str = "Leads") -> bytes:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for row in rows_:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_cells_become_text_with_iso_dates():
    data = _xlsx(
        [
            ["Name", "Born", "Seen", "Count", "Price", "Active", "Took"],
            ["Ann", dt.datetime(1990, 5, 17), dt.datetime(2026, 1, 2, 9, 30), 3, 1234.5, True, dt.timedelta(hours=26)],
            [None, None, None, None, None, None],
            ["Bob"],
        ]
    )
    table = read_table(data, filename="x.xlsx")
    assert table.headers == ["Name", "Born", "Seen", "Count", "Price", "Active", "Took"] and table.sheet == "Leads"
    ann = ["Ann", "1990-05-17", "2026-01-02T09:30:00", "3", "1234.5", "true", "93600"]  # an elapsed time in seconds
    assert rows(table) == [ann, [], ["Bob"]]


def test_an_unknown_sheet_lists_the_sheets():
    with pytest.raises(SourceError, match=r"no sheet 'Kontakte' \(sheets: Leads\)"):
        read_table(_xlsx([["a"]]), filename="x.xlsx", sheet="Kontakte")


def test_a_damaged_xlsx_is_refused():
    with pytest.raises(SourceError, match=r"x.xlsx: not a readable XLSX file"):
        read_table(b"PK\x03\x04 this is no zip", filename="x.xlsx")


def _with_cached_value(data: bytes, cached: str) -> bytes:
    """The workbook as a spreadsheet program saves it: the formula and its computed value."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(b"<v></v>", f"<v>{cached}</v>".encode())
            target.writestr(item, content)
    return out.getvalue()


def test_a_formula_gives_its_saved_value_and_is_never_evaluated():
    data = _with_cached_value(_xlsx([["Name", "Count"], ["Ann", "=1+1"]]), "7")
    assert rows(read_table(data, filename="x.xlsx")) == [["Ann", "7"]]


def test_a_formula_without_a_saved_value_is_refused():
    table = read_table(_xlsx([["Name", "Count"], ["Ann", 1], ["Bob", "=1+1"]]), filename="calc.xlsx")
    with pytest.raises(SourceError, match=r"calc.xlsx: cell B3 holds a formula without a saved value"):
        rows(table)


def test_blank_rows_above_the_header_are_skipped():
    table = read_table(_xlsx([[None, None], [], ["Name", "Count"], ["Ann", "=1+1"]]), filename="late.xlsx")
    assert table.headers == ["Name", "Count"]
    with pytest.raises(SourceError, match=r"late.xlsx: cell B4 holds a formula"):  # the sheet's own numbering
        rows(table)


def test_a_header_formula_without_a_saved_value_is_refused_at_once():
    with pytest.raises(SourceError, match=r"calc.xlsx: cell B1 holds a formula without a saved value"):
        read_table(_xlsx([["Name", '="Co"&"unt"'], ["Ann", 1]]), filename="calc.xlsx")


def test_a_large_file_streams_in_flat_memory(tmp_path: Path):
    path = tmp_path / "large.csv"
    line = "Firstname,Lastname,someone.{i}@example.com,+49 30 1234567,Berlin,Some longer notes text here\n"
    with path.open("w", encoding="utf-8") as out:
        out.write("first_name,last_name,email,phone,city,notes\n")
        for i in range(120_000):  # about 10 MB
            out.write(line.replace("{i}", str(i)))
    assert path.stat().st_size > 9_000_000
    tracemalloc.start()
    try:
        table = read_table(path, filename=path.name)
        count = sum(1 for _ in table.rows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 120_000
    assert peak < 3_000_000  # a fraction of the file: rows are never all held
