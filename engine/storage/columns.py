"""Column types for field types: one real, typed column per stored field."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from engine.meta.model import FieldDef
from engine.storage.ids import ID_LENGTH


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Datetimes stored as naive UTC on every backend, returned timezone-aware (UTC).

    Storing the same representation everywhere keeps comparisons and sorting identical on
    SQLite (which has no time zones) and PostgreSQL.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text from an expression column
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=dt.UTC)


class ExactDecimal(sa.TypeDecorator[Decimal]):
    """NUMERIC on PostgreSQL; on SQLite (which stores REAL) the float is read back through
    its shortest representation, so 12.7 comes back as 12.7 and not 12.699999999."""

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int):
        super().__init__(precision, scale)
        self.precision, self.scale = precision, scale

    def load_dialect_impl(self, dialect: Any) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Numeric(self.precision, self.scale, asdecimal=False))
        return dialect.type_descriptor(sa.Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is not None and dialect.name == "sqlite":
            return float(value)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


JSON_TYPE = sa.JSON().with_variant(JSONB(), "postgresql")
#: a field's JSON column: a null value is SQL NULL (not the JSON text ``null``), so that a
#: filter's ``specs == null`` (``IS NULL``) agrees with Python
FIELD_JSON_TYPE = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def id_type() -> sa.String:
    return sa.String(ID_LENGTH)


def column_type(field: FieldDef) -> sa.types.TypeEngine[Any]:
    """The SQL type of a stored field (see docs/metadata.md for the table)."""
    t = field.type
    if t in ("string", "email", "phone", "url", "enum", "autonumber", "file"):
        return sa.String(field.max_length)
    if t in ("text", "secret"):
        return sa.Text()
    if t in ("int", "duration"):
        return sa.BigInteger()
    if t == "rating":
        return sa.SmallInteger()
    if t in ("decimal", "money", "percent"):
        return ExactDecimal(18 if t != "percent" else 9, field.scale)
    if t == "bool":
        return sa.Boolean(create_constraint=False)
    if t == "date":
        return sa.Date()
    if t == "datetime":
        return UTCDateTime()
    if t in ("json", "multi_enum"):
        return FIELD_JSON_TYPE
    if t in ("link", "user", "team"):
        return id_type()
    raise ValueError(f"field type {t!r} has no column")
