"""Golden tests for every error message of the expression language.

One table holds each kind of error the parser and the checker produce: the exact text, the
line and column, and the character under the caret. Every error also carries the source
line with a caret in ``detail`` and names where the expression came from in ``errors``.
Errors about a field's expression (a default or computed value that does not fit the field,
a condition that is not a condition) are checked through ``compile_entity`` and through
``tessera check`` on a temporary pack, which prints ``file:line:col:`` of the field.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.config import Config
from engine.dsl import compile_expression, default_functions
from engine.errors import DslError
from engine.meta.catalog import build_catalog
from engine.meta.problems import Problems
from engine.storage.expressions import compile_entity
from engine.workspace import Workspace, load_packs
from tests.conftest import make_config

NO_NOPE = "gadget has no field 'nope' (fields: {gadget})"


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("messages")
    ws = Workspace(make_config(f"sqlite:///{tmp / 'messages.db'}", tmp), meta_check_interval=0)
    yield ws.build_snapshot(0, ())
    ws.db.dispose()


def field_hint(catalog: Any, entity: str) -> str:
    """The field list an unknown-field message offers: usable fields, the first twelve."""
    usable = sorted(name for name, fd in catalog.entities[entity].fields.items() if fd.type != "secret")
    return ", ".join(usable[:12]) + ("..." if len(usable) > 12 else "")


def case(
    id: str, text: str, message: str, line: int, column: int, culprit: str, entity: str = "gadget", **options: Any
) -> Any:
    return pytest.param(text, message, line, column, culprit, entity, options, id=id)


# text, message, line, column, the text at the caret, [entity], [compile options]
CASES = [
    case("empty", "", "the expression is empty", 1, 1, ""),
    case("blank", "  \n ", "the expression is empty", 1, 1, " "),
    case("too_long", "count + " * 600, "the expression is longer than 4000 characters", 1, 4001, "count"),
    case("too_deep", "not " * 70 + "active", "the expression is nested more than 64 levels deep", 1, 1, "not"),
    case(
        "too_deep_parens",
        "(" * 65 + "count" + ")" * 65,
        "the expression is nested more than 64 levels deep",
        1,
        65,
        "(",
    ),
    case(
        "too_long_or_chain",
        " or ".join(f"count == {i}" for i in range(70)),
        "the expression is nested more than 64 levels deep (69 'or' in a row count as 69 levels;"
        " write `x in [a, b, ...]` for alternatives)",
        1,
        1,
        "count",
    ),
    case("unexpected_char", "count @ 2", "unexpected character '@'", 1, 7, "@"),
    case(
        "uppercase", "count > 1 AND active", "unexpected character 'A' (names and keywords are lower case)", 1, 11, "A"
    ),
    case("single_equals", 'status = "live"', "unexpected character '=' (compare with ==)", 1, 8, "="),
    case("ampersand", "active && true", "unexpected character '&' (write 'and')", 1, 8, "&&"),
    case("bar", "active || true", "unexpected character '|' (write 'or')", 1, 8, "||"),
    case("bang", "!active", "unexpected character '!' (write 'not' or !=)", 1, 1, "!"),
    case("unterminated", 'name == "abc', "unterminated string", 1, 9, '"abc'),
    case("unterminated_line2", "name == 'a' or\nnotes == 'b", "unterminated string", 2, 10, "'b"),
    case("ends_early", "count ==", "the expression ends too early", 1, 7, "=="),
    case("ends_early_call", "len(name", "the expression ends too early", 1, 5, "name"),
    case("unexpected_token", "count == == 1", "unexpected '=='", 1, 10, "=="),
    case("chained", "1 < count < 3", "unexpected '<'", 1, 11, "<"),
    case("two_values", "count 1", "unexpected '1'", 1, 7, "1"),
    case("bad_date", "released_on > 2026-02-30", "2026-02-30 is not a calendar date", 1, 15, "2026-02-30"),
    case(
        "bad_datetime",
        "seen_at > 2026-01-31T25:00",
        "2026-01-31T25:00 is not a valid datetime",
        1,
        11,
        "2026-01-31T25:00",
    ),
    case(
        "datetime_range",
        "seen_at > 0001-01-01T00:00+01:00",
        "0001-01-01T00:00+01:00 is not a valid datetime",
        1,
        11,
        "0001-01-01T00:00+01:00",
    ),
    case(
        "unknown_variable", "$me == null", "unknown variable $me; use one of $record, $user, $now, $today", 1, 1, "$me"
    ),
    case("now_fields", "$now.day > 3", "$now has no fields", 1, 1, "$now"),
    case("old_outside", "old.count > count", "old.FIELD is only available in update rules", 1, 1, "old"),
    case("old_alone", "old == null", "write old.FIELD", 1, 1, "old", updates=True),
    case("changed_outside", "changed(status)", "changed() is only available in update rules", 1, 1, "changed"),
    case(
        "changed_sql",
        "changed(status)",
        "changed() cannot be used in a filter",
        1,
        1,
        "changed",
        updates=True,
        sql=True,
    ),
    case(
        "changed_args",
        "changed(maker.name)",
        "write changed(FIELD) with one field of this record",
        1,
        1,
        "changed",
        updates=True,
    ),
    case("changed_unknown", "changed(nope)", NO_NOPE, 1, 9, "nope", updates=True),
    case("unknown_field", "nope > 1", NO_NOPE, 1, 1, "nope"),
    case("unknown_field_maker", 'maker.nope == "x"', "maker has no field 'nope' (fields: {maker})", 1, 1, "maker"),
    case(
        "unknown_field_small",
        "nope",
        "maker has no field 'nope' (fields: code, country, name)",
        1,
        1,
        "nope",
        entity="maker",
    ),
    case("unknown_user_field", "$user.nope", "user has no field 'nope' (fields: {user})", 1, 1, "$user"),
    case("secret", 'api_key == "x"', "gadget.api_key is a secret and cannot be used in expressions", 1, 1, "api_key"),
    case("non_record", 'name.first == "A"', "name is a string, it has no field 'first'", 1, 1, "name"),
    case("non_record_int", "count.x", "count is an int, it has no field 'x'", 1, 1, "count"),
    case(
        "many",
        "parts.qty > 1",
        "this path names many values (many int); use sum(), count(), min(), max() or avg()",
        1,
        1,
        "parts",
    ),
    case("many_top", "makers.name", "this names many values (many string); aggregate them", 1, 1, "makers"),
    case(
        "many_row_cond",
        "count(parts, parts.qty > 1)",
        "this path names many values (many int); use sum(), count(), min(), max() or avg()",
        1,
        14,
        "parts",
    ),
    case("list_nonliteral", "count in (1, count)", "list items must be literal values", 1, 14, "count"),
    case("list_mix", 'count in (1, "two")', "a list mixes int and string", 1, 14, '"two"'),
    case("not_nonbool", "not name", "'not' needs a condition, not string", 1, 5, "name"),
    case("and_nonbool", "count and active", "'and' needs conditions on both sides, not int", 1, 1, "count"),
    case("or_nonbool", "active or name", "'or' needs conditions on both sides, not string", 1, 11, "name"),
    case("negate_string", "-name", "cannot negate string", 1, 2, "name"),
    case("compare_mismatch", 'count > "x"', "cannot compare int with string using >", 1, 7, ">"),
    case("compare_date_datetime", "released_on < seen_at", "cannot compare date with datetime using <", 1, 13, "<"),
    case("equals_bool_int", "active == 1", "cannot compare bool with int using ==", 1, 8, "=="),
    case("tilde_nontext", '~ "x"', "unexpected '~'", 1, 1, "~"),
    case("tilde_int", 'count ~ "1"', "'~' compares text, not int", 1, 1, "count"),
    case("link_int", "maker == 3", "a link to maker can only be compared with an id or null, not int", 1, 10, "3"),
    case("enum_eq", 'status == "lost"', "'lost' is not one of the options: draft, live, retired", 1, 11, '"lost"'),
    case("enum_eq_left", '"lost" != status', "'lost' is not one of the options: draft, live, retired", 1, 1, '"lost"'),
    case(
        "enum_in",
        'status in ("draft", "lost")',
        "'lost' is not one of the options: draft, live, retired",
        1,
        21,
        '"lost"',
    ),
    case("enum_multi", '"purple" in tags', "'purple' is not one of the options: red, green, blue", 1, 1, '"purple"'),
    case(
        "in_nonlist",
        "count in count",
        """'in' needs a list such as ("a", "b") or a list field, not int""",
        1,
        10,
        "count",
    ),
    case(
        "in_one_item",
        'status in ("draft")',
        """'in' needs a list such as ("a", "b") or a list field, not string (a list of one item is written ("a",))""",
        1,
        12,
        '"draft"',
    ),
    case("in_mismatch", "name in (1, 2)", "cannot look for string among int values", 1, 1, "name"),
    case("arith_hint", "released_on + 3", "cannot apply '+' to date and int (add a duration such as 3d)", 1, 13, "+"),
    case(
        "arith_hint_left", "3 + released_on", "cannot apply '+' to int and date (add a duration such as 3d)", 1, 3, "+"
    ),
    case("arith_nohint", "released_on * 2", "cannot apply '*' to date and int", 1, 13, "*"),
    case("arith_text", "name + 1", "cannot apply '+' to string and int", 1, 6, "+"),
    case("mod_decimal", "price % 2", "'%' works on whole numbers", 1, 7, "%"),
    case("unknown_function", "lenght(name) > 3", "unknown function 'lenght'", 1, 1, "lenght"),
    case(
        "no_sql",
        'matches(name, "^a")',
        "matches() cannot be used here: it has no SQL form (lists and filters need one)",
        1,
        1,
        "matches",
        sql=True,
    ),
    case(
        "no_sql_bh",
        "business_hours_between(created_at, now()) > 8",
        "business_hours_between() cannot be used here: it has no SQL form (lists and filters need one)",
        1,
        1,
        "business_hours_between",
        sql=True,
    ),
    case("arity_few", "len()", "len() takes 1 argument(s), got 0", 1, 1, "len"),
    case("arity_many", "upper(name, notes)", "upper() takes 1 argument(s), got 2", 1, 1, "upper"),
    case("arity_range", "round(price, 2, 3)", "round() takes 1 to 2 argument(s), got 3", 1, 1, "round"),
    case("arity_atleast", "coalesce()", "coalesce() takes at least 1 argument(s), got 0", 1, 1, "coalesce"),
    case("arity_if", "if(active, 1)", "if() takes 3 argument(s), got 2", 1, 1, "if"),
    case("arg_type", "len(count)", "len() expects string here, not int", 1, 5, "count"),
    case(
        "arg_temporal",
        "days_between(name, today())",
        "days_between() expects date or datetime here, not string",
        1,
        14,
        "name",
    ),
    case("arg_number", 'abs("x")', "abs() expects number here, not string", 1, 5, '"x"'),
    case("generic", "coalesce(count, name)", "coalesce() mixes int and string", 1, 17, "name"),
    case("generic_if", 'if(active, 1, "one")', "if() mixes int and string", 1, 15, '"one"'),
    case(
        "regex",
        'matches(name, "[a-")',
        "matches() cannot use this pattern: not a regular expression: unterminated character set at position 0",
        1,
        15,
        '"[a-"',
    ),
    case(
        "regex_nested",
        'matches(name, "(a+)+$")',
        "matches() cannot use this pattern: the pattern is too long or has nested repetition",
        1,
        15,
        '"(a+)+$"',
    ),
    case(
        "agg_needs_rows",
        "sum(count)",
        "sum() needs child rows or links as its first argument, e.g. sum(lines...)",
        1,
        1,
        "sum",
    ),
    case(
        "agg_calculation",
        "sum(lines.qty * 2)",
        "sum() takes child rows or one field of them, not a calculation; compute the value in a field of the rows",
        1,
        15,
        "*",
        entity="voucher",
    ),
    case("agg_unknown_field", "sum(makers.weight)", "maker has no field 'weight' (fields: {maker})", 1, 5, "makers"),
    case(
        "agg_too_many",
        "count(parts, qty > 1, true)",
        "count() over rows takes the rows and an optional condition",
        1,
        1,
        "count",
    ),
    case("agg_cond", "count(parts, qty)", "the condition of count() must be true or false, not int", 1, 14, "qty"),
    case("sum_text", "sum(parts.label)", "sum() adds numbers, not string", 1, 5, "parts"),
    case("avg_link", "avg(parts.maker)", "avg() adds numbers, not link to maker", 1, 5, "parts"),
    case("min_link", "min(parts.maker)", "min() compares numbers, text or dates, not link to maker", 1, 5, "parts"),
    case("expect_bool", "count + 1", "a condition must be true or false, not int", 1, 7, "+", expect="bool"),
    case("expect_bool_text", "name", "a condition must be true or false, not string", 1, 1, "name", expect="bool"),
    case("json", "specs > 1", "cannot compare json with int using >", 1, 7, ">"),
    case("multi_line2", "name == 'a' and\n  count > \"x\"", "cannot compare int with string using >", 2, 9, ">"),
    case("multi_line3", "active and\n\n  nope", NO_NOPE, 3, 3, "nope"),
    case(
        "multi_enum_line3",
        'status in (\n  "draft",\n  "lost")',
        "'lost' is not one of the options: draft, live, retired",
        3,
        3,
        '"lost"',
    ),
    case("multi_line_plus", "count\n  + 'x'", "cannot apply '+' to int and string", 2, 3, "+"),
    case("crlf", "active and\r\n  nope", NO_NOPE, 2, 3, "nope"),
]


@pytest.mark.parametrize(("text", "message", "line", "column", "culprit", "entity", "options"), CASES)
def test_error_message(snap, text, message, line, column, culprit, entity, options):
    catalog = snap.catalog
    if "{" in message and "has no field" in message:
        message = message.format(**{name: field_hint(catalog, name) for name in ("gadget", "maker", "user")})
    with pytest.raises(DslError) as caught:
        compile_expression(text, catalog.entities[entity], catalog, where="voucher.filter", **options)
    error = caught.value
    assert (error.message, error.line, error.column) == (message, line, column)
    source_line = text.split("\n")[line - 1].rstrip("\r")
    assert source_line[column - 1 :].startswith(culprit), (source_line, column, culprit)
    position = f"(line {line}, column {column})"
    assert error.detail == f"{message} {position}\n{source_line}\n{' ' * (column - 1)}^"
    assert [(e.field, e.message) for e in error.errors] == [("voucher.filter", f"{message} {position}")]


def test_the_table_has_one_case_per_message_kind():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 80


def test_an_error_in_the_where_clause_of_an_aggregate_names_the_row_entity(snap):
    with pytest.raises(DslError) as caught:
        compile_expression("count(lines, nope > 1) > 0", snap.catalog.entities["voucher"], snap.catalog)
    assert caught.value.message.startswith("voucher has no field 'nope'")  # neither a row field nor a record field
    assert (caught.value.line, caught.value.column) == (1, 14)


def test_a_link_filter_checks_bare_names_against_the_candidate_entity(snap):
    catalog = snap.catalog
    with pytest.raises(DslError) as caught:
        compile_expression(
            "status == $record.country",
            catalog.entities["maker"],
            catalog,
            expect="bool",
            record_entity=catalog.entities["voucher"],
        )
    assert caught.value.message == f"maker has no field 'status' (fields: {field_hint(catalog, 'maker')})"
    with pytest.raises(DslError) as caught:
        compile_expression(
            "country == $record.nope",
            catalog.entities["maker"],
            catalog,
            expect="bool",
            record_entity=catalog.entities["voucher"],
        )
    assert caught.value.message.startswith("voucher has no field 'nope'")
    assert caught.value.column == 12


def test_a_long_expression_points_at_the_first_character_too_many():
    from engine.dsl.parser import MAX_LENGTH, parse

    text = "a" * 3000 + "\n" + "b" * 1200
    with pytest.raises(DslError) as caught:
        parse(text)
    error = caught.value
    assert (error.line, error.column) == (2, MAX_LENGTH - 3000)
    assert error.detail.endswith("\n" + " " * (MAX_LENGTH - 3001) + "^")


def test_parentheses_inside_strings_do_not_count_as_nesting(snap):
    text = 'name == "' + "(" * 100 + "\" or notes == '" + "(" * 100 + "\\''"
    assert compile_expression(text, snap.catalog.entities["gadget"], snap.catalog).type.kind == "bool"


# --- the expressions of a pack's fields ------------------------------------------------
WIDGET = """
    entity: widget
    title: name
    fields:
      name:    {type: string, required: true}
      size:    {type: int, default: '=name'}
      total:
        type: decimal
        compute: |-
          size * 2
            + name
      label:   {type: enum, options: [a, b], compute: 'size * 2'}
      shown:   {type: text, visible_if: 'size'}
      frozen:  {type: text, readonly_if: 'status == "x"'}
      other:   {type: link, to: widget, filter: 'nope == $record.size'}
    validations:
      - when: 'size + 1'
        message: Not a condition.
