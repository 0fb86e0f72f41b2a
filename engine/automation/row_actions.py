"""``add_row: {field: TABLE, values: {...}}``: append one row to a table field of the trigger record.

``set`` replaces a table field's rows; a history (a document's versions, a status log kept
as child rows) needs the existing rows kept and one added at the end. The row's values are
literals or expressions over the trigger record (``'=file'``, ``'=$user'``, ``'=$now'``); the
write goes through the data-access layer like every other action (validated, audited).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from engine.automation.actions import Step, Target, compile_values, evaluate, mapping_spec, register
from engine.automation.values import Compiler
from engine.meta.model import EntityDef


class AddRowAction:
    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if mapping_spec(c, spec, path, "add_row") is None:
            return None
        unknown = sorted(set(spec) - {"field", "values"})
        if unknown:
            c.fail(f"add_row takes field and values, not {', '.join(unknown)}", *path, unknown[0])
            return None
        name = spec.get("field")
        fd = entity.fields.get(name) if isinstance(name, str) else None
        if fd is None or fd.type != "table":
            c.fail(f"{entity.name} has no table field {name!r}", *path, "field")
            return None
        if not isinstance(spec.get("values"), dict):
            c.fail("add_row values takes a mapping of the row's fields", *path, "values")
            return None
        child = c.catalog.entities[fd.opt("of")]
        values = compile_values(c, spec["values"], child, entity, (*path, "values"))
        field_name = fd.name

        def run_add_row(run: Any, target: Target) -> None:
            table = run.snap.tables.entities[target.entity.name].children[field_name]
            kept = run.conn.execute(
                sa.select(table.c.id).where(table.c.parent_id == target.record_id).order_by(table.c.position)
            ).scalars()
            rows = [{"id": row_id} for row_id in kept] + [evaluate(values, target.env(run))]
            run.update(target.entity, target.record_id, {field_name: rows}, target.source)

        return run_add_row


register("add_row", AddRowAction())
