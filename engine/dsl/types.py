"""Types of expression values.

Field types collapse onto a few value types: every text-like field is ``string`` (an
enum keeps its options for checking literals), money and percent are ``decimal``, links
are ``id`` of their target entity. A path through a table or links field names *many*
values and may only be used inside an aggregate (``sum``, ``count``...).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.meta.model import FieldDef


@dataclass(frozen=True)
class Type:
    kind: str  # string int decimal bool date datetime duration id list null any record
    entity: str | None = None  # id and record: which entity
    options: tuple[str, ...] | None = None  # enum values of a string
    item: Type | None = None  # list: the item type
    many: bool = False  # a to-many path: only usable in aggregates

    def __str__(self) -> str:
        if self.kind == "list" and self.item is not None:
            text = f"list of {self.item}"
        elif self.kind in ("id", "record") and self.entity:
            text = f"{'link to' if self.kind == 'id' else 'record of'} {self.entity}"
        else:
            text = self.kind
        return f"many {text}" if self.many else text

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "decimal")

    def one(self) -> Type:
        return Type(self.kind, self.entity, self.options, self.item)

    def as_many(self) -> Type:
        return Type(self.kind, self.entity, self.options, self.item, True)


STRING = Type("string")
INT = Type("int")
DECIMAL = Type("decimal")
BOOL = Type("bool")
DATE = Type("date")
DATETIME = Type("datetime")
DURATION = Type("duration")
NULL = Type("null")
ANY = Type("any")

_FIELD_TYPES = {
    "string": STRING,
    "text": STRING,
    "email": STRING,
    "phone": STRING,
    "url": STRING,
    "file": STRING,
    "autonumber": STRING,
    "int": INT,
    "rating": INT,
    "decimal": DECIMAL,
    "money": DECIMAL,
    "percent": DECIMAL,
    "bool": BOOL,
    "date": DATE,
    "datetime": DATETIME,
    "duration": DURATION,
    "json": ANY,
}


def field_type(fd: FieldDef) -> Type:
    """The value type of a field (for table and links fields: the type of one row/target)."""
    if fd.type == "enum":
        return Type("string", options=tuple(o.value for o in fd.enum_options))
    if fd.type == "multi_enum":
        return Type("list", item=Type("string", options=tuple(o.value for o in fd.enum_options)))
    if fd.target is not None:
        return Type("id", entity=fd.target)
    if fd.type == "table":
        return Type("record", entity=fd.opt("of"))
    return _FIELD_TYPES.get(fd.type, ANY)


def comparable(a: Type, b: Type) -> bool:
    """May values of these types be compared with == and !=?"""
    if a.kind == "null" or b.kind == "null" or a.kind == "any" or b.kind == "any":
        return True
    if a.numeric and b.numeric:
        return True
    if a.kind in ("id", "record") and b.kind in ("id", "record"):
        return a.entity == b.entity or a.entity is None or b.entity is None
    return a.kind == b.kind


def ordered(a: Type, b: Type) -> bool:
    """May values of these types be compared with < <= > >=?"""
    if a.kind in ("null", "any") or b.kind in ("null", "any"):
        return True
    if a.numeric and b.numeric:
        return True
    return a.kind == b.kind and a.kind in ("string", "date", "datetime", "duration")
