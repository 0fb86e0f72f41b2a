"""Robustness of the expression language under random input (hypothesis).

Whatever text arrives, compiling gives an Expression or a ``DslError`` (with a position),
never another exception, never a RecursionError, and quickly. Expressions that compile
evaluate in Python on records with random values (nulls included) without raising and
build SQL for both dialects. User text never reaches Python internals: dunder names,
builtins and ``import`` are unknown fields or functions like any other name.

Bounded: a few hundred examples per property, the whole module in well under 30 s.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import string
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from engine.dsl import Env, Expression, compile_expression, sql_context
from engine.dsl.business_time import BusinessCalendar
from engine.dsl.parser import MAX_DEPTH, MAX_LENGTH
from engine.errors import DslError
from engine.workspace import Workspace
from tests.conftest import make_config

NOW = dt.datetime(2026, 6, 15, 12, 30, tzinfo=dt.UTC)
BOUND = 10.0  # seconds: catches a runaway (exponential) compile, not slowness (that is bench/)
FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
CALENDAR = BusinessCalendar.from_spec(
    {"timezone": "UTC", "working_hours": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}}
)


@pytest.fixture(scope="module")
def snap(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    ws = Workspace(make_config(f"sqlite:///{tmp / 'fuzz.db'}", tmp), meta_check_interval=0)
    yield ws.build_snapshot(0, ())  # compiling needs the catalog and tables, not a database
    ws.db.dispose()


def compile_bounded(snap: Any, text: str, entity: str = "gadget", **options: Any) -> Expression | None:
    """Compile ``text``: an Expression, or None after a proper DslError; anything else fails."""
    started = time.perf_counter()
    try:
        return compile_expression(text, snap.catalog.entities[entity], snap.catalog, **options)
    except DslError as exc:
        assert exc.detail and exc.errors, text
        assert getattr(exc, "line", 0) >= 1 and getattr(exc, "column", 0) >= 1, (text, exc.detail)
        assert "^" in exc.detail, (text, exc.detail)
        assert exc.message != "syntax error", text  # the parser's fallback for an unforeseen failure
        return None
    finally:
        elapsed = time.perf_counter() - started
        assert elapsed < BOUND, f"compiling took {elapsed:.2f}s: {text!r}"


def build_sql(snap: Any, expr: Expression) -> None:
    """The SQL form builds and renders for both dialects (it is not run here)."""
    if not expr.sql_ready:
        return
    for name, dialect in (("sqlite", sqlite.dialect()), ("postgresql", postgresql.dialect())):
        value = expr.to_sql(snap.tables, sql_context(name, NOW, "u-1", frozenset({"admin"}), frozenset({"l1"})))
        if isinstance(value, list):  # a bare list literal has no single SQL value
            continue
        str(
            sa.select(sa.literal_column("1")).where(sa.and_(sa.true(), value)).compile(dialect=dialect)
            if expr.type.kind == "bool"
            else sa.select(value).compile(dialect=dialect)
        )


# --- (a) random text --------------------------------------------------------------------
GADGET_FIELDS = [
    "name",
    "notes",
    "count",
    "weight",
    "price",
    "discount",
    "active",
    "released_on",
    "seen_at",
    "warranty",
    "email",
    "phone",
    "website",
    "status",
    "tags",
    "maker",
    "makers",
    "parts",
    "specs",
    "manual",
    "responsible",
    "team",
    "stars",
    "api_key",
    "number",
    "id",
    "created_at",
    "owner",
]
FUNCTIONS = [
    "if",
    "coalesce",
    "concat",
    "len",
    "lower",
    "upper",
    "trim",
    "contains",
    "startswith",
    "matches",
    "round",
    "abs",
    "min",
    "max",
    "now",
    "today",
    "days_between",
    "hours_between",
    "business_hours_between",
    "add_business_hours",
    "has_role",
    "in_team",
    "is_team_member",
    "is_my_team",
    "sum",
    "count",
    "avg",
    "changed",
]
HOSTILE = [
    "__class__",
    "__globals__",
    "__import__('os')",
    "__import__",
    "().__class__.__bases__",
    "__builtins__",
    "__subclasses__()",
    "lambda",
    "lambda x: x",
    "os",
    "os.system('id')",
    "eval",
    "exec",
    "open",
    "import",
    "sys",
    "globals()",
    "locals()",
    "getattr",
    "self",
    "env",
    "env.record",
    "__dict__",
    "mro()",
    "print(1)",
    "f'{1}'",
    "b'x'",
    "r'x'",
    "0x1f",
    "1e9",
    "1_000",
    "[1]",
    "{1: 2}",
    "a[0]",
    "x if y else z",
    ";",
    "#",
    "\\",
    "`",
    "@",
    "?",
    "!",
    "&&",
    "||",
    "=",
    "->",
    "**",
    "//",
    "...",
]
TOKENS = (
    GADGET_FIELDS
    + FUNCTIONS
    + HOSTILE
    + [
        "maker.name",
        "maker.country",
        "parts.qty",
        "parts.price",
        "parts.maker.name",
        "makers.name",
        "$record",
        "$record.count",
        "$user",
        "$user.email",
        "$now",
        "$today",
        "$foo",
        "old",
        "old.count",
        "and",
        "or",
        "not",
        "in",
        "not in",
        "true",
        "false",
        "null",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "~",
        "+",
        "-",
        "*",
        "/",
        "%",
        "(",
        ")",
        "()",
        ",",
        ".",
        '"',
        "'",
        '"abc"',
        "'x y'",
        '"a\\"b"',
        "'\\n'",
        '""',
        "0",
        "1",
        "-1",
        "42",
        "3.14",
        "0.5",
        "99999999999999999999",
        "2026-01-31",
        "2026-02-30",
        "0001-01-01",
        "9999-12-31",
        "2026-01-31T10:00",
        "2026-01-31T10:00:00Z",
        "2026-01-31T10:00:00.123456+02:00",
        "0001-01-01T00:00+01:00",
        "30m",
        "4h",
        "2d",
        "1w",
        "1d4h",
        "90s",
        '"draft"',
        '"live"',
        '"bogus"',
        '"red"',
        "\n",
        "\t",
        " ",
    ]
)
token_text = st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join)
glued_text = st.lists(st.sampled_from(TOKENS), max_size=10).map("".join)
grammar_chars = st.text(alphabet=string.ascii_lowercase[:8] + "_$.()\"',=!<>~+-*/% 0123456789\n:TZwdhms", max_size=80)


@FUZZ
@given(
    text=st.one_of(st.text(max_size=120), token_text, glued_text, grammar_chars),
    entity=st.sampled_from(["gadget", "voucher"]),
    sql=st.booleans(),
    updates=st.booleans(),
)
def test_random_text_compiles_or_raises_dsl_error(snap, text, entity, sql, updates):
    expr = compile_bounded(snap, text, entity, sql=sql, updates=updates)
    if expr is not None and not updates:
        build_sql(snap, expr)


# --- (b) random well-formed trees ----------------------------------------------------------
def _literal() -> st.SearchStrategy[str]:
    texts = st.text(alphabet=string.ascii_letters + " éß\"'\\\n", max_size=8)
    return st.one_of(
        st.integers(-(10**6), 10**6).map(str),
        st.decimals(min_value=-(10**6), max_value=10**6, places=3, allow_nan=False).map(lambda d: f"{d:.3f}"),
        texts.map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'),
        texts.map(lambda s: "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"),
        st.sampled_from(["true", "false", "null", '"draft"', '"live"', '"red"', "()"]),
        st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 1, 1)).map(str),
        st.datetimes(min_value=dt.datetime(1900, 1, 2), max_value=dt.datetime(2100, 1, 1)).map(
            lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")
        ),
        st.lists(st.tuples(st.integers(0, 500), st.sampled_from("wdhms")), min_size=1, max_size=3).map(
            lambda parts: "".join(f"{n}{u}" for n, u in parts)
        ),
    )


LEAF_PATHS = [f for f in GADGET_FIELDS if f != "api_key"] + [
    "maker.name",
    "maker.country",
    "responsible.email",
    "$user.email",
    "$user",
    "$record",
    "$record.count",
    "$now",
    "$today",
    "created_at",
    "updated_at",
    "version",
]
ROWS = ["parts", "parts.qty", "parts.price", "parts.label", "parts.maker", "parts.maker.name", "makers", "makers.name"]
ROW_CONDITIONS = [
    "qty > 2",
    "price >= 10.5",
    'label ~ "a"',
    "maker == null",
    "$record.count > qty",
    "true",
    'maker.country == "DE"',
]
BINARY = ["and", "or", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "~", "+", "-", "*", "/", "%"]


def leaf() -> st.SearchStrategy[str]:
    return st.one_of(_literal(), st.sampled_from(LEAF_PATHS))


@st.composite
def tree(draw: Any, depth: int) -> str:
    """A random expression nested up to ``depth`` levels: one operand goes deep, the others stay shallow."""
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        return draw(leaf())
    deep, shallow = tree(depth - 1), tree(min(depth - 1, 2))
    kind = draw(st.sampled_from(["binary", "binary", "binary", "unary", "call", "call", "aggregate", "list"]))
    if kind == "binary":
        op = draw(st.sampled_from(BINARY))
        left, right = (draw(deep), draw(shallow)) if draw(st.booleans()) else (draw(shallow), draw(deep))
        return f"({left} {op} {right})"
    if kind == "unary":
        return f"{draw(st.sampled_from(['not ', '-']))}({draw(deep)})"
    if kind == "aggregate":
        name = draw(st.sampled_from(["sum", "count", "avg", "min", "max"]))
        rows = draw(st.sampled_from(ROWS))
        if draw(st.booleans()):
            return f"{name}({rows})"
        return f"{name}({rows}, {draw(st.sampled_from(ROW_CONDITIONS))})"
    if kind == "list":
        items = draw(st.lists(_literal(), min_size=1, max_size=4))
        return f"({draw(deep)} {draw(st.sampled_from(['in', 'not in']))} ({', '.join(items)},))"
    name = draw(st.sampled_from(FUNCTIONS[:-4]))  # the aggregates and changed() have their own branch
    args = [draw(deep), *draw(st.lists(shallow, max_size=3))] if draw(st.integers(0, 4)) or name == "concat" else []
    return f"{name}({', '.join(args)})"


# typed templates: most random trees are ill-typed, these compile often and so exercise evaluation
TYPED = {
    "int": [
        "count",
        "stars",
        "len(name)",
        "count(parts)",
        "count(parts, qty > 1)",
        "sum(parts.qty)",
        "days_between(released_on, $today)",
        "{int} + {int}",
        "{int} * {int}",
        "{int} % {int}",
        "-{int}",
        "abs({int})",
        "min({int}, {int})",
        "max({int}, {int})",
        "if({bool}, {int}, {int})",
        "coalesce({int}, {int})",
        "max(parts.qty)",
        "{int} - {int}",
    ],
    "dec": [
        "price",
        "weight",
        "discount",
        "{int} / {int}",
        "{dec} / {dec}",
        "round({dec}, 2)",
        "round({dec})",
        "{dec} + {int}",
        "{dec} * {dec}",
        "{dec} - {dec}",
        "hours_between(seen_at, $now)",
        "avg(parts.price)",
        "sum(parts.price)",
        "business_hours_between(seen_at, now())",
        "abs({dec})",
        "coalesce({dec}, 0.5)",
        "{duration} / {duration}",
    ],
    "str": [
        "name",
        "notes",
        "email",
        "status",
        "maker.name",
        "$user.email",
        "concat({str}, {int}, {date})",
        "lower({str})",
        "upper({str})",
        "trim({str})",
        'if({bool}, {str}, "x")',
        "min(parts.label)",
    ],
    "bool": [
        "active",
        "{int} > {int}",
        "{dec} <= {dec}",
        "{str} == {str}",
        "{str} < {str}",
        "{str} ~ {str}",
        "not {bool}",
        "{bool} and {bool}",
        "{bool} or {bool}",
        "contains({str}, {str})",
        "startswith({str}, {str})",
        'matches({str}, "^[a-z]+$")',
        "{int} in (1, 2, null)",
        'lower({str}) not in ("a", "b")',  # lower(): an enum field would (rightly) refuse "a"
        'status in ("draft", "live")',
        '"red" in tags',
        "status in tags",
        "maker == null",
        "maker in makers",
        "{date} < {date}",
        "{datetime} >= {datetime}",
        "{duration} > {duration}",
        'has_role("admin")',
        'in_team("l1")',
        "{int} == null",
        "is_team_member(responsible)",
        "is_my_team(team)",
        "{bool} != {bool}",
        "{int} == {dec}",
        "1 in parts.qty",
    ],
    "date": [
        "released_on",
        "today()",
        "$today",
        "{date} + {duration}",
        "{date} - {duration}",
        "{duration} + {date}",
        "min({date}, {date})",
        "2026-02-28",
    ],
    "datetime": [
        "seen_at",
        "created_at",
        "now()",
        "$now",
        "{datetime} + {duration}",
        "{datetime} - {duration}",
        "add_business_hours({datetime}, {int})",
        "max({datetime}, {datetime})",
        "2026-01-31T10:00:00+02:00",
        "max(parts.maker.created_at) - 1d",
    ],
    "duration": [
        "warranty",
        "3d4h",
        "-30m",
        "{date} - {date}",
        "{datetime} - {datetime}",
        "{duration} * {int}",
        "{duration} / {int}",
        "{duration} + {duration}",
        "{duration} - {duration}",
    ],
}


@st.composite
def typed(draw: Any, kind: str, depth: int) -> str:
    templates = TYPED[kind]
    if depth <= 0:
        templates = [t for t in templates if "{" not in t] or templates[:1]
    template = draw(st.sampled_from(templates))
    out, rest = [], template
    while "{" in rest:
        before, _, after = rest.partition("{")
        inner, _, rest = after.partition("}")
        out.append(before + "(" + draw(typed(inner, depth - 1)) + ")")
    return "".join(out) + rest


# --- random records ----------------------------------------------------------------------
DATES = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2060, 12, 31))
DATETIMES = st.datetimes(
    min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2060, 12, 31), timezones=st.just(dt.UTC)
)
DECIMALS = st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False, allow_infinity=False)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=5,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def parts_rows() -> st.SearchStrategy[list[dict[str, Any]]]:
    return st.lists(
        st.fixed_dictionaries(
            {
                "id": st.uuids().map(str),
                "label": st.text(max_size=6),
                "qty": maybe(st.integers(-5, 50)),
                "price": maybe(DECIMALS),
                "maker": maybe(st.sampled_from(["m-1", "m-2", "m-missing"])),
            }
        ),
        max_size=4,
    )


def gadget_record() -> st.SearchStrategy[dict[str, Any]]:
    text = maybe(st.text(max_size=12))
    return st.fixed_dictionaries(
        {
            "id": st.just("g-1"),
            "number": text,
            "name": text,
            "notes": text,
            "email": text,
            "phone": text,
            "website": text,
            "manual": text,
            "count": maybe(st.integers(-(10**12), 10**12)),
            "stars": maybe(st.integers(0, 5)),
            "weight": maybe(DECIMALS),
            "price": maybe(DECIMALS),
            "discount": maybe(DECIMALS),
            "active": maybe(st.booleans()),
            "released_on": maybe(DATES),
            "seen_at": maybe(DATETIMES),
            "created_at": DATETIMES,
            "updated_at": DATETIMES,
            "warranty": maybe(st.integers(0, 10**9)),
            "version": st.integers(1, 9),
            "status": maybe(st.sampled_from(["draft", "live", "retired"])),
            "tags": maybe(st.lists(st.sampled_from(["red", "green", "blue"]), unique=True)),
            "maker": maybe(st.sampled_from(["m-1", "m-2", "m-missing"])),
            "makers": maybe(st.lists(st.sampled_from(["m-1", "m-2", "m-missing"]), max_size=3)),
            "parts": maybe(parts_rows()),
            "specs": maybe(JSON),
            "responsible": maybe(st.just("u-1")),
            "owner": maybe(st.just("u-1")),
            "team": maybe(st.just("t-1")),
        }
    )


def loader(makers: dict[str, Any]) -> Any:
    records = {
        ("maker", "m-1"): makers["m-1"],
        ("maker", "m-2"): makers["m-2"],
        ("user", "u-1"): {"id": "u-1", "email": "ada@test.dev", "full_name": "Ada", "active": True},
    }
    return lambda entity, record_id: records.get((entity, record_id))


MAKER = st.fixed_dictionaries(
    {
        "id": st.just("m"),
        "name": maybe(st.text(max_size=6)),
        "country": maybe(st.sampled_from(["DE", "FR", "de", ""])),
        "created_at": DATETIMES,
    }
)


def evaluate(expr: Expression, record: dict[str, Any], makers: dict[str, Any], user: bool) -> Any:
    env = Env(
        record,
        now=NOW,
        load=loader(makers),
        user_id="u-1" if user else None,
        roles=frozenset({"admin"}),
        teams=frozenset({"l1"}),
        calendar=CALENDAR,
    )
    started = time.perf_counter()
    value = expr.evaluate(env)
    expr.holds(env)
    assert time.perf_counter() - started < BOUND, expr.source
    return value


@FUZZ
@given(text=tree(8), record=gadget_record(), m1=MAKER, m2=MAKER, user=st.booleans(), sql=st.booleans())
def test_random_trees_compile_evaluate_and_build_sql(snap, text, record, m1, m2, user, sql):
    expr = compile_bounded(snap, text, sql=sql)
    if expr is not None:
        evaluate(expr, record, {"m-1": m1, "m-2": m2}, user)
        build_sql(snap, expr)


@FUZZ
@given(
    kind=st.sampled_from(sorted(TYPED)),
    depth=st.integers(0, 8),
    data=st.data(),
    record=gadget_record(),
    m1=MAKER,
    m2=MAKER,
    user=st.booleans(),
)
def test_typed_trees_compile_evaluate_and_build_sql(snap, kind, depth, data, record, m1, m2, user):
    text = data.draw(typed(kind, depth))
    expr = compile_bounded(snap, text)
    assert expr is not None, text  # the templates are well typed
    evaluate(expr, record, {"m-1": m1, "m-2": m2}, user)
    build_sql(snap, expr)


# --- (c) safety and limits -----------------------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "__class__",
        "__globals__",
        "__builtins__",
        "__import__",
        "__dict__",
        "os",
        "sys",
        "eval",
        "exec",
        "open",
        "import",
        "globals",
        "getattr",
        "compile",
        "self",
        "env",
        "record",
        "lambda",
        "print",
    ],
)
def test_python_names_are_unknown_fields_and_functions(snap, name):
    gadget = snap.catalog.entities["gadget"]
    for text, message in (
        (name, f"gadget has no field {name!r}"),
        (f"{name} == 1", f"gadget has no field {name!r}"),
        (f"{name}('os')", f"unknown function {name!r}"),
        (f"{name}()", f"unknown function {name!r}"),
        (f"name.{name}", f"name is a string, it has no field {name!r}"),
        (f"maker.{name}", f"maker has no field {name!r}"),
        (f"$user.{name}", f"user has no field {name!r}"),
    ):
        with pytest.raises(DslError) as caught:
            compile_expression(text, gadget, snap.catalog)
        assert caught.value.message.startswith(message), (text, caught.value.message)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('id')",
        "().__class__.__bases__[0]",
        "().__class__.__bases__",
        "name.__class__",
        "lambda: 1",
        "lambda x: x",
        "[c for c in ()]",
        "open('/etc/passwd')",
        "eval('1')",
        "exec('x=1')",
        "import os",
        "name.upper()",
        "{'a': 1}",
        "name[0]",
        "1 if true else 2",
        "f'{name}'",
        "name; 1",
        "`id`",
        "count ** 2",
        "count // 2",
        "count = 1",
        "name.__len__()",
        "'a'.join(name)",
    ],
)
def test_python_syntax_is_not_an_expression(snap, text):
    with pytest.raises(DslError):
        compile_expression(text, snap.catalog.entities["gadget"], snap.catalog)


def test_functions_resolve_only_against_the_registry(snap):
    # a name bound in Python's builtins or in the engine's modules is still an unknown function
    for name in ("print", "len_", "str", "int", "type", "vars", "dir", "object", "math", "sa", "dt", "re"):
        with pytest.raises(DslError, match=f"unknown function '{name}'"):
            compile_expression(f"{name}(1)", snap.catalog.entities["gadget"], snap.catalog)


def test_a_5000_character_expression_is_refused(snap):
    text = " + ".join(["count"] * 700)[:5000]
    assert len(text) == 5000
    with pytest.raises(DslError) as caught:
        compile_expression(text, snap.catalog.entities["gadget"], snap.catalog)
    assert caught.value.message == f"the expression is longer than {MAX_LENGTH} characters"


def test_the_longest_allowed_expression_still_compiles(snap):
    text = " + ".join(["1"] * 40)
    text = f"{text} + {'0' * (MAX_LENGTH - len(text) - 3)}"
    assert len(text) == MAX_LENGTH
    assert compile_expression(text, snap.catalog.entities["gadget"], snap.catalog).type.kind == "int"


@pytest.mark.parametrize(
    "text",
    [
        "(" * 500 + "count" + ")" * 500,
        "(" * 500 + "1" + ")" * 500,
        "(" * 65 + "true" + ")" * 65,
        "not " * 500 + "true",
        "-" * 900 + "count",
        "- " * 900 + "1",
        "abs(" * 300 + "count" + ")" * 300,
        "1" + " + 1" * 900,
        "(" * 500 + "1",
        "(1, " * 400 + "1" + ")" * 400,
        "count(parts, " * 200 + "true" + ")" * 200,
    ],
)
def test_deep_nesting_is_refused_with_a_dsl_error(snap, text):
    started = time.perf_counter()
    with pytest.raises(DslError) as caught:
        compile_expression(text, snap.catalog.entities["gadget"], snap.catalog)
    assert time.perf_counter() - started < BOUND
    assert caught.value.message in (
        f"the expression is nested more than {MAX_DEPTH} levels deep",
        "the expression ends too early",
    )


def test_nesting_up_to_the_limit_compiles(snap):
    gadget = snap.catalog.entities["gadget"]
    assert compile_expression("(" * 60 + "count" + ")" * 60, gadget, snap.catalog).type.kind == "int"
    assert compile_expression("abs(" * 60 + "count" + ")" * 60, gadget, snap.catalog).type.kind == "int"
    assert compile_expression("not " * 60 + "true", gadget, snap.catalog).type.kind == "bool"


def test_a_deep_stack_at_the_caller_still_gives_a_dsl_error(snap):
    """A parse that starts near the recursion limit fails as a DslError, never a RecursionError."""
    gadget = snap.catalog.entities["gadget"]

    def nested(depth: int) -> None:
        if depth:
            return nested(depth - 1)
        for text in ("not " * 60 + "true", "1" + " + 1" * 60, "abs(" * 60 + "1" + ")" * 60):
            with contextlib.suppress(DslError):
                compile_expression(text, gadget, snap.catalog)
        return None

    import sys

    nested(sys.getrecursionlimit() - 400)


def test_evaluation_reads_declared_fields_only(snap):
    """Python evaluation looks up declared field names in the record dict, nothing else."""

    class Spy(dict):  # type: ignore[type-arg]
        seen: list[str] = []

        def get(self, key: str, default: Any = None) -> Any:
            Spy.seen.append(key)
            return super().get(key, default)

        def __getattr__(self, name: str) -> Any:  # pragma: no cover - would be the bug
            raise AssertionError(f"attribute {name} read")

    expr = compile_expression(
        'concat(name, maker.name) ~ "a" and count(parts, qty > 1) >= 0 and not active',
        snap.catalog.entities["gadget"],
        snap.catalog,
    )
    record = Spy(name="a", count=1, active=False, parts=[{"qty": 2}], maker="m-1")
    makers = {("maker", "m-1"): Spy(name="acme")}
    assert expr.evaluate(Env(record, now=NOW, load=lambda e, i: makers.get((e, i)))) is True
    assert set(Spy.seen) <= {"name", "maker", "parts", "active"}


@settings(max_examples=60, deadline=None)
@given(value=st.one_of(st.integers(), st.text(max_size=30), DECIMALS, st.dates()))
def test_literals_round_trip_through_the_parser(snap, value):
    """Numbers, text with any characters, and dates parse back to the value they spell."""
    gadget = snap.catalog.entities["gadget"]
    if isinstance(value, str):
        text = '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r") + '"'
    elif isinstance(value, Decimal):
        text = f"{value:f}" if "." in f"{value:f}" else f"{value:f}.0"
    else:
        text = str(value)
    if len(text) > MAX_LENGTH:
        return
    expr = compile_expression(text, gadget, snap.catalog)
    got = expr.evaluate(Env({}, now=NOW))
    assert got == value, (text, got)


# --- engine bugs this module found outside the parser and checker (fixed since) -------------
def test_concat_needs_an_argument(snap):
    with pytest.raises(DslError, match=r"concat\(\) takes at least 1 argument"):
        compile_expression("concat()", snap.catalog.entities["gadget"], snap.catalog)


def test_matches_with_an_invalid_pattern_from_a_field_is_unknown(snap):
    expr = compile_expression("matches(name, notes)", snap.catalog.entities["gadget"], snap.catalog)
    assert expr.evaluate(Env({"name": "a", "notes": "["}, now=NOW)) is None
    assert expr.evaluate(Env({"name": "a", "notes": "(a+)+$"}, now=NOW)) is None
    assert expr.evaluate(Env({"name": "a", "notes": "^a$"}, now=NOW)) is True


# --- (d) the language reference (docs/dsl.md) stays true ------------------------------------
DOC = Path(__file__).resolve().parents[2] / "docs" / "dsl.md"


def doc_examples() -> list[tuple[str, str, dict[str, Any]]]:
    """Expressions of the reference: the lines of its ```dsl blocks and its function tables.

    A block starts with ``# on ENTITY[, updates][, sql]``; every other line is one expression.
    """
    text = DOC.read_text()
    out: list[tuple[str, str, dict[str, Any]]] = []
    for block in re.findall(r"```dsl\n(.*?)```", text, re.S):
        header, *lines = block.strip().splitlines()
        entity, *flags = [part.strip() for part in header.removeprefix("# on ").split(",")]
        out += [(line.strip(), entity, {flag: True for flag in flags}) for line in lines if line.strip()]
    reference = text[text.index("## Function reference") : text.index("## Limits and safety")]
    for row in reference.splitlines():
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        if row.startswith("| `") and cells[-1].startswith("`"):
            out.append((cells[-1].strip("`"), "gadget", {}))
    return out


def test_every_example_of_the_reference_compiles(snap):
    examples = doc_examples()
    assert len(examples) > 40
    for text, entity, options in examples:
        try:
            expr = compile_expression(text, snap.catalog.entities[entity], snap.catalog, **options)
        except DslError as exc:
            raise AssertionError(f"docs/dsl.md example {text!r} on {entity}: {exc.detail}") from None
        build_sql(snap, expr)


def test_the_reference_documents_every_function(snap):
    reference = DOC.read_text().split("## Function reference", 1)[1]
    missing = [
        f.signature for f in map(snap.functions.get, snap.functions.names()) if f"| `{f.signature}` |" not in reference
    ]
    assert not missing, f"docs/dsl.md has no entry (or an outdated signature) for {missing}"


@pytest.mark.parametrize("text", ["count < null", "null >= count", "price > null or true"])
def test_ordering_against_null_is_unknown_in_python_and_sql(snap, text):
    """Found by the tree fuzzer: ``count < null`` raised in both compilers."""
    expr = compile_bounded(snap, text, sql=True)
    assert expr is not None
    build_sql(snap, expr)
    assert expr.evaluate(Env({"count": 3, "price": None}, now=NOW)) in (None, True)
