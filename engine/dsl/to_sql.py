"""Compiling a checked tree into a SQLAlchemy expression over an entity's table.

Paths through links become correlated scalar subqueries (``account.tier`` reads the tier
of the row's account); aggregates over child rows and links become correlated aggregate
subqueries. ``== null`` is ``IS NULL``; every other comparison with a null is unknown, as
in SQL, which is also the rule of the Python form.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from engine.dsl import nodes as n
from engine.dsl import sqlparts as sp
from engine.dsl.checker import Step
from engine.dsl.functions import switch_parts
from engine.dsl.sqlparts import SqlContext, SqlValue
from engine.storage.columns import UTCDateTime

if TYPE_CHECKING:  # the tables module compiles partial indexes' conditions with this one
    from engine.storage.tables import Tables


class SqlCompiler:
    def __init__(self, tables: Tables, ctx: SqlContext, table: Any, entity: str):
        self.tables = tables
        self.ctx = ctx
        self.table = table  # the (possibly aliased) table of the record being filtered
        self.entity = entity
        self.row_table: Any = None  # inside an aggregate condition: the row table
        self.row_entity: str | None = None
        #: count_where() evaluated for a record in memory: its values are constants (ctx.outer)
        self.record_constant = False

    def compile(self, node: n.Node) -> SqlValue:
        if self.record_constant and _reads_record_only(node):
            value = SqlValue(self._constant(node))
            value.is_date = node.type is not None and node.type.kind == "date"
            return value
        value = getattr(self, f"_c_{type(node).__name__}")(node)
        value.is_date = node.type is not None and node.type.kind == "date"
        return value

    # --- leaves ------------------------------------------------------------------------
    def _c_Literal(self, node: n.Literal) -> SqlValue:
        if node.kind == "null":
            return SqlValue(sa.null())
        if node.kind == "datetime":
            return SqlValue(sp.datetime_param(node.value))
        if node.kind == "date":
            return SqlValue(sa.literal(node.value, sa.Date))
        if node.kind == "decimal":
            return SqlValue(sa.literal(node.value, sa.Numeric(38, 10)))
        if node.kind == "int" or node.kind == "duration":
            if not -(2**63) <= node.value < 2**63:  # whole numbers have any size: beyond 64 bits, a numeric
                return SqlValue(sa.literal(Decimal(node.value), sa.Numeric(65, 0)))
            return SqlValue(sa.literal(node.value, sa.BigInteger))
        if node.kind == "bool":
            return SqlValue(sa.true() if node.value else sa.false())
        return SqlValue(sa.literal(node.value, sa.String))

    def _c_ListLiteral(self, node: n.ListLiteral) -> SqlValue:
        return SqlValue([self.compile(item).expr for item in node.items])

    def _alias(self, entity: str, *names: str) -> Any:
        """An alias of ``entity``'s main table with ``id`` and the columns named, only: an alias
        of the whole table makes a proxy of every column, a millisecond for a wide table, and
        permission predicates follow paths like ``owner.team`` in every list query."""
        table = self.tables.main(entity)
        columns = [sa.column(name, table.c[name].type) for name in dict.fromkeys(("id", "deleted_at", *names))]
        return sa.table(table.name, *columns, schema=table.schema).alias()

    def _read(self, table: Any, entity: str, steps: list[Step]) -> Any:
        """Value at the end of ``steps`` starting from ``table``'s current row. A link to a
        record in the trash, or (``ctx.link_scope``) to one the reader may not read, reads
        as null, as in Python."""
        column = table.c[steps[0].field.name]
        for step in steps[1:]:
            scope = self.ctx.link_scope
            target = self.tables.main(step.entity).alias() if scope else self._alias(step.entity, step.field.name)
            conditions = [target.c.id == column, target.c.deleted_at.is_(None)]
            visible = scope(step.entity, target) if scope else None
            if visible is not None:
                conditions.append(visible)
            column = sa.select(target.c[step.field.name]).where(*conditions).scalar_subquery()
        return column

    def _c_Path(self, node: n.Path) -> SqlValue:
        if node.root == "now":
            return SqlValue(sp.datetime_param(self.ctx.now))
        if node.root == "today":
            return SqlValue(sa.literal(self.ctx.today, sa.Date))
        if node.root == "user":
            if not node.steps:
                return SqlValue(sa.literal(self.ctx.user_id, sa.String))
            users = self._alias("user", node.steps[0].field.name)
            query = sa.select(self._read(users, "user", node.steps)).where(users.c.id == self.ctx.user_id)
            return SqlValue(query.scalar_subquery())
        if node.root == "old":
            raise AssertionError("old.* never reaches SQL")
        if node.root in ("outer", "var", "value"):
            # a value of the record being edited, or an automation variable: a constant here
            return SqlValue(self._constant(node))
        if node.root == "single":  # the oldest live record of a singleton entity
            single = self._alias(node.var, "deleted_at", node.steps[0].field.name)
            first = sa.select(single.c.id).where(single.c.deleted_at.is_(None)).order_by(single.c.id).limit(1)
            query = sa.select(self._read(single, node.var, node.steps)).where(single.c.id == first.scalar_subquery())
            return SqlValue(query.scalar_subquery())
        table = self.row_table if node.root == "row" else self.table
        if not node.steps:
            return SqlValue(table.c.id)
        return SqlValue(self._read(table, "", node.steps))

    def _constant(self, node: n.Node) -> Any:
        """The value of a variable path, evaluated in Python against ``ctx.outer`` (whose
        ``vars`` hold the variables), as a typed SQL literal."""
        from engine.dsl.to_python import compile_to_python

        value = compile_to_python(node)(self.ctx.outer) if self.ctx.outer is not None else None
        kind = node.type.kind if node.type is not None else ""
        if kind == "datetime":
            return sa.literal(value, UTCDateTime())
        if kind in ("list", "any", "json") and value is not None:
            return sa.literal(value)
        # typed, so that PostgreSQL knows the type of a null parameter (``:p IS NULL``)
        return sa.literal(value, _CONSTANT_TYPES.get(kind, sa.String)())

    # --- operators ---------------------------------------------------------------------
    def _c_Unary(self, node: n.Unary) -> SqlValue:
        operand = self.compile(node.operand)
        if node.op == "not":
            return SqlValue(sa.not_(operand.expr))
        return SqlValue(-operand.expr, operand.epoch)

    def _c_Binary(self, node: n.Binary) -> SqlValue:
        op = node.op
        if op in ("and", "or"):
            left, right = self.compile(node.left), self.compile(node.right)
            return SqlValue((sa.and_ if op == "and" else sa.or_)(left.expr, right.expr))
        if op in ("==", "!=") and (_is_null(node.left) or _is_null(node.right)):
            other = self.compile(node.right if _is_null(node.left) else node.left)
            return SqlValue(other.expr.is_(None) if op == "==" else other.expr.is_not(None))
        if op in ("in", "not_in"):
            return self._membership(node)
        left, right = self.compile(node.left), self.compile(node.right)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return SqlValue(self._compare(node, op, left, right))
        if op == "~":
            return SqlValue(sp.contains(self.ctx, left.expr, right.expr, _string_literal(node.right)))
        return self._arithmetic(node, op, left, right)

    def _compare(self, node: n.Binary, op: str, left: SqlValue, right: SqlValue) -> Any:
        lk = node.left.type.kind if node.left.type else ""
        rk = node.right.type.kind if node.right.type else ""
        a, b = left.expr, right.expr
        if op not in ("==", "!=") and "null" in (_literal_kind(node.left), _literal_kind(node.right)):
            return sa.cast(sa.null(), sa.Boolean)  # ordered against null: unknown, as in Python
        if "datetime" in (lk, rk) and (left.epoch or right.epoch):
            a, b = sp.epoch(self.ctx, left), sp.epoch(self.ctx, right)
        elif lk == rk == "string" and op not in ("==", "!=") and self.ctx.dialect == "postgresql":
            a, b = a.collate("C"), b.collate("C")  # code-point order, as Python compares
        if "bool" in (lk, rk):
            flag = _bool_literal(node.right if isinstance(a, sa.Column) else node.left)
            column = a if isinstance(a, sa.Column) else b if isinstance(b, sa.Column) else None
            if op in ("==", "!=") and column is not None and flag is not None:
                # ``done == false`` stays a plain comparison, which an index on the column can serve
                return column == flag if op == "==" else column != flag
            a, b = sa.cast(a, sa.Integer), sa.cast(b, sa.Integer)
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]

    def _membership(self, node: n.Binary) -> SqlValue:
        left = self.compile(node.left)
        right_type = node.right.type
        negate = node.op == "not_in"
        if isinstance(node.right, n.ListLiteral):
            items = self.compile(node.right).expr
            if not items:
                return SqlValue(sa.true() if negate else sa.false())
            condition = left.expr.in_(items) if not negate else left.expr.not_in(items)
            if any(_is_null(i) for i in node.right.items):
                # SQL's IN with a NULL item: true on a match, else unknown
                others = [self.compile(i).expr for i in node.right.items if not _is_null(i)]
                match = left.expr.in_(others) if others else sa.false()
                condition = sa.case((match, sa.literal(not negate)), else_=sa.null())
            return SqlValue(condition)
        if (
            right_type is not None
            and right_type.many
            and (_constant_root(node.right) or (self.record_constant and _reads_record_only(node.right)))
        ):
            from engine.dsl.to_python import PythonCompiler

            many = PythonCompiler()._many_values(node.right)
            found = [v for v in (many(self.ctx.outer) if self.ctx.outer is not None else []) if v is not None]
            if not found:
                return SqlValue(sa.true() if negate else sa.false())
            return SqlValue(left.expr.not_in(found) if negate else left.expr.in_(found))
        if right_type is not None and right_type.many:
            subquery = self._many_subquery(node.right, values=True)
            return SqlValue(left.expr.not_in(subquery) if negate else left.expr.in_(subquery))
        # a multi_enum (JSON list) column
        return SqlValue(self._json_contains(self.compile(node.right).expr, left.expr, negate))

    def _json_contains(self, column: Any, value: Any, negate: bool) -> Any:
        hit: Any
        if self.ctx.dialect == "postgresql":
            hit = sa.func.jsonb_exists(sa.cast(column, sa.dialects.postgresql.JSONB), value)
        else:
            each = sa.func.json_each(column).table_valued("value").alias()
            hit = sa.exists(sa.select(sa.literal(1)).select_from(each).where(each.c.value == value))
        condition = sa.case((column.is_(None), sa.null()), (value.is_(None), sa.null()), else_=hit)
        return sa.not_(condition) if negate else condition

    def _arithmetic(self, node: n.Binary, op: str, left: SqlValue, right: SqlValue) -> SqlValue:
        lk = node.left.type.kind if node.left.type else ""
        rk = node.right.type.kind if node.right.type else ""
        ctx = self.ctx
        if op in ("+", "-") and lk == "date" and rk == "duration":
            days = (
                sp.trunc(ctx, right.expr / 86400.0) if ctx.dialect == "sqlite" else sa.func.trunc(right.expr / 86400.0)
            )
            return SqlValue(sp.add_days(ctx, left.expr, days if op == "+" else -days))
        if op == "+" and lk == "duration" and rk == "date":
            return SqlValue(sp.add_days(ctx, right.expr, sp.trunc(ctx, left.expr / 86400.0)))
        if op in ("+", "-") and lk == "datetime" and rk == "duration":
            seconds = sp.epoch(ctx, left)
            return SqlValue(seconds + right.expr if op == "+" else seconds - right.expr, epoch=True)
        if op == "+" and lk == "duration" and rk == "datetime":
            return SqlValue(sp.epoch(ctx, right) + left.expr, epoch=True)
        if op == "-" and lk == rk == "date":
            return SqlValue((sp.day_number(ctx, left.expr) - sp.day_number(ctx, right.expr)) * 86400)
        if op == "-" and lk == rk == "datetime":
            return SqlValue(sp.epoch(ctx, left) - sp.epoch(ctx, right))
        a, b = left.expr, right.expr
        if op == "/":
            return SqlValue(sp.to_decimal(ctx, a) / sa.func.nullif(sp.to_decimal(ctx, b), 0))
        if op == "%":
            return SqlValue(a % sa.func.nullif(b, 0))
        if "decimal" in (lk, rk) and ctx.dialect == "postgresql":
            a, b = sp.to_decimal(ctx, a), sp.to_decimal(ctx, b)
        return SqlValue({"+": a + b, "-": a - b, "*": a * b}[op])

    # --- calls --------------------------------------------------------------------------
    def _c_Call(self, node: n.Call) -> SqlValue:
        if node.function == "count_where":
            counted = node.args[0].var  # type: ignore[attr-defined]
            rows = self.tables.main(counted).alias()
            return SqlValue(count_where_query(self, rows, counted, node.args[1]).scalar_subquery())
        if isinstance(node.function, str):
            return self._aggregate(node)
        function = node.function
        if function.name == "switch":
            return self._switch(node)
        args = [self.compile(arg) for arg in node.args]
        return function.sql(self.ctx, *args)

    def _switch(self, node: n.Call) -> SqlValue:
        """A searched CASE whose tests are the DSL's ``==`` (a null value matches no case)."""
        value = self.compile(node.args[0])
        pairs, default, _ = switch_parts(node.args)
        tests, results = [], []
        for case, result in pairs:
            test = n.Binary(case.line, case.column, "==", node.args[0], case)
            tests.append(self._compare(test, "==", value, self.compile(case)))
            results.append(self.compile(result))
        if default is not None:
            results.append(self.compile(default))
        epoch = any(r.epoch for r in results)
        exprs = [sp.epoch(self.ctx, r) if epoch and r.expr is not None else r.expr for r in results]
        if node.type is not None and node.type.kind == "decimal" and self.ctx.dialect == "postgresql":
            exprs = [sp.to_decimal(self.ctx, e) for e in exprs]
        else_ = exprs[-1] if default is not None else sa.null()
        whens = list(zip(tests, exprs[: len(tests)], strict=True))
        return SqlValue(sa.case(*whens, else_=else_), epoch=epoch)

    def _many_subquery(
        self, path: n.Node, values: bool, condition: n.Node | None = None, aggregate: str | None = None
    ) -> Any:
        assert isinstance(path, n.Path)
        steps = path.steps
        index = next(i for i, s in enumerate(steps) if s.field.type in ("table", "links"))
        before, many, after = steps[:index], steps[index], steps[index + 1 :]
        outer = self.row_table if path.root == "row" else self.table
        # the record owning the rows: this one, or one reached first (account.contacts...)
        owner_id = self._read(outer, "", before) if before else outer.c.id
        if many.field.type == "table":
            rows = self.tables.entities[many.entity].children[many.field.name].alias()
            link_filter = rows.c.parent_id == owner_id
            row_entity = many.field.opt("of")
        else:
            join = self.tables.entities[many.entity].joins[many.field.name].alias()
            rows = self.tables.main(many.field.target or "").alias()
            link_filter = sa.and_(
                join.c.source_id == owner_id, join.c.target_id == rows.c.id, rows.c.deleted_at.is_(None)
            )
            row_entity = many.field.target
        value = self._read(rows, row_entity or "", after) if after else rows.c.id
        conditions = [link_filter]
        if condition is not None:
            saved = self.row_table, self.row_entity
            self.row_table, self.row_entity = rows, row_entity
            conditions.append(self.compile(condition).expr)
            self.row_table, self.row_entity = saved
        if aggregate is None:
            return sa.select(value).where(*conditions)
        return value, conditions

    def _aggregate(self, node: n.Call) -> SqlValue:
        name = node.function
        condition = node.args[1] if len(node.args) > 1 else None
        value, conditions = self._many_subquery(node.args[0], True, condition, aggregate=name)
        if name == "count":
            expr = sa.select(sa.func.count()).where(*conditions)
            return SqlValue(expr.scalar_subquery())
        if name == "sum":
            return SqlValue(sa.func.coalesce(sa.select(sa.func.sum(value)).where(*conditions).scalar_subquery(), 0))
        if name == "avg":
            return SqlValue(sa.select(sa.func.avg(sp.to_decimal(self.ctx, value))).where(*conditions).scalar_subquery())
        func = sa.func.min if name == "min" else sa.func.max
        if node.type is not None and node.type.kind == "string" and self.ctx.dialect == "postgresql":
            value = value.collate("C")
        return SqlValue(sa.select(func(value)).where(*conditions).scalar_subquery())


