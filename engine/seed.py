"""Loading pack seed data (``metadata/<pack>/seed/*.yaml``) through the data-access layer.

A seed document names an entity and its records. ``_ref`` gives a record a key; a value
``"@key"`` (or a list of them) anywhere in a record is replaced by that record's id, so
seed files can link accounts, contacts and activities without knowing ids; ``"@user:EMAIL"``
names an existing user (the demo logins); ``"@now-3h"`` and ``"@today+30d"`` are instants and
dates relative to the moment the seed loads (demo tickets opened hours ago, contracts ending
next month). A reference
to a record defined later (a parent account further down the file) is filled in by an
update once every record exists.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.errors import FieldError, ValidationError
from engine.meta.packs import read_folder
from engine.meta.problems import Problems
from engine.storage.database import read_transaction
from engine.workspace import Workspace

BATCH = 500
#: ``@now``, ``@today``, optionally moved by terms such as ``-3h``, ``+30d``, ``-6h50m``, ``-1w+2d``
_RELATIVE = re.compile(r"^@(now|today)((?:[+-](?:\d+[mhdw])+)*)$")
_TERM = re.compile(r"([+-])((?:\d+[mhdw])+)")
_AMOUNT = re.compile(r"(\d+)([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class _Pending(Exception):
    """A value refers to a record not created yet."""


def relative_time(value: str, now: dt.datetime | None = None) -> str | None:
    """``@now-3h`` as an ISO instant, ``@today+30d`` as an ISO date; None for anything else."""
    match = _RELATIVE.match(value)
    if match is None:
        return None
    moment = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    for sign, amounts in _TERM.findall(match[2]):
        delta = sum((dt.timedelta(**{_UNITS[u]: int(a)}) for a, u in _AMOUNT.findall(amounts)), dt.timedelta())
        moment = moment + delta if sign == "+" else moment - delta
    return moment.date().isoformat() if match[1] == "today" else moment.isoformat()


def _resolve(value: Any, refs: dict[str, str]) -> Any:
    if isinstance(value, str) and (relative := relative_time(value)) is not None:
        return relative
    if isinstance(value, str) and value.startswith("@") and len(value) > 1:
        if value[1:] not in refs:
            raise _Pending(value)
        return refs[value[1:]]
    if isinstance(value, list):
        return [_resolve(v, refs) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, refs) for k, v in value.items()}
    return value


def _split(record: dict[str, Any], refs: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The part of ``record`` that can be written now, and the fields that must wait."""
    now, later = {}, {}
    for key, value in record.items():
        if key == "_ref":
            continue
        try:
            now[key] = _resolve(value, refs)
        except _Pending:
            later[key] = value
    return now, later


def _bulk(ws: Workspace, entity: str, payload: list[dict[str, Any]], where: str, offset: int) -> list[dict[str, Any]]:
    try:
        return ws.records.bulk(SYSTEM, entity, payload)
    except ValidationError as exc:
        first = exc.errors[0] if exc.errors else FieldError("(record)", exc.detail)
        index = offset + (first.index or 0) + 1
        raise ValidationError(
            f"{where}: record {index} of {entity}: {first.field}: {first.message}", exc.errors
        ) from None


def user_refs(ws: Workspace) -> dict[str, str]:
    """``user:EMAIL`` keys for the users that exist (the demo logins), so seed records can
    name their owner or assignee: ``owner: '@user:sales.rep@demo.tessera.dev'``."""
    table = ws.snapshot().tables.main("user")
    with read_transaction(ws.db) as conn:
        rows = conn.execute(sa.select(table.c.id, table.c.email).where(table.c.deleted_at.is_(None))).all()
    return {f"user:{row.email}": row.id for row in rows if row.email}


def load_seed(ws: Workspace, packs: list[str] | None = None) -> dict[str, int]:
    """Create every pack's seed records; returns the number created per entity."""
    refs: dict[str, str] = user_refs(ws)
    counts: dict[str, int] = {}
    pending: list[tuple[str, str, str, dict[str, Any]]] = []  # (where, entity, id, fields)
    problems = Problems()
    for pack in ws.packs:
        if packs is not None and pack.name not in packs:
            continue
        for doc in read_folder(pack.root / "seed", problems):
            entity = doc.data["entity"]
            records = doc.data.get("records") or []
            for start in range(0, len(records), BATCH):
                chunk = records[start : start + BATCH]
                parts = [_split(r, refs) for r in chunk]
                created = _bulk(ws, entity, [now for now, _ in parts], str(doc.path), start)
                for record, stored, (_, later) in zip(chunk, created, parts, strict=True):
                    if record.get("_ref"):
                        refs[record["_ref"]] = stored["id"]
                    if later:
                        pending.append((str(doc.path), entity, stored["id"], later))
                counts[entity] = counts.get(entity, 0) + len(created)
    problems.raise_if_any("The seed data cannot be read")
    for where, entity, record_id, fields in pending:
        try:
            values = _resolve(fields, refs)
        except _Pending as missing:
            raise ValidationError(
                f"{where}: unknown seed reference {missing}", [FieldError(where, f"Unknown {missing}.")]
            ) from None
        _bulk(ws, entity, [{"id": record_id, **values}], where, 0)
    return counts
