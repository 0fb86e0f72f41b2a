"""Creating records one at a time or many at once, with the same checks either way.

A create is two halves around the ``INSERT`` of the record's row:

* :func:`prepare_create` does everything that decides whether the record may exist
  (defaults, DSL-derived values and validations, required fields, references, the
  actor's scope, duplicate rules) and builds the row; it writes nothing, so a refusal
  needs no rollback;
* :func:`finish_create` writes what follows from the row (table rows and links, the
  duplicate-rule keys, the audit entry), notes the change and emits the ``create``
  event to automation.

``Records._insert`` runs both around a single ``INSERT``. :class:`CreateBatch` prepares
many records, then writes them with one multi-row ``INSERT`` per table (records, keys,
audit entries) and emits their events afterwards, in order: a few statements per
thousand records instead of four or more per record. What makes a batched create
behave like a sequence of single ones:

* references are looked up once per batch (:func:`check_references` with ``known``);
* duplicate rules: :meth:`CreateBatch.probe` looks up every key of the batch in one query
  per rule key; a record none of whose keys is stored yet, nor used by an earlier record
  of the batch, cannot match anything, so its rules need not run. The others are the
  caller's to write one at a time (after :meth:`CreateBatch.flush`), like any single
  create, so they see the batch's earlier records;
* rules triggered by the creates run after the batch's rows are written, so what they
  read is there; a rule that fails fails the whole flush (the caller retries one by one).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.automation.events import Event
from engine.change_feed import note as note_change
from engine.errors import PermissionDenied, ValidationError
from engine.meta.model import EntityDef
from engine.storage import writing as w
from engine.storage.bulk_copy import copies_behind
from engine.storage.derivation import derive_on_create
from engine.storage.duplicates import (
    DuplicateGuard,
    DuplicateOptions,
    Finding,
    ensure_built,
    keys_per_query,
    keys_statement,
    normalise,
    rule_triples,
)
from engine.storage.files import origin_errors
from engine.storage.ids import new_id
from engine.storage.timeline import check_reference
from engine.storage.write_batch import execute_grouped

#: values looked up per ``IN (...)`` query
CHUNK = 500


@dataclass
class PendingCreate:
    """A record that passed every check and is ready to be written."""

    record_id: str
    values: dict[str, Any]
    stored: dict[str, Any]
    #: the values the record starts with (fields left empty are not among them)
    changes: dict[str, Any]
    findings: list[Finding]
    guard: DuplicateGuard
    #: the automation run that saw the record before it was written (None: no component listens)
    run: Any = None


class Sink:
    """Rows for several tables, written with one ``executemany`` per table on flush."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.statements: dict[str, Any] = {}
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def execute(self, statement: Any, params: dict[str, Any] | list[dict[str, Any]]) -> None:
        name = statement.table.name
        self.statements.setdefault(name, statement)
        self.rows[name] += params if isinstance(params, list) else [params]

    def flush(self) -> None:
        for name, statement in self.statements.items():
            execute_grouped(self.conn, statement, self.rows[name])
        self.statements.clear()
        self.rows.clear()


