"""Cells as people type them, read per field type (dates, numbers, enums, booleans)."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import openpyxl
import pytest

from engine.dataio.convert import ConversionError, ConvertOptions, converter, parse_bool, parse_date, parse_number
from engine.dataio.sources import read_table
from engine.meta.model import FieldDef, Origin


def field(type_: str, **options: object) -> FieldDef:
    return FieldDef("f", type_, dict(options), Origin("test"), "test")


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("2026-01-31", "dmy", "2026-01-31"),
        ("2026/01/31", "dmy", "2026-01-31"),
        ("31.01.2026", "dmy", "2026-01-31"),
        ("1.2.2026", "dmy", "2026-02-01"),
        ("31-01-2026", "dmy", "2026-01-31"),
        ("31/01/2026", "dmy", "2026-01-31"),
        ("31/01/2026", "mdy", "2026-01-31"),  # impossible month first: day first
        ("01/02/2026", "dmy", "2026-02-01"),
        ("01/02/2026", "mdy", "2026-01-02"),
        ("12/31/2026", "dmy", "2026-12-31"),  # impossible day first: month first
        ("2026-01-31T00:00:00", "dmy", "2026-01-31"),
    ],
)
def test_dates_in_common_formats(text, order, expected):
    assert parse_date(text, order).isoformat() == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-31 00:00",
        "2026-01-31T00:00:00",
        "2026-01-31T00:00:00.000",
        "2026-01-31T00:00:00Z",
        "2026-01-31T00:00:00+02:00",  # an XLSX datetime cell with a time zone, at midnight
        "31.01.2026 0:00",
        "1/31/2026 12:00:00 AM",
    ],
)
def test_a_trailing_midnight_is_the_date_alone(text):
    assert parse_date(text, "mdy") == dt.date(2026, 1, 31)


@pytest.mark.parametrize(
    "text",
    ["2026-01-31 15:45", "2026-01-31T10:00:00+02:00", "2026-01-31T00:00:01", "1/31/2026 12:00 PM", "31.01.2026 9:30"],
)
def test_a_date_with_a_time_of_day_is_refused_not_cut(text):
    with pytest.raises(ConversionError, match="has a time of day; a date field holds only the date"):
        parse_date(text, "mdy")


def test_an_xlsx_datetime_at_midnight_fills_a_date_field():
    book = openpyxl.Workbook()
    book.active.append(["Born"])
    book.active.append([dt.datetime(2026, 1, 31)])
    book.active.append([dt.datetime(2026, 1, 31, 15, 45)])
    data = io.BytesIO()
    book.save(data)
    midnight, afternoon = (row[0] for row in read_table(data.getvalue(), filename="x.xlsx").rows)
    read = converter(field("date"), ConvertOptions())
    assert read(str(midnight)) == "2026-01-31"
    with pytest.raises(ConversionError, match="has a time of day"):
        read(str(afternoon))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("31.02.2026", "Not a valid calendar date"),
        ("01.02.26", "four digits"),
        ("next tuesday", "Not a date"),
        ("2026-01-31 later", "Not a date"),
    ],
)
def test_bad_dates_say_what_is_expected(text, message):
    with pytest.raises(ConversionError, match=message):
        parse_date(text)


@pytest.mark.parametrize(
    ("text", "decimal", "expected"),
    [
        ("1234.56", "auto", "1234.56"),
        ("1,234.56", "auto", "1234.56"),
        ("1.234,56", "auto", "1234.56"),
        ("1 234,56", "auto", "1234.56"),
        ("1\u00a0234,56", "auto", "1234.56"),
        ("1'234.56", "auto", "1234.56"),
        ("12,5", "auto", "12.5"),
        ("1,234,567", "auto", "1234567"),
        ("1.234.567", "auto", "1234567"),
        ("€ 12.50", "auto", "12.50"),
        ("12,50 €", "auto", "12.50"),
        ("EUR 7", "auto", "7"),
        ("(12.5)", "auto", "-12.5"),
        ("-$5.00", "auto", "-5.00"),  # Excel's negative currency formats
        ("($5.00)", "auto", "-5.00"),
        ("$-5.00", "auto", "-5.00"),
        ("-€5", "auto", "-5"),
        ("- € 5", "auto", "-5"),
        ("-5 €", "auto", "-5"),
        ("(5 €)", "auto", "-5"),
        ("-EUR 7", "auto", "-7"),
        ("(7 EUR)", "auto", "-7"),
        ("-3", "auto", "-3"),
        ("1,234", ".", "1234"),
        ("1,234", ",", "1.234"),
        ("1.234", ",", "1234"),
    ],
)
def test_numbers_with_locale_separators(text, decimal, expected):
    assert parse_number(text, decimal) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "decimal", "message"),
    [
        ("1,234", "auto", "Ambiguous number"),
        ("-$1,234", "auto", "Ambiguous number"),
        ("($1,234)", "auto", "Ambiguous number"),
        ("$$5", "auto", "Not a number"),
        ("1.5", ",", "the decimal separator is ','"),
        ("1,2,3", "auto", "Not a number"),
        ("twelve", "auto", "Not a number"),
        ("12.34.5", ".", "Not a number"),
    ],
)
def test_unreadable_or_ambiguous_numbers_are_refused(text, decimal, message):
    with pytest.raises(ConversionError, match=message):
        parse_number(text, decimal)


@pytest.mark.parametrize("text", ["yes", "Y", "TRUE", "1", "ja", "x", "oui", "on", "Wahr"])
def test_true_in_many_spellings(text):
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["no", "N", "false", "0", "Nein", "non", "off"])
def test_false_in_many_spellings(text):
    assert parse_bool(text) is False


def test_a_bool_that_is_neither_is_refused():
    with pytest.raises(ConversionError, match="Not yes or no: 'maybe'"):
        parse_bool("maybe")


SALUTATION = field(
    "enum",
    options=[
        {"value": "mr", "label": {"en": "Mr.", "de": "Herr"}},
        {"value": "ms", "label": {"en": "Ms.", "de": "Frau"}},
        {"value": "dr", "label": {"en": "Dr.", "de": "Dr."}},
    ],
)


@pytest.mark.parametrize(("text", "value"), [("mr", "mr"), ("MR", "mr"), ("Herr", "mr"), ("frau", "ms"), ("Mr", "mr")])
def test_enums_by_value_or_by_a_label_in_any_language(text, value):
    assert converter(SALUTATION, ConvertOptions())(text) == value


def test_an_unknown_enum_lists_the_values():
    with pytest.raises(ConversionError, match="'Sir' is not one of: mr, ms, dr"):
        converter(SALUTATION, ConvertOptions())("Sir")


def test_translations_come_first():
    read = converter(SALUTATION, ConvertOptions(), {"Sir": "mr"})
    assert read("sir") == "mr"


def test_multi_enums_split_on_semicolons_and_bars():
    tags = field("multi_enum", options=["red", "green", "blue"])
    assert converter(tags, ConvertOptions())("Red; blue|red") == ["red", "blue"]


def test_datetimes_without_offset_are_read_in_the_given_zone():
    read = converter(field("datetime"), ConvertOptions(timezone="Europe/Berlin"))
    assert read("31.01.2026 09:30") == "2026-01-31T08:30:00+00:00"  # Berlin time, given in UTC as stored
    assert read("2026-07-01T10:00:00Z") == "2026-07-01T10:00:00+00:00"
    assert (
        converter(field("datetime"), ConvertOptions(date_order="mdy"))("1/2/2026 3:05 pm")
        == "2026-01-02T15:05:00+00:00"
    )


def test_integers_must_be_whole_and_percent_signs_are_dropped():
    assert converter(field("int"), ConvertOptions())("1.234.567") == 1234567
    with pytest.raises(ConversionError, match="Not a whole number"):
        converter(field("int"), ConvertOptions())("2.5")
    assert converter(field("percent"), ConvertOptions())("12,5 %") == Decimal("12.5")
