"""Parsing expressions with Lark (LALR) into the node tree of ``engine.dsl.nodes``.

User text is only ever parsed, never evaluated: the grammar admits literals, field
paths, operators and calls of registered functions, nothing else.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, v_args

from engine.dsl import nodes as n
from engine.errors import DslError, FieldError

MAX_LENGTH = 4000
MAX_DEPTH = 64
_DURATION_PART = re.compile(r"(\d+)([wdhms])")
_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


def excerpt(source: str, line: int, column: int) -> str:
    lines = source.split("\n")  # as the parser counts lines (splitlines() also splits at \f, \u2028...)
    text = lines[min(line, len(lines)) - 1].rstrip("\r")
    return f"{text}\n{' ' * max(column - 1, 0)}^"


def dsl_error(source: str, line: int, column: int, message: str, where: str = "expression") -> DslError:
    """A DslError whose detail carries the position and a caret under the culprit."""
    detail = f"{message} (line {line}, column {column})\n{excerpt(source, line, column)}"
    error = DslError(detail, [FieldError(where, f"{message} (line {line}, column {column})")])
    error.line, error.column, error.message = line, column, message  # type: ignore[attr-defined]
    return error


@cache
def _parser() -> Lark:
    grammar = (resources.files("engine.dsl") / "grammar.lark").read_text()
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


def string_literal(value: str) -> str:
    """``value`` written as a DSL string literal (the inverse of reading one), for filters
    built from user input: ``name ~ "O\\"Brien"``."""
    out = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t").replace("\0", "\\0") + '"'


