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

import sqlalchemy as sa
from sqlalchemy.sql.schema import SchemaItem

from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef
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


def _entity_table(entity: EntityDef, metadata: sa.MetaData, catalog: Catalog) -> EntityTables:
    name = entity.name
    items = _system_columns()
    items.append(sa.Index(constraint_name("ix", name, "owner"), "owner"))
    items.append(sa.Index(constraint_name("ix", name, "created_at"), "created_at"))
    items.append(sa.Index(constraint_name("ix", name, "updated_at"), "updated_at"))
    items += _field_columns(entity, name, catalog)
    declared = {str(item.name) for item in items if isinstance(item, sa.Index)}
    for index in entity.indexes:
        index_name = index.name or constraint_name("uq" if index.unique else "ix", name, *index.fields)
        if index_name not in declared:  # a one-field index the field's own options already made
            declared.add(index_name)
            items.append(sa.Index(index_name, *index.fields, unique=index.unique))
    tables = EntityTables(sa.Table(name, metadata, *items))
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


def build_tables(catalog: Catalog) -> Tables:
    metadata = sa.MetaData()
    entities = {e.name: _entity_table(e, metadata, catalog) for e in catalog.entities.values() if not e.child}
    return Tables(metadata, entities)