def prepare_create(
    records: Any,
    conn: Connection,
    snap: Any,
    actor: Actor,
    entity: EntityDef,
    values: dict[str, Any],
    now: dt.datetime,
    duplicates: DuplicateOptions | None = None,
    known: dict[str, set[str]] | None = None,
    check_duplicates: bool = True,
    run: Any = None,
    guard: DuplicateGuard | None = None,
) -> PendingCreate:
    """Check ``values`` (loaded input) as a new ``entity`` record; raises what a user can fix.

    Automation components see the values first (``before_create``: the SLA adds its due
    times); ``run`` is the write's automation run, made here when needed and none is given;
    ``guard``, a batch's duplicate guard for creates with the default ``duplicates`` options."""
    w.apply_defaults(entity, values, snap.catalog)
    snap.automation.initial_values(entity, values)
    values.setdefault("owner", actor.user_id)
    rule_errors = derive_on_create(conn, snap, actor, entity, values, now)
    record_id = new_id()
    if snap.automation.listens(entity.name):
        run = run or records._run(conn, snap, actor, now)
        snap.automation.before_create(run, entity, record_id, values)
    errors = w.check_required(entity, values) + w.check_references(conn, snap, entity, values, known=known)
    errors += w.check_children(conn, snap, entity, values)
    rc = records._rc(actor, snap)
    errors += check_reference(conn, snap, entity, values, rc=rc) + origin_errors(conn, snap, entity, values, {}, rc=rc)
    errors += [e for e in rule_errors if e.field not in {x.field for x in errors}]
    if errors:
        raise ValidationError(f"The {entity.name} is not valid", errors)
    access = records._access(snap, actor)
    if not access.unrestricted:  # else no copy of the values to check
        if not access.can(entity, "create"):  # an import may only update (by its key)
            raise PermissionDenied(f"You may not create {entity.name} records")
        if not records._allows(conn, snap, actor, entity, "create", {**values, "id": None}):
            raise PermissionDenied(f"You may not create this {entity.name}: it would be outside your scope")
    guard = guard or DuplicateGuard(conn, snap, actor, entity, now, lambda: records._rc(actor, snap), duplicates)
    findings = guard.check(None, values) if check_duplicates else []
    row = w.column_values(entity, values)
    w.fill_autonumbers(conn, entity, row, now)
    stored = {
        "id": record_id,
        "version": 1,
        "created_at": now,
        "created_by": actor.user_id,
        "updated_at": now,
        "updated_by": actor.user_id,
        "owner": values.get("owner", actor.user_id),
        **row,
    }
    changes = {k: v for k, v in row.items() if v is not None and v != []}
    changes.update((k, v) for k, v in values.items() if k not in row and v is not None and v != [])
    return PendingCreate(record_id, values, stored, changes, findings, guard, run)


def finish_create(
    records: Any,
    conn: Connection,
    snap: Any,
    actor: Actor,
    entity: EntityDef,
    pending: PendingCreate,
    now: dt.datetime,
    sink: Sink | None = None,
) -> None:
    """Write what follows from the record's row (which must be written already)."""
    record_id, values = pending.record_id, pending.values
    for fd in entity.nested_fields:
        if fd.type == "table" and values.get(fd.name):
            w.write_children(conn, snap, entity, record_id, fd.name, values[fd.name], now, existing=False)
        elif fd.type == "links" and values.get(fd.name):
            w.write_links(conn, snap, entity, record_id, fd.name, values[fd.name], existing=False)
    pending.guard.store(record_id, values, None, pending.findings, sink)
    note_change(records.ws, conn, entity.name, record_id, 1, "create")
    if entity.audit:
        changes = w.audit_created(entity, pending.changes)
        w.record_audit(conn, actor, entity.name, record_id, "create", changes, now, sink)


def emit_create(
    records: Any,
    conn: Connection,
    snap: Any,
    actor: Actor,
    entity: EntityDef,
    pending: PendingCreate,
    run: Any,
    now: dt.datetime,
) -> Any:
    """Tell automation about the new record; returns the run (created when needed)."""
    if snap.automation.listens(entity.name):
        run = run or pending.run or records._run(conn, snap, actor, now)
        stored = {**pending.stored, "deleted_at": None, "deleted_by": None}
        run.emit(Event("create", entity, pending.record_id, stored, None, actor, frozenset(pending.changes)))
    return run


