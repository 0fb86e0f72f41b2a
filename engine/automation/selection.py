"""``for_each: {entity: ENTITY, filter: DSL, condition: EXPR}``: the records of an entity a
query selects, as the items of a ``create`` (one record per selected record, read as
``$item``).

``filter`` is a condition over ENTITY written in the document (checked by ``tessera check``);
``condition`` is an expression over the trigger record giving a condition *text*, such as a
target group kept in a record (``'=segment.condition'``), compiled when the step runs, in SQL
only. Both must hold. A condition text that does not compile fails the step (422, with the
DSL's message), so nothing is half-written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.automation.actions import ActionFailed, Bound, Target, compile_filter
from engine.automation.values import Compiler
from engine.dsl import compile_expression
from engine.errors import DslError
from engine.meta.model import EntityDef

#: the most records one selection may give (a larger target group fails the step)
MAX_SELECTED = 10_000


@dataclass
class Selection:
    entity: EntityDef
    filter: Any
    condition: Any
    compile_text: Any

    def ids(self, run: Any, target: Target) -> list[Bound]:
        env = target.env(run)
        ids = run.select_ids(self.entity, self.filter, outer=env.record, variables=env.vars, limit=MAX_SELECTED + 1)
        if self.condition is not None:
            text = self.condition.evaluate(env)
            if text is None or not str(text).strip():
                return []
            chosen = set(
                run.select_ids(self.entity, self.compile_text(str(text)), outer=env.record, limit=MAX_SELECTED + 1)
            )
            ids = [i for i in ids if i in chosen]
        if len(ids) > MAX_SELECTED:
            raise ActionFailed(f"the selection gave more than {MAX_SELECTED} {self.entity.name} records")
        return [Bound(self.entity.name, i) for i in ids]


def compile_selection(c: Compiler, spec: dict[str, Any], entity: EntityDef, path: tuple[Any, ...]) -> Selection | None:
    unknown = set(spec) - {"entity", "filter", "condition"}
    if unknown:
        c.fail(f"unknown key {sorted(unknown)[0]!r}; a selection takes entity, filter and condition", *path)
        return None
    selected = c.entity(spec.get("entity"), *path, "entity")
    if selected is None:
        return None
    condition_filter = None
    if "filter" in spec:
        condition_filter = compile_filter(c, spec["filter"], selected, entity, (*path, "filter"))
        if condition_filter is None:
            return None
    text = None
    if "condition" in spec:
        source = spec["condition"]
        if not isinstance(source, str) or not source.startswith("=") or not source[1:].strip():
            c.fail("condition takes an expression giving a condition text, such as '=segment.condition'", *path)
            return None
        text = c.expression(source[1:], entity, *path, "condition", updates=False)
        if text is None:
            return None
    catalog, functions = c.catalog, c.functions
    compiled: dict[str, Any] = {}

    def compile_text(source: str) -> Any:
        if source not in compiled:
            try:
                compiled[source] = compile_expression(
                    source, selected, catalog, functions=functions, where="condition", sql=True, expect="bool"
                )
            except DslError as exc:
                raise ActionFailed(
                    f"the condition of the {selected.name} selection does not compile: {exc.detail}"
                ) from exc
            if len(compiled) > 256:
                compiled.pop(next(iter(compiled)))
        return compiled[source]

    return Selection(selected, condition_filter, text, compile_text)
