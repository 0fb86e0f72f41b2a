"""Values in automation documents: literals, ``=`` DSL expressions, durations.

As everywhere in metadata, a string that starts with ``=`` is a DSL expression and
anything else is a literal (``status: closed`` versus ``due: '=now() + 4h'``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from engine.dsl import Env, Expression, compile_expression
from engine.dsl.functions import FunctionRegistry
from engine.errors import DslError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.meta.packs import dependency_closure
from engine.meta.problems import Problems

_DURATION = re.compile(r"(\d+)\s*([wdhms])")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}

Value = Callable[[Env], Any]


#: the longest duration automation accepts (timers, schedule offsets, SLA targets): ten
#: years; far longer ones overflowed the calendar when added to a date (a 500 on the write
#: that started such a timer, a scheduler stuck on such an offset)
MAX_DURATION = dt.timedelta(days=3653)


def parse_duration(text: str) -> dt.timedelta:
    """``90d``, ``4h``, ``1h30m``, ``2w`` -> timedelta; ValueError on anything else or
    anything longer than ``MAX_DURATION``."""
    cleaned = str(text).strip()
    parts = _DURATION.findall(cleaned)
    if not parts or _DURATION.sub("", cleaned).strip():
        raise ValueError(f"{text!r} is not a duration like 90d, 4h or 1h30m")
    seconds = sum(int(amount) * dt.timedelta(**{_UNITS[unit]: 1}).total_seconds() for amount, unit in parts)
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"{text!r} is longer than ten years ({MAX_DURATION.days}d), the longest duration here")
    return dt.timedelta(seconds=seconds)


def may_target(pack: str, entity: EntityDef, catalog: Catalog) -> bool:
    """A pack's automation may act on entities of its own pack and the packs it depends on
    (as its links may); an overlay, or anything on an overlay entity, on any."""
    if pack == "overlay" or entity.pack == "overlay":
        return True
    return entity.pack in dependency_closure(catalog.packs).get(pack, {pack, "system"})


def target_entity(name: str, pack: str, catalog: Catalog, problems: Any, where: Any) -> EntityDef | None:
    """The (non-child) entity a definition of ``pack`` names, or None with the problem
    reported at ``where`` (a location): unknown, or in a pack this one does not depend on."""
    entity = catalog.entities.get(name)
    if entity is None or entity.child:
        problems.add(where, f"unknown entity {name!r}")
        return None
    if not may_target(pack, entity, catalog):
        problems.add(where, f"{entity.name!r} belongs to pack {entity.pack!r}, which this pack does not depend on")
        return None
    return entity


class Compiler:
    """Compiles the expressions of one definition, reporting errors at their place in the file."""

    def __init__(
        self, catalog: Catalog, functions: FunctionRegistry, problems: Problems, definition: Any, automation: Any = None
    ):
        self.catalog, self.functions, self.problems, self.definition = catalog, functions, problems, definition
        #: the automation being built (workflow-owned fields, calendars, record actions)
        self.automation = automation
        #: variables the expressions being compiled may read: ``$input`` of a record action,
        #: ``$NAME`` bound by an earlier step's ``as:``, ``$item`` inside ``for_each``
        self.variables: dict[str, Any] = {}

    def entity(self, name: Any, *path: Any) -> EntityDef | None:
        entity = self.catalog.entities.get(name) if isinstance(name, str) else None
        if entity is None or entity.child:
            self.problems.add(self.definition.location(*path), f"unknown entity {name!r}")
            return None
        pack = getattr(self.definition, "pack", "overlay")
        if not may_target(pack, entity, self.catalog):
            self.fail(f"{entity.name!r} belongs to pack {entity.pack!r}, which pack {pack!r} does not depend on", *path)
            return None
        return entity

    def fail(self, message: str, *path: Any) -> None:
        self.problems.add(self.definition.location(*path), message)

    def expression(
        self, source: str, entity: EntityDef, *path: Any, condition: bool = False, updates: bool = True
    ) -> Expression | None:
        try:
            return compile_expression(
                source,
                entity,
                self.catalog,
                functions=self.functions,
                where=self.definition.where(*path),
                updates=updates,
                expect="bool" if condition else None,
                variables=self.variables,
            )
        except DslError as exc:
            self.problems.add(self.definition.location(*path), exc.detail.replace("\n", "\n    "))
            return None

    def condition(self, source: str | None, entity: EntityDef, *path: Any, updates: bool = True) -> Expression | None:
        return None if source is None else self.expression(source, entity, *path, condition=True, updates=updates)

    def value(self, raw: Any, entity: EntityDef, *path: Any) -> Value:
        """A literal or an ``=expression`` evaluated against the trigger record."""
        if isinstance(raw, str) and raw.startswith("="):
            expr = self.expression(raw[1:], entity, *path)
            return (lambda env: None) if expr is None else expr.evaluate
        return lambda env: raw

    def duration(self, raw: Any, *path: Any) -> dt.timedelta:
        try:
            return parse_duration(raw)
        except ValueError as exc:
            self.fail(str(exc), *path)
            return dt.timedelta()