@dataclass
class CreateBatch:
    """Many creates of one entity in one transaction, written together (see module doc).

    ``probe`` the batch's values first, ``add`` each record (a refusal raises and leaves
    nothing behind), ``flush`` to write; ``flush`` before any other write in the same
    transaction that should see the added records."""

    records: Any
    conn: Connection
    snap: Any
    actor: Actor
    entity: EntityDef
    now: dt.datetime
    run: Any = None
    known: dict[str, set[str]] = field(default_factory=dict)
    pending: list[PendingCreate] = field(default_factory=list)
    guard: DuplicateGuard | None = None

    def probe(self, batch: list[dict[str, Any]]) -> list[bool]:
        """For each record of ``batch`` (in order): can its duplicate rules be skipped?

        Also looks up the batch's references once. True means none of its keys is stored
        for a record yet nor used by an earlier record of the batch."""
        self._prefetch_references(batch)
        derived = self.snap.expressions(self.entity.name)
        derived_fields = set(derived.defaults) | set(derived.stored)
        clean = [True] * len(batch)
        records = []
        for values in batch:  # keys as a create would compute them (static defaults included)
            record = dict(values)
            w.apply_defaults(self.entity, record, self.snap.catalog)
            records.append(record)
        guard = self._guard()
        for rule in guard.compiled.rules:
            if "create" not in rule.events:
                continue
            if derived_fields & rule.key_fields:  # a key the DSL computes is known only in add()
                return [False] * len(batch)
            ensure_built(self.conn, self.snap, rule_triples(rule), guard.regions)
            for key in rule.keys:
                region = guard.regions(key.region, rule.entity)
                per_row = [
                    {normalise(key.normaliser, record.get(f), region) for f in key.fields} - {None}
                    for record in records
                ]
                stored = self._stored_values(rule, key, set().union(*per_row))
                seen: set[Any] = set()
                for i, keys in enumerate(per_row):
                    if keys & stored or keys & seen:
                        clean[i] = False
                    seen |= keys
        return clean

    def _stored_values(self, rule: Any, key: Any, values: set[Any]) -> set[Any]:
        """The ``values`` some record in the rule's scope holds for ``key``."""
        places = {(scope.entity, f) for scope in rule.scope for f in scope.fields.get(key.name, ())}
        found: set[Any] = set()
        ordered = sorted(values, key=str)
        dialect = self.conn.dialect.name
        chunk = keys_per_query(dialect)
        for start in range(0, len(ordered) if places else 0, chunk):
            rows = self.conn.execute(
                keys_statement(dialect), {"kind": key.kind, "values": ordered[start : start + chunk]}
            )
            found |= {r.value for r in rows if (r.entity, r.field) in places}
        return found

    def _prefetch_references(self, batch: list[dict[str, Any]]) -> None:
        wanted: dict[str, set[str]] = defaultdict(set)
        if not self.entity.child and self.actor.user_id:
            wanted["user"].add(self.actor.user_id)  # the default owner
        for values in batch:
            for name, value in values.items():
                fd = self.entity.fields.get(name)
                target = (
                    fd.target if fd is not None else ("user" if name == "owner" and not self.entity.child else None)
                )
                if target is not None and value not in (None, []):
                    wanted[target].update(value if isinstance(value, list) else [value])
        for target, ids in wanted.items():
            live = self.known.setdefault(target, set())
            ordered = sorted(i for i in ids if isinstance(i, str))
            for start in range(0, len(ordered), CHUNK):
                statement = w._live_ids_statement(self.snap, target)
                live.update(self.conn.execute(statement, {"ids": ordered[start : start + CHUNK]}).scalars())

    def _guard(self) -> DuplicateGuard:
        """The batch's guard with the default options (it keeps nothing of one record)."""
        if self.guard is None:
            self.guard = DuplicateGuard(
                self.conn, self.snap, self.actor, self.entity, self.now, lambda: self.records._rc(self.actor, self.snap)
            )
        return self.guard

    def add(
        self, values: dict[str, Any], duplicates: DuplicateOptions | None = None, check_duplicates: bool = False
    ) -> str:
        """Check one record (raises when refused) and keep it for the next flush; its id."""
        pending = prepare_create(
            self.records,
            self.conn,
            self.snap,
            self.actor,
            self.entity,
            values,
            self.now,
            duplicates,
            self.known,
            check_duplicates,
            self.run,
            self._guard() if duplicates is None else None,
        )
        self.run = self.run or pending.run
        self.pending.append(pending)
        return pending.record_id

    def flush(self) -> Any:
        """Write the added records and emit their events; returns the automation run."""
        if not self.pending:
            return self.run
        pending, self.pending = self.pending, []
        with copies_behind(self.conn):  # the audit entries are made while the rows are stored
            execute_grouped(self.conn, self.snap.tables.main(self.entity.name).insert(), [p.stored for p in pending])
            sink = Sink(self.conn)
            for p in pending:
                finish_create(self.records, self.conn, self.snap, self.actor, self.entity, p, self.now, sink)
            sink.flush()  # waits for the records' COPY: a refused record raises here, before any event
            for p in pending:  # while the last COPY (audit entries: none can be refused) ends
                self.run = emit_create(
                    self.records, self.conn, self.snap, self.actor, self.entity, p, self.run, self.now
                )
        return self.run
