"""The expression tree: what the parser builds and the checker annotates with types.

Nodes are plain dataclasses; ``line``/``column`` point into the source for error
messages. The checker fills ``type`` (and resolves paths to field definitions); the two
compilers read only checked trees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.dsl.types import Type


@dataclass(eq=False)
class Node:
    line: int
    column: int
    type: Type | None = field(default=None, init=False, repr=False)


@dataclass(eq=False)
class Literal(Node):
    value: Any
    kind: str  # int decimal string bool null date datetime duration


@dataclass(eq=False)
class ListLiteral(Node):
    items: list[Node]


@dataclass(eq=False)
class Path(Node):
    """``account.tier``, ``$user.email``, ``old.status``; resolved by the checker."""

    head: str  # a field name, or a variable such as "$user"
    names: list[str]
    #: filled by the checker: how to reach the value (see checker.Step)
    steps: list[Any] = field(default_factory=list, repr=False)
    #: record | old | user | now | today | row | outer | var (a bound record) | value | single
    root: str = field(default="record", repr=False)
    #: roots var/value/single: the variable's name (``$input`` -> "input") or the singleton entity
    var: str = field(default="", repr=False)


@dataclass(eq=False)
class Unary(Node):
    op: str  # not, neg
    operand: Node


@dataclass(eq=False)
class Binary(Node):
    op: str  # and or + - * / % == != < <= > >= in not_in ~
    left: Node
    right: Node


@dataclass(eq=False)
class Call(Node):
    name: str
    args: list[Node]
    #: filled by the checker for aggregates over child rows or links
    function: Any = field(default=None, repr=False)


def walk(node: Node):  # -> Iterator[Node]
    """Every node of the tree, parents first."""
    yield node
    children: list[Node] = []
    if isinstance(node, ListLiteral):
        children = node.items
    elif isinstance(node, Unary):
        children = [node.operand]
    elif isinstance(node, Binary):
        children = [node.left, node.right]
    elif isinstance(node, Call):
        children = node.args
    for child in children:
        yield from walk(child)