def count_where_query(compiler: SqlCompiler, rows: Any, counted: str, condition: n.Node) -> Any:
    """``SELECT count(*)`` of the live ``rows`` (of entity ``counted``) matching ``condition``,
    whose bare names are row fields and whose ``$record`` is ``compiler``'s record."""
    saved = compiler.row_table, compiler.row_entity
    compiler.row_table, compiler.row_entity = rows, counted
    try:
        where = compiler.compile(condition).expr
    finally:
        compiler.row_table, compiler.row_entity = saved
    return sa.select(sa.func.count()).select_from(rows).where(rows.c.deleted_at.is_(None), where)


def count_where_in_memory(tables: Tables, ctx: SqlContext, counted: str, condition: n.Node) -> Any:
    """The count_where() query for the record of ``ctx.outer`` (an Env), which may not be
    stored yet: its values enter the query as parameters."""
    compiler = SqlCompiler(tables, ctx, None, "")
    compiler.record_constant = True
    return count_where_query(compiler, tables.main(counted).alias(), counted, condition)


def _reads_record_only(node: n.Node) -> bool:
    """A path (or an aggregate over one) read from the record itself, not from a row."""
    if isinstance(node, n.Call) and isinstance(node.function, str) and node.function != "count_where":
        node = node.args[0]
    return isinstance(node, n.Path) and node.root == "record"


