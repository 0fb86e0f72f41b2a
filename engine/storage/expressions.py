"""The expressions of an entity, compiled once per metadata snapshot.

Defaults written as ``=expr``, computed fields (virtual: computed on read; ``stored``:
recomputed on every write), validations, ``readonly_if`` and link ``filter`` conditions.
The data-access layer evaluates them; nothing else does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.dsl import Expression, compile_expression
from engine.dsl.functions import FunctionRegistry
from engine.dsl.types import Type, field_type
from engine.errors import DslError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef, Origin, ValidationDef
from engine.meta.problems import Problems


@dataclass
class EntityExpressions:
    defaults: dict[str, Expression] = field(default_factory=dict)
    stored: dict[str, Expression] = field(default_factory=dict)
    virtual: dict[str, Expression] = field(default_factory=dict)
    validations: list[tuple[ValidationDef, Expression]] = field(default_factory=list)
    readonly_if: dict[str, Expression] = field(default_factory=dict)
    #: when a form shows the field (presentation only: the value is kept either way)
    visible_if: dict[str, Expression] = field(default_factory=dict)
    link_filters: dict[str, Expression] = field(default_factory=dict)

    @property
    def on_write(self) -> bool:
        """Does a write need the whole record (with child rows) to evaluate something?"""
        return bool(self.stored or self.validations or self.readonly_if)


def _fits(value: Type, fd: FieldDef) -> bool:
    wanted = field_type(fd)
    if value.kind in ("null", "any") or wanted.kind == "any":
        return True
    if wanted.numeric and value.numeric:
        return wanted.kind == "decimal" or value.kind == "int"
    if wanted.kind == "id" and value.kind in ("id", "string"):
        return value.kind == "string" or value.entity == wanted.entity
    return wanted.kind == value.kind


def compile_entity(
    entity: EntityDef,
    catalog: Catalog,
    functions: FunctionRegistry,
    errors: list[tuple[Origin, DslError]] | None = None,
) -> EntityExpressions:
    """Compile every expression of ``entity``.

    With ``errors`` given, problems are collected there (with the origin of the option)
    and compilation goes on; without, the first problem raises.
    """
    out = EntityExpressions()

    def attempt(origin: Origin, build: Any) -> Expression | None:
        try:
            return build()
        except DslError as exc:
            if errors is None:
                raise
            errors.append((origin, exc))
            return None

    for fd in entity.fields.values():
        where = f"{entity.name}.{fd.name}"
        default = fd.opt("default")
        if isinstance(default, str) and default.startswith("="):
            expr = attempt(
                fd.origin,
                lambda fd=fd, default=default, where=where: _fitting(
                    compile_expression(default[1:], entity, catalog, functions=functions, where=f"{where}.default"),
                    fd,
                    f"{where}.default",
                ),
            )
            if expr is not None:
                out.defaults[fd.name] = expr
        if fd.is_computed:
            expr = attempt(
                fd.origin,
                lambda fd=fd, where=where: _fitting(
                    compile_expression(
                        fd.opt("compute"), entity, catalog, functions=functions, where=f"{where}.compute"
                    ),
                    fd,
                    f"{where}.compute",
                ),
            )
            if expr is not None:
                (out.stored if fd.opt("stored") else out.virtual)[fd.name] = expr
        for option in ("visible_if", "readonly_if"):
            if fd.opt(option):
                expr = attempt(
                    fd.origin,
                    lambda fd=fd, option=option, where=where: compile_expression(
                        fd.opt(option), entity, catalog, functions=functions, where=f"{where}.{option}", expect="bool"
                    ),
                )
                if expr is not None:
                    (out.readonly_if if option == "readonly_if" else out.visible_if)[fd.name] = expr
        if fd.opt("filter") and fd.target and fd.target in catalog.entities:
            expr = attempt(
                fd.origin,
                lambda fd=fd, where=where: compile_expression(
                    fd.opt("filter"),
                    catalog.entities[fd.target or ""],
                    catalog,
                    functions=functions,
                    where=f"{where}.filter",
                    expect="bool",
                    record_entity=entity,
                ),
            )
            if expr is not None:
                out.link_filters[fd.name] = expr
    for index, validation in enumerate(entity.validations):
        expr = attempt(
            validation.origin,
            lambda v=validation, i=index: compile_expression(
                v.when, entity, catalog, functions=functions, where=f"{entity.name}.validations[{i}]", expect="bool"
            ),
        )
        if expr is not None:
            out.validations.append((validation, expr))
    return out


def _fitting(expr: Expression, fd: FieldDef, where: str) -> Expression:
    _require_fit(expr, fd, where)
    return expr


def _require_fit(expr: Expression, fd: FieldDef, where: str) -> None:
    if not _fits(expr.type, fd):
        tree = expr.tree
        from engine.dsl.parser import dsl_error

        raise dsl_error(
            expr.source, tree.line, tree.column, f"gives {expr.type}, but {fd.name} is a field of type {fd.type}", where
        )


def retention_condition(entity: EntityDef, rule: dict[str, Any]) -> str:
    """The DSL condition of a retention rule: its ``when`` and the age of its date field."""
    field_name = rule.get("field", "updated_at")
    fd = entity.fields.get(field_name)
    anchor = "$today" if fd is not None and fd.type == "date" else "$now"
    age = f"{field_name} < {anchor} - {rule['older_than']}"
    return f"({rule['when']}) and {age}" if rule.get("when") else age


def check_catalog_expressions(catalog: Catalog, functions: FunctionRegistry, problems: Problems) -> None:
    """Report every expression error of the catalog (``tessera check`` and start-up)."""
    for entity in catalog.entities.values():
        errors: list[tuple[Origin, DslError]] = []
        compile_entity(entity, catalog, functions, errors)
        for rule in entity.retention:  # checked now, not on the night it first runs
            try:
                compile_expression(
                    retention_condition(entity, rule),
                    entity,
                    catalog,
                    functions=functions,
                    where=f"{entity.name}.retention.{rule['name']}",
                    sql=True,
                    expect="bool",
                )
            except DslError as rule_error:
                errors.append((entity.origin, rule_error))
        errors += duplicate_rule_errors(entity, catalog, functions)
        board_filter = (entity.board or {}).get("filter")
        if board_filter:  # a list filter of the UI's board: it must run in SQL
            try:
                compile_expression(
                    board_filter,
                    entity,
                    catalog,
                    functions=functions,
                    where=f"{entity.name}.board.filter",
                    sql=True,
                    expect="bool",
                )
            except DslError as board_error:
                errors.append((entity.origin, board_error))
        for role, grant in entity.permissions.items():
            if not isinstance(grant, dict):
                continue
            for name in grant.get("fields", {}) or {}:
                if name not in entity.fields:
                    problems.add(
                        str(entity.origin), f"{entity.name}: permissions of {role} name an unknown field {name!r}"
                    )
            if grant.get("where"):
                try:
                    compile_expression(
                        grant["where"],
                        entity,
                        catalog,
                        functions=functions,
                        where=f"{entity.name}.permissions.{role}.where",
                        sql=True,
                        expect="bool",
                    )
                except DslError as rule_error:
                    errors.append((entity.origin, rule_error))
        for origin, error in errors:
            problems.add(
                str(origin), error.detail.replace("\n", "\n    "), error.errors[0].field if error.errors else ""
            )


def duplicate_rule_errors(
    entity: EntityDef, catalog: Catalog, functions: FunctionRegistry
) -> list[tuple[Origin, DslError]]:
    """The expressions of duplicate rules: ``when`` on the record, scope ``filter`` on the
    candidates (SQL), ``region`` on settings records (engine.storage.duplicates)."""
    found: list[tuple[Origin, DslError]] = []
    for rule in entity.duplicates:
        checks: list[tuple[str | None, EntityDef | None, str, bool]] = [(rule.when, entity, "when", False)]
        checks += [(s.filter, catalog.entities.get(s.entity), f"scope.{s.entity}.filter", True) for s in rule.scope]
        checks += [
            (k.region[1:] if k.region and k.region.startswith("=") else None, entity, "region", False)
            for k in rule.keys
        ]
        for source, target, where, sql in checks:
            if not source or target is None:
                continue
            try:
                compile_expression(
                    source,
                    target,
                    catalog,
                    functions=functions,
                    where=f"{entity.name}.duplicates.{rule.name}.{where}",
                    sql=sql,
                    expect=None if where == "region" else "bool",
                )
            except DslError as error:
                found.append((rule.origin, error))
    return found
