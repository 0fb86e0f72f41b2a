"""References in a file: "ACME GmbH" in an ``account`` column becomes that account's id.

A cell matches a record of the target entity by its id, its title field, or any unique
text field (an external id, a code, a user's e-mail); a mapping ``account.code`` matches
only by ``code``. Only records the importing user may read are candidates, and only by
fields they may read, so an import cannot link to (or learn of) a record or a value its
user cannot see. Cells are looked up once per
batch, a few hundred values per query, never one query per row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.dataio.mapping import Column, MappingError
from engine.meta.model import EntityDef
from engine.storage.columns import UTCDateTime
from engine.storage.ids import is_id

#: field types compared as text
TEXT_TYPES = frozenset({"string", "email", "phone", "url", "enum", "autonumber"})
CHUNK = 500


class LinkResolver:
    """Raw cell text -> ids of the readable records it names, for one reference column."""

    def __init__(self, snap: Any, rc: Any, column: Column):
        self.snap, self.rc, self.column = snap, rc, column
        target_name = column.field.target
        assert target_name is not None
        # only fields the importer may read match (else a cell could test a hidden value)
        catalog = snap.catalog if rc.access is None else rc.access.visible_catalog()
        target = catalog.entities.get(target_name)
        if target is None:
            raise MappingError(f"{column.header!r} names {target_name} records, which you may not read")
        self.target: EntityDef = target
        self.table = snap.tables.main(target_name)
        self.fields = self._match_fields(column.by)

    def _match_fields(self, by: str | None) -> list[str]:
        target = self.target
        if by is not None:
            if by == "id":
                return ["id"]
            fd = target.fields.get(by)
            if fd is None or not fd.has_column:
                raise MappingError(f"{target.name} has no stored field {by!r} to match {self.column.header!r} by")
            return [by]
        names = ["id"]
        title = target.title_field
        if title in self.table.c and (fd := target.fields.get(title)) is not None and fd.type in TEXT_TYPES:
            names.append(title)
        for fd in target.fields.values():
            if fd.has_column and fd.type in TEXT_TYPES and (fd.unique or fd.name == "email") and fd.name not in names:
                names.append(fd.name)
        return names

    def describe(self) -> str:
        return " or ".join(self.fields)

    def resolve(self, conn: Connection, raws: set[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {raw: set() for raw in raws}
        values = sorted(raws)
        for start in range(0, len(values), CHUNK):
            chunk = values[start : start + CHUNK]
            ids = [v for v in chunk if is_id(v)]
            terms = []
            for name in self.fields:
                col = self.table.c[name]
                if name == "id":
                    if ids:
                        terms.append(col.in_(ids))
                elif self._is_email(name):
                    terms.append(sa.func.lower(col).in_([v.lower() for v in chunk]))
                else:
                    terms.append(col.in_(chunk))
            if not terms:
                continue
            conditions = [sa.or_(*terms), self.table.c.deleted_at.is_(None)]
            visible = self.rc.predicate(self.snap, self.target, self.table)
            if visible is not None:
                conditions.append(visible)
            columns = [self.table.c[n] for n in dict.fromkeys(["id", *self.fields])]
            for row in conn.execute(sa.select(*columns).where(*conditions)):
                record = row._mapping
                for name in self.fields:
                    value = record[name]
                    if value is None:
                        continue
                    key = str(value)
                    if self._is_email(name):
                        for raw in chunk:
                            if raw.lower() == key.lower():
                                found[raw].add(record["id"])
                    elif key in found:
                        found[key].add(record["id"])
        return found

    def _is_email(self, name: str) -> bool:
        fd = self.target.fields.get(name)
        return fd is not None and fd.type == "email"

    def message(self, raw: str, count: int) -> str:
        label = self.target.name
        if count == 0:
            return f"No {label} with {self.describe()} {raw!r} (or you may not see it)."
        return f"{count} {label} records match {raw!r}; use a unique value ({self.describe()})."


def existing_keys(
    conn: Connection, table: sa.Table, key: str | None, rows: list[Any], readable: Any = None
) -> dict[Any, str]:
    """Upsert keys: each value of field ``key`` among ``rows`` (converted values) -> the id
    of the live record holding it ("" when several do); nothing without a key. Only records
    the SQL condition ``readable`` (the importer's read scope; None: all) admits are found,
    so a key never reveals a record its importer cannot see."""
    if key is None:
        return {}
    wanted = sorted({v[key] for v in rows if v is not None and v.get(key) is not None}, key=str)
    col = table.c[key]
    conditions = [table.c.deleted_at.is_(None)] if readable is None else [table.c.deleted_at.is_(None), readable]
    out: dict[Any, str] = {}
    if isinstance(col.type, UTCDateTime):  # converted cells are ISO text, the column binds datetimes
        wanted = [dt.datetime.fromisoformat(v) for v in wanted]
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start : start + CHUNK]
        for record_id, value in conn.execute(sa.select(table.c.id, col).where(col.in_(chunk), *conditions)):
            value = _as_input(value)
            out[value] = "" if value in out else record_id
    return out


def _as_input(value: Any) -> Any:
    """A stored key value in the shape a converted cell has (dates as ISO strings)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