_CONSTANT_TYPES: dict[str, Any] = {
    "int": sa.BigInteger,
    "duration": sa.BigInteger,
    "decimal": lambda: sa.Numeric(38, 10),
    "bool": sa.Boolean,
    "date": sa.Date,
}


def _constant_root(node: n.Node) -> bool:
    """A path read from the trigger record or a variable: one value for the whole query."""
    return isinstance(node, n.Path) and node.root in ("outer", "var", "value")


def _is_null(node: n.Node) -> bool:
    return isinstance(node, n.Literal) and node.kind == "null"


def _string_literal(node: n.Node) -> str | None:
    return node.value if isinstance(node, n.Literal) and node.kind == "string" else None


def _bool_literal(node: n.Node) -> bool | None:
    return bool(node.value) if isinstance(node, n.Literal) and node.kind == "bool" else None


def compile_to_sql(tree: n.Node, tables: Tables, ctx: SqlContext, table: Any, entity: str) -> Any:
    """The SQLAlchemy expression of ``tree`` for rows of ``table`` (entity ``entity``)."""
    value = SqlCompiler(tables, ctx, table, entity).compile(tree)
    return value.expr


__all__ = ["UTCDateTime", "compile_to_sql", "count_where_in_memory"]


def _literal_kind(node: n.Node) -> str | None:
    return node.kind if isinstance(node, n.Literal) else None
