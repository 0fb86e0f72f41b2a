"""SQL tables derived from a Catalog: one per entity, one per table field, one per links field.

Naming: an entity's table is its name; a ``table`` field ``lines`` of ``quote`` lives in
``quote__lines`` (parent key ``parent_id``, order ``position``); a ``links`` field
``competitors`` of ``opportunity`` lives in ``opportunity__competitors`` (``source_id``,
``target_id``, ``position``). Indexes are explicit ``sa.Index`` objects with stable names
so that schema diffs compare like with like.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.schema import SchemaItem

from engine.errors import DslError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef, IndexDef
from engine.meta.problems import Problems
from engine.storage import partial_index, search
from engine.storage.columns import UTCDateTime, column_type, id_type

MAX_NAME = 63


def constraint_name(prefix: str, *parts: str) -> str:
    name = "_".join((prefix, *parts))
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]  # a name, not a secret
    return f"{name[: MAX_NAME - 9]}_{digest}"


@dataclass
class EntityTables:
    main: sa.Table
    children: dict[str, sa.Table] = field(default_factory=dict)  # table field -> child table
    joins: dict[str, sa.Table] = field(default_factory=dict)  # links field -> join table


@dataclass
class Tables:
    metadata: sa.MetaData
    entities: dict[str, EntityTables]
    #: trigram indexes of global search: name -> (table, column) (``engine.storage.search``)
    search: dict[str, tuple[str, str]] = field(default_factory=dict)

    def main(self, entity: str) -> sa.Table:
        return self.entities[entity].main


def _field_columns(entity: EntityDef, table_name: str, catalog: Catalog) -> list[SchemaItem]:
    items: list[SchemaItem] = []
    for f in entity.column_fields():
        args: list[SchemaItem] = []
        if f.target is not None:
            args.append(sa.ForeignKey(f"{f.target}.id", name=constraint_name("fk", table_name, f.name)))
        items.append(sa.Column(f.name, column_type(f), *args, nullable=True))
        if f.unique:
            items.append(sa.Index(constraint_name("uq", table_name, f.name), f.name, unique=True))
        elif f.target is not None or f.opt("index") or f.type == "enum":
            items.append(sa.Index(constraint_name("ix", table_name, f.name), f.name))
    return items


def _system_columns() -> list[SchemaItem]:
    return [
        sa.Column("id", id_type(), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", id_type()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", id_type()),
        sa.Column("owner", id_type()),
        sa.Column("deleted_at", UTCDateTime()),
        sa.Column("deleted_by", id_type()),
    ]


class DescNullsLast(UnaryExpression[Any]):
    """An index column sorted ``DESC NULLS LAST``, the order of a descending list (the engine
    puts empty values last both ways). SQLite sorts nulls last in descending order anyway and
    refuses the clause in an index, so it gets a plain ``DESC``."""

    inherit_cache = True

    def __init__(self, column: sa.ColumnElement[Any]) -> None:
        super().__init__(column.desc(), modifier=operators.nulls_last_op)


@compiles(DescNullsLast, "sqlite")
def _desc_on_sqlite(element: DescNullsLast, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.element, **kw))


def sort_index(entity: EntityDef) -> IndexDef | None:
    """The index of the entity's default list order (its sort field, then ``id`` for ties),
    so the first page of a list is read in index order however large the table."""
    sort = entity.default_sort
    if not sort or sort.lstrip("-") not in entity.fields:
        return None  # a system column: indexed already, and rarely tied
    return IndexDef("", (sort, "-id" if sort.startswith("-") else "id"))


def _add_index(table: sa.Table, index: IndexDef, declared: dict[str, tuple[str, ...]], **options: Any) -> None:
    """Attach ``index`` unless an index of that name or those columns exists already (a
    field's own ``index: true`` makes the one-field ones); ``options`` are a partial index's
    conditions (``engine.storage.partial_index``)."""
    terms: list[Any] = []
    for column_name, descending in index.columns:
        column = table.c[column_name]
        terms.append((DescNullsLast(column) if column.nullable else column.desc()) if descending else column)
    parts = [f"{c}_desc" if d else c for c, d in index.columns]
    name = index.name or constraint_name(
        "uq" if index.unique else "ix", table.name, *parts, *partial_index.suffix(index)
    )
    key = (*(str(term) for term in terms), *partial_index.suffix(index))
    if name in declared or (not index.unique and key in declared.values()):
        return
    declared[name] = key
    sa.Index(name, *terms, unique=index.unique, **options)


def _entity_table(entity: EntityDef, metadata: sa.MetaData, catalog: Catalog) -> EntityTables:
    name = entity.name
    items = _system_columns()
    items.append(sa.Index(constraint_name("ix", name, "owner"), "owner"))
    items.append(sa.Index(constraint_name("ix", name, "created_at"), "created_at"))
    items.append(sa.Index(constraint_name("ix", name, "updated_at"), "updated_at"))
    items += _field_columns(entity, name, catalog)
    table = sa.Table(name, metadata, *items)
    declared = {str(ix.name): tuple(str(e) for e in ix.expressions) for ix in table.indexes}
    sort = sort_index(entity)
    for index in (*entity.indexes, *([sort] if sort else [])):
        if not index.where:  # partial ones once every table exists: build_tables
            _add_index(table, index, declared)
    tables = EntityTables(table)
    for f in entity.fields.values():
        if f.type == "table":
            tables.children[f.name] = _child_table(entity, f, catalog.entities[f.opt("of")], metadata, catalog)
        elif f.type == "links":
            tables.joins[f.name] = _join_table(entity, f, metadata)
    return tables


def _child_table(parent: EntityDef, f: FieldDef, child: EntityDef, metadata: sa.MetaData, catalog: Catalog) -> sa.Table:
    name = f"{parent.name}__{f.name}"
    items: list[SchemaItem] = [
        sa.Column("id", id_type(), primary_key=True),
        sa.Column(
            "parent_id",
            id_type(),
            sa.ForeignKey(f"{parent.name}.id", name=constraint_name("fk", name, "parent"), ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Index(constraint_name("ix", name, "parent"), "parent_id", "position"),
    ]
    items += _field_columns(child, name, catalog)
    return sa.Table(name, metadata, *items)


def _join_table(source: EntityDef, f: FieldDef, metadata: sa.MetaData) -> sa.Table:
    name = f"{source.name}__{f.name}"
    return sa.Table(
        name,
        metadata,
        sa.Column(
            "source_id",
            id_type(),
            sa.ForeignKey(f"{source.name}.id", name=constraint_name("fk", name, "source"), ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "target_id",
            id_type(),
            sa.ForeignKey(f"{f.target}.id", name=constraint_name("fk", name, "target"), ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Index(constraint_name("ix", name, "target"), "target_id"),
    )


def build_tables(catalog: Catalog, problems: Problems | None = None) -> Tables:
    """The tables of ``catalog``. A partial index whose condition cannot be one is reported
    to ``problems`` (and left out), or without them raises ``MetadataError``."""
    metadata = sa.MetaData()
    entities = {e.name: _entity_table(e, metadata, catalog) for e in catalog.entities.values() if not e.child}
    tables = Tables(metadata, entities, search.wanted(catalog))
    refused = problems if problems is not None else Problems()
    for name, entity_tables in entities.items():
        entity = catalog.entities[name]
        table = entity_tables.main
        declared = {str(ix.name): tuple(str(e) for e in ix.expressions) for ix in table.indexes}
        for index in entity.indexes:
            if index.where:
                try:
                    _add_index(table, index, declared, **partial_index.predicates(tables, catalog, entity, index))
                except DslError as exc:
                    refused.add(str(entity.origin), partial_index.problem(entity, index, exc))
    if problems is None:
        refused.raise_if_any("The packs' index conditions are invalid")
    return tables