"""


def write_pack(root: Path, files: dict[str, str]) -> Path:
    pack = root / "alpha"
    (pack / "entities").mkdir(parents=True)
    (pack / "pack.yaml").write_text("name: alpha\nversion: 1.0.0\n")
    for name, text in files.items():
        (pack / name).write_text(textwrap.dedent(text).lstrip())
    return pack


def test_field_expressions_are_checked_against_the_field(tmp_path):
    write_pack(tmp_path, {"entities/widget.yaml": WIDGET})
    config = Config(database_url="sqlite://", packs=("alpha",), extra_pack_paths=(tmp_path,))
    problems = Problems()
    catalog = build_catalog(load_packs(config, problems), (), problems)
    assert not problems, problems.items
    errors: list[Any] = []
    compile_entity(catalog.entities["widget"], catalog, default_functions(), errors)
    found = {exc.errors[0].field: (exc.message, exc.line, exc.column, str(origin)) for origin, exc in errors}
    hint = field_hint(catalog, "widget")
    expected = {
        "widget.size.default": (r"gives string, but size is a field of type int", 1, 1, 5),
        "widget.total.compute": (r"cannot apply '\+' to int and string", 2, 3, 6),
        "widget.label.compute": (r"gives int, but label is a field of type enum", 1, 6, 11),
        "widget.shown.visible_if": (r"a condition must be true or false, not int", 1, 1, 12),
        "widget.frozen.readonly_if": (re.escape(f"widget has no field 'status' (fields: {hint})"), 1, 1, 13),
        "widget.other.filter": (re.escape(f"widget has no field 'nope' (fields: {hint})"), 1, 1, 14),
        "widget.validations[0]": (r"a condition must be true or false, not int", 1, 6, 16),
    }
    assert sorted(found) == sorted(expected)
    for where, (pattern, line, column, yaml_line) in expected.items():
        message, got_line, got_column, origin = found[where]
        assert re.fullmatch(pattern, message), (where, message)
        assert (got_line, got_column) == (line, column), where
        assert re.search(rf"widget\.yaml:{yaml_line}:\d+$", origin), (where, origin)


def test_check_command_prints_the_field_position_message_and_caret(tmp_path, monkeypatch):
    write_pack(
        tmp_path,
        {
            "entities/widget.yaml": """
        entity: widget
        title: name
        fields:
          name:  {type: string, required: true}
          size:  {type: int}
          total:
            type: decimal
            compute: |-
              size * 2
                + name
    """
        },
    )
    monkeypatch.setenv("TESSERA_EXTRA_PACK_PATHS", str(tmp_path))
    result = CliRunner().invoke(main, ["check", str(tmp_path)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    start = next(i for i, text in enumerate(lines) if "widget.yaml:" in text)
    assert lines[start] == (
        f"{tmp_path}/alpha/entities/widget.yaml:6:3: cannot apply '+' to int and string (line 2, column 3)"
    )
    assert lines[start + 1] == "      + name"
    assert lines[start + 2] == "      ^ (widget.total.compute)"
    assert "1 problem(s)" in result.output