def _unescape(token: str) -> str:
    body = token[1:-1]
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            # an unknown escape keeps its backslash, as in Python: "^\d+$" stays a regex
            out.append(_ESCAPES.get(body[i + 1], "\\" + body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _pos(meta_or_token: Any) -> tuple[int, int]:
    return getattr(meta_or_token, "line", 1) or 1, getattr(meta_or_token, "column", 1) or 1


@v_args(meta=True)
class _ToNodes(Transformer):
    def __init__(self, source: str, where: str = "expression"):
        super().__init__()
        self.source, self.where = source, where

    def _literal(self, token: Token, value: Any, kind: str) -> n.Literal:
        return n.Literal(token.line or 1, token.column or 1, value, kind)

    def int_(self, meta: Any, children: list[Token]) -> n.Literal:
        return self._literal(children[0], int(children[0]), "int")

    def decimal(self, meta: Any, children: list[Token]) -> n.Literal:
        return self._literal(children[0], Decimal(str(children[0])), "decimal")

    def string(self, meta: Any, children: list[Token]) -> n.Literal:
        return self._literal(children[0], _unescape(str(children[0])), "string")

    def date(self, meta: Any, children: list[Token]) -> n.Literal:
        token = children[0]
        try:
            return self._literal(token, dt.date.fromisoformat(str(token)), "date")
        except ValueError:
            raise dsl_error(
                self.source, token.line or 1, token.column or 1, f"{token} is not a calendar date", self.where
            ) from None

    def datetime(self, meta: Any, children: list[Token]) -> n.Literal:
        token = children[0]
        try:
            value = dt.datetime.fromisoformat(str(token).replace("Z", "+00:00"))
            value = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        except (ValueError, OverflowError):  # 0001-01-01T00:00+01:00 is before year 1 in UTC
            raise dsl_error(
                self.source, token.line or 1, token.column or 1, f"{token} is not a valid datetime", self.where
            ) from None
        return self._literal(token, value, "datetime")

    def duration(self, meta: Any, children: list[Token]) -> n.Literal:
        token = children[0]
        seconds = sum(int(num) * _SECONDS[unit] for num, unit in _DURATION_PART.findall(str(token)))
        return self._literal(token, seconds, "duration")

    def true(self, meta: Any, children: list[Any]) -> n.Literal:
        return n.Literal(*_pos(meta), True, "bool")

    def false(self, meta: Any, children: list[Any]) -> n.Literal:
        return n.Literal(*_pos(meta), False, "bool")

    def null(self, meta: Any, children: list[Any]) -> n.Literal:
        return n.Literal(*_pos(meta), None, "null")

    def empty_list(self, meta: Any, children: list[Any]) -> n.ListLiteral:
        return n.ListLiteral(*_pos(meta), [])

    def list_(self, meta: Any, children: list[n.Node]) -> n.ListLiteral:
        return n.ListLiteral(*_pos(meta), [c for c in children if isinstance(c, n.Node)])

    def name(self, meta: Any, children: list[Token]) -> Token:
        return children[0]

    def variable(self, meta: Any, children: list[Token]) -> Token:
        return children[0]

    def path(self, meta: Any, children: list[Token]) -> n.Path:
        head, *rest = children
        return n.Path(head.line or 1, head.column or 1, str(head), [str(t) for t in rest])

    def call(self, meta: Any, children: list[Any]) -> n.Call:
        name, *args = children
        return n.Call(name.line or 1, name.column or 1, str(name), [a for a in args if a is not None])

    def not_(self, meta: Any, children: list[n.Node]) -> n.Unary:
        return n.Unary(*_pos(meta), "not", children[0])

    def neg(self, meta: Any, children: list[n.Node]) -> n.Node:
        operand = children[0]
        if isinstance(operand, n.Literal) and operand.kind in ("int", "decimal", "duration"):
            operand.value = -operand.value
            operand.line, operand.column = _pos(meta)
            return operand
        return n.Unary(*_pos(meta), "neg", operand)

    def _binary(self, meta: Any, op: str, left: n.Node, right: n.Node, token: Token | None = None) -> n.Binary:
        line, column = _pos(token) if token is not None else _pos(meta)
        return n.Binary(line, column, op, left, right)

    def or_(self, meta: Any, children: list[n.Node]) -> n.Binary:
        return self._binary(meta, "or", children[0], children[1])

    def and_(self, meta: Any, children: list[n.Node]) -> n.Binary:
        return self._binary(meta, "and", children[0], children[1])

    def compare(self, meta: Any, children: list[Any]) -> n.Binary:
        left, op, right = children
        return self._binary(meta, str(op), left, right, op)

    def arith(self, meta: Any, children: list[Any]) -> n.Binary:
        left, op, right = children
        return self._binary(meta, str(op), left, right, op)

    def in_(self, meta: Any, children: list[n.Node]) -> n.Binary:
        return self._binary(meta, "in", children[0], children[1])

    def not_in(self, meta: Any, children: list[n.Node]) -> n.Binary:
        return self._binary(meta, "not_in", children[0], children[1])

    def contains(self, meta: Any, children: list[n.Node]) -> n.Binary:
        return self._binary(meta, "~", children[0], children[1])


def _depth(node: n.Node) -> int:
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in _children(current):
            stack.append((child, depth + 1))
    return deepest


def _chain_hint(node: n.Node) -> str:
    """Why a flat expression counts as deep: its longest run of one operator, each a level
    (``a or b or c`` is ``(a or b) or c``); empty when no run is long enough to be the cause."""
    op, length, stack = "", 0, [node]
    while stack:
        current = stack.pop()
        stack.extend(_children(current))
        if not isinstance(current, n.Binary):
            continue
        run, link = 1, current.left
        while isinstance(link, n.Binary) and link.op == current.op:
            run, link = run + 1, link.left
        if run > length:
            op, length = current.op, run
    if length <= MAX_DEPTH // 2:
        return ""
    advice = "write `x in [a, b, ...]` for alternatives" if op == "or" else "split it into computed fields"
    return f" ({length} '{op}' in a row count as {length} levels; {advice})"


def _children(node: n.Node) -> list[n.Node]:
    if isinstance(node, n.ListLiteral):
        return node.items
    if isinstance(node, n.Unary):
        return [node.operand]
    if isinstance(node, n.Binary):
        return [node.left, node.right]
    if isinstance(node, n.Call):
        return node.args
    return []


_HINTS = {"=": " (compare with ==)", "&": " (write 'and')", "|": " (write 'or')", "!": " (write 'not' or !=)"}


def _describe(error: UnexpectedInput, source: str) -> str:
    if isinstance(error, UnexpectedEOF):
        return "the expression ends too early"
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream or 0
        char = source[position] if position < len(source) else ""
        if char in "\"'":
            return "unterminated string"
        hint = " (names and keywords are lower case)" if char.isupper() else _HINTS.get(char, "")
        return f"unexpected character {char!r}{hint}"
    token = getattr(error, "token", None)
    if token is not None and token.type == "$END":
        return "the expression ends too early"
    return f"unexpected {str(token)!r}" if token is not None else "syntax error"


def parse(source: str, where: str = "expression") -> n.Node:
    """Parse ``source``; raise ``DslError`` with position and caret on any problem."""
    if not isinstance(source, str) or not source.strip():
        raise dsl_error(source or "", 1, 1, "the expression is empty", where)
    if len(source) > MAX_LENGTH:  # point at the first character too many
        line = source.count("\n", 0, MAX_LENGTH) + 1
        column = MAX_LENGTH - source.rfind("\n", 0, MAX_LENGTH)
        raise dsl_error(source, line, column, f"the expression is longer than {MAX_LENGTH} characters", where)
    try:
        tree = _parser().parse(source)
        node = _ToNodes(source, where).transform(tree)
    except UnexpectedInput as exc:
        raise dsl_error(
            source, exc.line if exc.line > 0 else 1, exc.column if exc.column > 0 else 1, _describe(exc, source), where
        ) from None
    except RecursionError:
        raise dsl_error(source, 1, 1, f"the expression is nested more than {MAX_DEPTH} levels deep", where) from None
    except DslError:
        raise
    except Exception as exc:  # lark wraps errors raised in transformer callbacks
        inner = getattr(exc, "orig_exc", None)
        if isinstance(inner, DslError):
            raise inner from None
        if isinstance(inner, RecursionError):  # the limit was hit inside a callback rather than in lark
            raise dsl_error(
                source, 1, 1, f"the expression is nested more than {MAX_DEPTH} levels deep", where
            ) from None
        raise dsl_error(source, 1, 1, "syntax error", where) from None
    if _depth(node) > MAX_DEPTH:
        message = f"the expression is nested more than {MAX_DEPTH} levels deep"
        raise dsl_error(source, node.line, node.column, message + _chain_hint(node), where)
    deep = _deep_parenthesis(source)
    if deep is not None:  # redundant parentheses leave no node, but they count as nesting too
        raise dsl_error(source, *deep, f"the expression is nested more than {MAX_DEPTH} levels deep", where)
    return node


def _deep_parenthesis(source: str) -> tuple[int, int] | None:
    """Line and column of the first '(' nested more than MAX_DEPTH deep (outside strings)."""
    depth, quote, escaped, line, column = 0, "", False, 1, 0
    for char in source:
        column += 1
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
            if depth > MAX_DEPTH:
                return line, column
        elif char == ")":
            depth -= 1
        if char == "\n":
            line, column = line + 1, 0
    return None
