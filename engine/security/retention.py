"""Retention rules: old records are deleted or anonymised on schedule, with a dry run.

A rule in an entity document::

    retention:
      - name: purge_closed_after_two_years
        when: 'status == "closed"'        # optional DSL condition
        field: updated_at                  # the date the age counts from (default updated_at)
        older_than: 730d
        action: delete                     # or anonymise (blank the personal: true fields)

``delete`` removes the rows for good (child rows and links go with them) and keeps one
audit entry per record; ``anonymise`` blanks personal fields as the GDPR erasure does.
``tessera retention`` runs every rule (``--dry-run`` only reports); the scheduler of the
automation issue will run it daily.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.dsl import sql_context
from engine.meta.model import EntityDef
from engine.security.privacy import blank_personal
from engine.storage.database import write_transaction
from engine.storage.expressions import retention_condition
from engine.storage.writing import record_audit


@dataclass
class RetentionResult:
    entity: str
    rule: str
    action: str
    record_ids: list[str]


def run_retention(ws: Any, now: dt.datetime | None = None, dry_run: bool = False) -> list[RetentionResult]:
    """Apply (or with ``dry_run`` only find) every retention rule of every entity."""
    now = now or dt.datetime.now(dt.UTC)
    snap = ws.snapshot()
    results = []
    for entity in snap.catalog.entities.values():
        for rule in entity.retention:
            expr = snap.filter_expression(entity, retention_condition(entity, rule), f"{entity.name}.retention")
            table = snap.tables.main(entity.name)
            ctx = sql_context(ws.db.dialect.name, now)
            with write_transaction(ws.db) as conn:
                ids = list(conn.execute(sa.select(table.c.id).where(expr.to_sql(snap.tables, ctx, table))).scalars())
                if ids and not dry_run:
                    _apply(conn, entity, table, rule, ids, now)
            results.append(RetentionResult(entity.name, rule["name"], rule["action"], ids))
    return results


def _apply(
    conn: sa.Connection, entity: EntityDef, table: Any, rule: dict[str, Any], ids: list[str], now: dt.datetime
) -> None:
    if rule["action"] == "delete":
        conn.execute(table.delete().where(table.c.id.in_(ids)))
    else:
        blank_personal(conn, entity, table, ids, SYSTEM, now)
    action, detail = f"retention_{rule['action']}", {"rule": [None, rule["name"]]}
    for record_id in ids:
        record_audit(conn, SYSTEM, entity.name, record_id, action, detail, now)
