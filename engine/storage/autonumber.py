"""Human record numbers such as ``TCK-2026-00042``, unique under concurrent inserts.

Each series (the format with its date parts filled in, so numbering restarts every year
for ``{YYYY}``) is one row of ``tessera_series``, incremented with an upsert inside the
creating transaction: PostgreSQL's row lock and SQLite's write lock serialise concurrent
creators, and a rolled-back create gives its number back.
"""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from engine.storage.system_tables import series

_DIGITS = re.compile(r"\{(#+)\}")


def render_prefix(fmt: str, now: dt.datetime) -> str:
    return (
        fmt.replace("{YYYY}", f"{now.year:04d}")
        .replace("{YY}", f"{now.year % 100:02d}")
        .replace("{MM}", f"{now.month:02d}")
        .replace("{DD}", f"{now.day:02d}")
    )


def next_number(conn: Connection, series_name: str, fmt: str, now: dt.datetime) -> str:
    rendered = render_prefix(fmt, now)
    key = f"{series_name}:{_DIGITS.sub('#', rendered)}"
    insert = postgresql.insert(series) if conn.dialect.name == "postgresql" else sqlite.insert(series)
    stmt = (
        insert.values(name=key, value=1)
        .on_conflict_do_update(index_elements=[series.c.name], set_={"value": series.c.value + 1})
        .returning(series.c.value)
    )
    value = conn.execute(stmt).scalar_one()
    return _DIGITS.sub(lambda m: str(value).zfill(len(m.group(1))), rendered, count=1)


def ensure_supported(conn: Connection) -> None:
    if conn.dialect.name not in ("postgresql", "sqlite"):
        raise RuntimeError(f"autonumber series are not implemented for {conn.dialect.name}")


__all__ = ["next_number", "render_prefix", "sa"]
