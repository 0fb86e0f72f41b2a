"""The actions that make records: ``create`` (one, or one per item with ``for_each``) and
``find_or_create`` (reuse a match or a duplicate, else create).

Both may name the record with ``as:`` for the steps after them; registered when the
automation components load (``engine.automation.model.components``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engine.automation.actions import (
    GROUP,
    ActionFailed,
    Bound,
    Step,
    Target,
    bind_name,
    compile_filter,
    compile_values,
    evaluate,
    mapping_spec,
    register,
)
from engine.automation.selection import compile_selection
from engine.automation.values import Compiler
from engine.dsl.iteration import compile_collection
from engine.errors import DslError
from engine.meta.model import EntityDef


class CreateAction:
    """``create: {entity: activity, values: {...}}``: a new record; values are evaluated
    against the trigger record (``'=id'`` links back to it). ``as: NAME`` lets later steps
    read it (``'=$NAME.id'``); ``for_each: lines`` creates one record per child row, linked
    record or list item, each read as ``$item`` (``where: '$item.vendor != null'`` skips the
    items it does not hold for; ``group_by: '$item.vendor'`` makes one record per distinct
    value, ``$item`` being the group's first item; ``times: '$item.qty'`` makes that many
    records per item or group). A table field's value may be a list of rows whose values are
    literals or expressions (``lines: [{product: '=$item.product'}]``) or, inside
    ``for_each``, ``{each: {...}}``: one row per item of the group."""

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if mapping_spec(c, spec, path, "create") is None:
            return None
        unknown = set(spec) - {"entity", "values", "as", "for_each", "where", "group_by", "times"}
        misplaced = sorted({"where", "group_by", "times"} & set(spec)) if "for_each" not in spec else []
        if unknown or misplaced:
            key = sorted(unknown)[0] if unknown else misplaced[0]
            c.fail(
                f"unknown key {key!r}; create takes entity, values, as and for_each (with where, group_by and times)",
                *path,
            )
            return None
        if "as" in spec and "for_each" in spec:
            c.fail("'as' names one record; a create with for_each makes many", *path, "as")
            return None
        target_entity = c.entity(spec.get("entity"), *path, "entity")
        name = bind_name(c, spec, path)
        if target_entity is None or ("as" in spec and name is None):
            return None
        if "for_each" in spec:
            return self._for_each(c, spec, entity, target_entity, path)
        values = compile_values(c, spec.get("values") or {}, target_entity, entity, (*path, "values"))
        if name is not None:
            c.variables[name] = target_entity

        def run_create(run: Any, target: Target) -> None:
            record_id = run.create(target_entity, evaluate(values, target.env(run)), target.source)
            if name is not None:
                target.variables[name] = Bound(target_entity.name, record_id)

        return run_create

    def _for_each(
        self, c: Compiler, spec: dict[str, Any], entity: EntityDef, target_entity: EntityDef, path: tuple[Any, ...]
    ) -> Step | None:
        source = spec["for_each"]
        if isinstance(source, dict):
            selection = compile_selection(c, source, entity, (*path, "for_each"))
            if selection is None:
                return None
            item_type: Any = selection.entity
            items_of: Any = selection.ids
        else:
            try:
                if not isinstance(source, str):
                    raise DslError("for_each takes an expression: child rows (lines), links or a list")
                collection = compile_collection(
                    source,
                    entity,
                    c.catalog,
                    c.functions,
                    where=c.definition.where(*path, "for_each"),
                    variables=c.variables,
                )
            except DslError as exc:
                c.fail(exc.detail.replace("\n", "\n    "), *path, "for_each")
                return None
            item_type = collection.item
            items_of = lambda run, target: collection.values(target.env(run))  # noqa: E731
        outer = c.variables.get("item")
        c.variables["item"] = item_type
        try:
            values = compile_values(c, spec.get("values") or {}, target_entity, entity, (*path, "values"), each=True)
            # which items get a record: a condition that may read $item
            where = c.condition(spec.get("where"), entity, *path, "where", updates=False)
            group_by = times = None
            if "times" in spec:
                source = spec["times"]
                if isinstance(source, str) and source.strip():
                    times = c.expression(source, entity, *path, "times", updates=False)
                else:
                    c.fail("times takes an expression such as '$item.qty'", *path, "times")
            if "group_by" in spec:
                source = spec["group_by"]
                if isinstance(source, str) and source.strip():
                    group_by = c.expression(source, entity, *path, "group_by", updates=False)
                else:
                    c.fail("group_by takes an expression such as '$item.vendor'", *path, "group_by")
        finally:
            if outer is None:
                c.variables.pop("item")
            else:
                c.variables["item"] = outer

        def run_for_each(run: Any, target: Target) -> None:
            saved = {k: target.variables.get(k) for k in ("item", GROUP)}
            try:
                for group in _groups(run, target, items_of(run, target), where, group_by):
                    target.variables.update({"item": group[0], GROUP: group})
                    for _ in range(_copies(times, target.env(run))):
                        run.create(target_entity, evaluate(values, target.env(run)), target.source)
            finally:
                for key, value in saved.items():
                    if value is None:
                        target.variables.pop(key, None)
                    else:
                        target.variables[key] = value

        return run_for_each


#: the most records ``times`` may make per item (a runaway quantity fails the rule)
MAX_COPIES = 1000


def _copies(times: Any, env: Any) -> int:
    """How many records an item gets: 1 without ``times``, else its whole value (empty or
    below 1: none)."""
    if times is None:
        return 1
    value = times.evaluate(env)
    if value is None or isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        return 0
    count = int(value)
    if count > MAX_COPIES:
        raise ActionFailed(f"times gave {count}; a create makes at most {MAX_COPIES} records per item")
    return max(count, 0)


def _groups(run: Any, target: Target, items: list[Any], where: Any, group_by: Any) -> list[list[Any]]:
    """The items ``where`` holds for, one list per distinct ``group_by`` value (first seen
    first), or one list per item without ``group_by``."""
    groups: dict[Any, list[Any]] = {}
    for index, item in enumerate(items):
        target.variables["item"] = item
        env = target.env(run)
        if where is not None and not where.holds(env):
            continue
        key = group_by.evaluate(env) if group_by is not None else index
        groups.setdefault(key if _hashable(key) else repr(key), []).append(item)
    return list(groups.values())


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


class FindOrCreateAction:
    """``find_or_create: {entity: client, match: 'lower(name) == lower($record.company)',
    values: {...}, as: client}``: the first record (oldest first) the match selects, else a
    new one with ``values``. ``match`` may be a list of conditions, tried in order (an explicit
    choice first, then a duplicate check); ``duplicates: true`` then asks the entity's
    duplicate rules about ``values`` (normalised names, e-mails, phones, domains). ``as`` lets
    later steps read the record."""

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if mapping_spec(c, spec, path, "find_or_create") is None:
            return None
        unknown = set(spec) - {"entity", "match", "values", "as", "duplicates"}
        use_rules = spec.get("duplicates", False)
        if unknown or not isinstance(use_rules, bool) or ("match" not in spec and not use_rules):
            c.fail(
                "find_or_create takes entity, match (a condition or a list of them) and/or duplicates: true, "
                "values and as",
                *path,
            )
            return None
        target_entity = c.entity(spec.get("entity"), *path, "entity")
        name = bind_name(c, spec, path)
        if target_entity is None or ("as" in spec and name is None):
            return None
        raw = spec.get("match", [])
        sources = raw if isinstance(raw, list) else [raw]
        where = (*path, "match") if not isinstance(raw, list) else None
        matches = [
            compile_filter(c, source, target_entity, entity, where or (*path, "match", i))
            for i, source in enumerate(sources)
        ]
        values = compile_values(c, spec.get("values") or {}, target_entity, entity, (*path, "values"))
        if (not sources and not use_rules) or any(m is None for m in matches):
            if not sources and not use_rules:
                c.fail("match needs at least one condition", *path, "match")
            return None
        if name is not None:
            c.variables[name] = target_entity

        def run_find_or_create(run: Any, target: Target) -> None:
            env = target.env(run)
            found = None
            for condition in matches:
                ids = run.select_ids(target_entity, condition, outer=env.record, variables=env.vars, limit=1)
                if ids:
                    found = ids[0]
                    break
            new_values = evaluate(values, env)
            if found is None and use_rules:
                found = duplicate_of(run, target_entity, new_values, target.source)
            if found is None:
                found = run.create(target_entity, new_values, target.source)
            if name is not None:
                target.variables[name] = Bound(target_entity.name, found)

        return run_find_or_create


def duplicate_of(run: Any, entity: EntityDef, values: dict[str, Any], source: str) -> str | None:
    """The oldest live record of ``entity`` the entity's duplicate rules (block or warn) find
    for ``values``, as they would when those values were created."""
    from engine.storage.duplicates import DuplicateGuard

    actor = run.system_actor(source)
    guard = DuplicateGuard(run.conn, run.snap, actor, entity, run.now, lambda: run.records._rc(actor, run.snap))
    for rule in guard.compiled.rules:
        if "create" not in rule.events:
            continue
        if not guard.applies(rule, values):
            continue
        for match in guard.find(rule, values):
            if match.entity == entity.name:
                return match.id
    return None


register("create", CreateAction())
register("find_or_create", FindOrCreateAction())
