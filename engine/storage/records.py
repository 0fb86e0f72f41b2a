"""The data-access layer: the one place every read and write of records goes through.

The API, the CLI, imports and (later) rules all call ``Records``; nothing else builds SQL
for entity tables. Each public method takes the acting ``Actor`` explicitly, runs in one
transaction, and raises only ``TesseraError`` subclasses for anything a user can fix.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.automation.events import Event
from engine.automation.runtime import Run
from engine.change_feed import note as note_change
from engine.dsl import sql_context
from engine.errors import (
    BadRequest,
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    TesseraError,
    ValidationError,
)
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.storage import writing as w
from engine.storage.aggregation import aggregate, uncomputable
from engine.storage.bulk import bulk_write
from engine.storage.create_batch import emit_create, finish_create, prepare_create
from engine.storage.database import held_row, hold_row, read_transaction, write_transaction
from engine.storage.derivation import derive_on_update
from engine.storage.duplicates import DuplicateGuard, DuplicateOptions, with_warnings
from engine.storage.encryption import FieldCipher
from engine.storage.evaluation import RecordLoader, make_env
from engine.storage.files import origin_errors
from engine.storage.history import audit_trail
from engine.storage.idempotency import remember, replayed, request_hash
from engine.storage.ids import is_id
from engine.storage.listing import ListQuery, parse_list_params, parse_record_params
from engine.storage.preview import preview_record
from engine.storage.reading import (
    Page,
    ReadContext,
    fetch_row,
    get_record,
    list_records,
    related_target,
    written_record,
)
from engine.storage.shared_scan import aggregate_many, fingerprint
from engine.storage.timeline import check_reference
from engine.storage.trash import trash_many, trash_one
from engine.storage.validation import load_input

T = TypeVar("T")
Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Records:
    def __init__(self, workspace: Any, clock: Clock = _utcnow):
        self.ws = workspace
        self.clock = clock
        self.cipher = FieldCipher(workspace.config.resolved_secret_key())

    def _load(self, snap: Any, entity: EntityDef, data: Any, actor: Actor) -> dict[str, Any]:
        """Validate client input and seal its secrets before anything else sees it."""
        _check_writable(entity, actor)
        if isinstance(data, dict):  # fields the role may not write: hidden ones are unknown
            errors = self._access(snap, actor).write_errors(entity, data)
            if errors:
                raise ValidationError(f"The {entity.name} is not valid", errors)
        values = load_input(snap.input_schema(entity.name), entity, data)
        self.cipher.seal_values(entity, values, snap.catalog)
        return values

    # --- plumbing -------------------------------------------------------------------
    def _access(self, snap: Any, actor: Actor) -> Any:
        return self.ws.permissions.for_actor(snap, actor)

    def _rc(self, actor: Actor, snap: Any = None) -> ReadContext:
        now = self.clock()
        snap = snap or self.ws.snapshot()
        return ReadContext(
            actor,
            now,
            sql_context(
                self.ws.db.dialect.name,
                now,
                actor.user_id,
                actor.roles,
                actor.teams,
                actor.team_ids,
                actor.team_members,
            ),
            self._access(snap, actor),
            self.cipher,
        )

    def _entity(self, snap: Any, actor: Actor, name: str, action: str = "read") -> EntityDef:
        """The entity, if the actor may read it at all (else it does not exist for them)."""
        entity = snap.api_entity(name)
        access = self._access(snap, actor)
        if not access.can(entity, "read"):
            raise NotFound(f"There is no entity {name!r}")
        if action != "read" and not access.can(entity, action):
            raise PermissionDenied(f"You may not {action} {entity.name} records")
        return entity

    def _allows(
        self, conn: Connection, snap: Any, actor: Actor, entity: EntityDef, action: str, record: dict[str, Any]
    ) -> bool:
        access = self._access(snap, actor)
        if access.unrestricted:
            return True
        loader = RecordLoader(conn, snap)
        return access.allows(entity, action, make_env(loader, actor, self.clock(), loader.wrap(entity, record)))

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A read transaction; a value SQL cannot compute (overflow) is the caller's problem, not a 500."""
        try:
            with read_transaction(self.ws.db) as conn:
                yield conn
        except sa.exc.DataError as exc:
            raise uncomputable(exc) from None

    def _write(self, entity: EntityDef, fn: Callable[[Connection], T]) -> T:
        try:
            with write_transaction(self.ws.db) as conn:
                return fn(conn)
        except sa.exc.IntegrityError as exc:
            raise w.conflict_from(entity, exc) from None
        except sa.exc.DataError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "out of range"
            raise ValidationError(f"A value is out of range: {reason}", [FieldError("(record)", reason)]) from None

    def _run(self, conn: Connection, snap: Any, actor: Actor, now: dt.datetime) -> Run:
        """The automation of one write transaction (see engine.automation.runtime)."""
        run = Run(self, conn, snap, actor, now)
        hooks = conn.info.setdefault("after_commit", [])
        hooks.append(run.after_commit)
        return run

    @contextmanager
    def acting(self, actor: Actor, now: dt.datetime | None = None) -> Iterator[Run]:
        """A write transaction and its automation run, for code outside a request (plugins,
        jobs): what goes through ``run.create``/``run.update`` is validated, audited and seen
        by rules, and all of it commits or none; ``run.conn`` reads in the same transaction."""
        snap = self.ws.snapshot()
        with write_transaction(self.ws.db) as conn:
            yield self._run(conn, snap, actor, now or self.clock())

    # --- metadata as the actor may see it -------------------------------------------
    def catalog_for(self, actor: Actor) -> Catalog:
        """The catalog with only the entities and fields ``actor`` may read (meta, OpenAPI)."""
        snap = self.ws.snapshot()
        return self._access(snap, actor).visible_catalog()

    def can(self, actor: Actor, entity_name: str, action: str) -> bool:
        """Whether ``actor`` may ``action`` (read, create, update, delete) some records of
        the entity at all: what a page offers (a New button), never what a write checks."""
        snap = self.ws.snapshot()
        entity = snap.catalog.entities.get(entity_name)
        if entity is None:
            return False
        if action != "read" and entity.system and not actor.is_admin:
            return False
        return bool(self._access(snap, actor).can(entity, action))

    # --- reads ----------------------------------------------------------------------
    def get(
        self, actor: Actor, entity_name: str, record_id: str, params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        snap = self.ws.snapshot()
        entity = self._entity(snap, actor, entity_name)
        rc = self._rc(actor, snap)
        fields, expand = parse_record_params(entity, params or {}, rc.hidden(entity))
        with self._reading() as conn:
            record = get_record(conn, snap, entity, record_id, fields, expand, rc)
        self._audit_reads(actor, entity, [record])
        return record

    def list(self, actor: Actor, entity_name: str, params: Mapping[str, str] | ListQuery, action: str = "read") -> Page:
        """A page of readable records; another ``action`` (``export``) must be granted too and
        narrows the page to the records its scope allows."""
        snap = self.ws.snapshot()
        entity = self._entity(snap, actor, entity_name, action)
        rc = self._rc(actor, snap)
        query = params if isinstance(params, ListQuery) else parse_list_params(entity, params, rc.hidden(entity))
        allowed = rc.predicate(snap, entity, snap.tables.main(entity.name), action) if action != "read" else None
        with self._reading() as conn:
            page = list_records(conn, snap, entity, query, None if allowed is None else [allowed], rc=rc)
        self._audit_reads(actor, entity, page.data)
        return page

    def _audit_reads(self, actor: Actor, entity: EntityDef, records: builtins.list[dict[str, Any]]) -> None:
        """Entities marked ``audit: {reads: true}`` record who read which record, and when."""
        if entity.audit_reads and records and actor.user_id is not None:
            with write_transaction(self.ws.db) as conn:
                w.record_reads(conn, actor, entity.name, [r["id"] for r in records], self.clock())

    def preview(self, actor: Actor, entity_name: str, data: Any, record_id: str | None = None) -> dict[str, Any]:
        """What a form would become, without writing (see engine.storage.preview)."""
        return preview_record(self, actor, entity_name, data, record_id)

    def aggregate(self, actor: Actor, entity_name: str, body: Any) -> Page:
        """Grouped metrics over the entity's live records (see engine.storage.aggregation)."""
        snap = self.ws.snapshot()
        entity = self._entity(snap, actor, entity_name)
        with self._reading() as conn:
            return aggregate(conn, snap, entity, body, self._rc(actor, snap))

    def aggregate_many(self, actor: Actor, entity_name: str, bodies: builtins.list[Any]) -> builtins.list[Any]:
        """Several aggregates of one entity, read together: a Page or the error of each body."""
        snap = self.ws.snapshot()
        entity = self._entity(snap, actor, entity_name)
        with self._reading() as conn:
            return aggregate_many(conn, snap, entity, bodies, self._rc(actor, snap))

    def aggregate_key(self, actor: Actor, entity_name: str, bodies: builtins.list[Any]) -> Hashable:
        """What :meth:`aggregate_many`'s answers depend on besides the stored records: equal
        for readers who would send the same SQL (``shared_scan.fingerprint``)."""
        snap = self.ws.snapshot()
        entity = self._entity(snap, actor, entity_name)
        return fingerprint(snap, entity, bodies, self._rc(actor, snap), self.ws.db.dialect)

    def related(self, actor: Actor, entity_name: str, record_id: str, link: str, params: Mapping[str, str]) -> Page:
        """Records related to one record: a ``links`` field of it, or records of another
        entity whose link points at it (``contact`` or ``contact.account``)."""
        found = self.related_lists(actor, entity_name, record_id, [link], params)[link]
        if isinstance(found, TesseraError):
            raise found
        return found

    def related_lists(
        self, actor: Actor, entity_name: str, record_id: str, links: Iterable[str], params: Mapping[str, str]
    ) -> dict[str, Page | TesseraError]:
        """Several related lists of one record (a record page's), the record read once: per
        link its page, or the error that list alone gives (unknown, not readable...)."""
        snap = self.ws.snapshot()
        entity = self._entity(snap, actor, entity_name)
        rc = self._rc(actor, snap)
        out: dict[str, Page | TesseraError] = {}
        with self._reading() as conn:
            get_record(conn, snap, entity, record_id, ["id"], None, rc)  # 404 unless readable
            for link in links:
                try:
                    target, where = related_target(snap, entity, record_id, link, rc)
                    if not self._access(snap, actor).can(target, "read"):
                        raise NotFound(f"{entity.name} has no related list {link!r}")
                    query = parse_list_params(target, params, rc.hidden(target))
                    out[link] = list_records(conn, snap, target, query, where, rc=rc)
                except TesseraError as exc:
                    out[link] = exc
        return out

    def history(self, actor: Actor, entity_name: str, record_id: str, params: Mapping[str, str]) -> Page:
        snap = self.ws.snapshot()
        entity = self._entity(snap, actor, entity_name)
        if not is_id(record_id):
            raise NotFound(f"No {entity.name} with id {record_id!r}")
        unknown = set(params) - {"limit", "offset"}
        if unknown:
            raise BadRequest(f"Unknown parameter(s): {', '.join(sorted(unknown))}")
        query = parse_list_params(entity, params)
        with self._reading() as conn:
            return audit_trail(conn, snap, entity, record_id, query, self._rc(actor, snap))

    # --- writes ---------------------------------------------------------------------
    def _insert(
        self,
        conn: Connection,
        snap: Any,
        actor: Actor,
        entity: EntityDef,
        values: dict[str, Any],
        now: dt.datetime,
        run: Run | None = None,
        duplicates: DuplicateOptions | None = None,
    ) -> str:
        pending = prepare_create(self, conn, snap, actor, entity, values, now, duplicates, run=run)
        conn.execute(snap.tables.main(entity.name).insert(), pending.stored)
        finish_create(self, conn, snap, actor, entity, pending, now)
        emit_create(self, conn, snap, actor, entity, pending, run, now)
        return pending.record_id

    def create(
        self,
        actor: Actor,
        entity_name: str,
        data: Any,
        idempotency_key: str | None = None,
        allow_duplicates: bool = False,
    ) -> dict[str, Any]:
        """Create a record; it carries ``_warnings`` when duplicate rules let it through."""
        snap = self.ws.snapshot()
        duplicates = DuplicateOptions(allow=allow_duplicates)
        entity = self._entity(snap, actor, entity_name, "create")
        values = self._load(snap, entity, data, actor)
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
            raise BadRequest("Idempotency-Key must be 1 to 255 characters")
        digest = request_hash(entity.name, data)

        def run(conn: Connection) -> dict[str, Any]:
            if idempotency_key is not None:
                replay = replayed(conn, actor, entity.name, idempotency_key, digest)
                if replay is not None:
                    return written_record(conn, snap, snap.api_entity(replay[0]), replay[1], self._rc(actor))
            now = self.clock()
            record_id = self._insert(conn, snap, actor, entity, values, now, duplicates=duplicates)
            if idempotency_key is not None:
                remember(conn, actor, idempotency_key, entity.name, record_id, digest, now)
            return with_warnings(written_record(conn, snap, entity, record_id, self._rc(actor)), duplicates)

        try:
            return self._write(entity, run)
        except Conflict:
            if idempotency_key is None:
                raise
            # a concurrent request with the same key won the race: answer with its record
            with self._reading() as conn:
                replay = replayed(conn, actor, entity.name, idempotency_key, digest)
                if replay is None:
                    raise
                return written_record(conn, snap, entity, replay[1], self._rc(actor))

    def _apply_update(
        self,
        conn: Connection,
        snap: Any,
        actor: Actor,
        entity: EntityDef,
        record_id: str,
        values: dict[str, Any],
        if_match: int | None,
        now: dt.datetime,
        run: Run | None = None,
        owner: str = "",
        duplicates: DuplicateOptions | None = None,
        derived: bool = False,
    ) -> bool:
        """Write ``values`` to a record; ``owner`` names the workflow allowed to set its state field.
        Returns False when ``values`` change nothing (nothing is written: no version, no audit).

        ``derived`` writes are values the engine keeps (rollups): the record's validations
        are not re-checked, so an old record that breaks a newer rule cannot block the
        write of another record that only changes a total here."""
        current_values = held_row(conn, entity.name, record_id)
        if current_values is None:
            current_values = dict(fetch_row(conn, snap, entity, record_id, for_update=True)._mapping)
        version = current_values["version"]
        automated = run is not None  # a rule, action or workflow writing: readonly_if is for people
        if not self._allows(conn, snap, actor, entity, "read", current_values):
            raise NotFound(f"No {entity.name} with id {record_id!r}")
        if not self._allows(conn, snap, actor, entity, "update", current_values):
            raise PermissionDenied(f"You may not change this {entity.name}")
        if if_match is not None and version != if_match:
            raise PreconditionFailed(
                f"The {entity.name} was changed since version {if_match} "
                f"(now version {version}); reload it and try again"
            )
        listens = snap.automation.listens(entity.name)
        if listens:
            run = run or self._run(conn, snap, actor, now)
            snap.automation.before_update(run, entity, record_id, current_values, values, owner)
        rule_errors = derive_on_update(conn, snap, actor, entity, dict(current_values), values, now, automated)
        if derived:
            rule_errors = []
        errors = w.check_required(entity, values, only=values)  # a field left as it was stays as it was
        errors += w.check_references(conn, snap, entity, values) + w.check_children(conn, snap, entity, values)
        rc = self._rc(actor, snap)
        errors += check_reference(conn, snap, entity, {**current_values, **values}, values, rc=rc)
        errors += origin_errors(conn, snap, entity, values, current_values, rc=rc)
        errors += [e for e in rule_errors if e.field not in {x.field for x in errors}]
        if errors:
            raise ValidationError(f"The {entity.name} is not valid", errors)
        if not self._allows(conn, snap, actor, entity, "update", {**current_values, **values}):
            raise PermissionDenied(f"This change would move the {entity.name} out of the records you may change")
        columns = w.column_values(entity, values)
        if "owner" in values:
            columns["owner"] = values["owner"]
        changes = {k: (current_values[k], v) for k, v in columns.items() if current_values[k] != v}
        multi = {
            k: v
            for k, v in values.items()
            if (fd := entity.fields.get(k)) is not None and fd.type in ("table", "links")
        }
        # links given as they are stored are no change (a re-import writes them all again)
        linked = {k: w.read_links(conn, snap, entity, record_id, k) for k in multi if entity.fields[k].type == "links"}
        multi = {k: v for k, v in multi.items() if k not in linked or linked[k] != (v or [])}
        if not changes and not multi:
            return False
        guard = DuplicateGuard(conn, snap, actor, entity, now, lambda: self._rc(actor, snap), duplicates)
        found = guard.check(record_id, {**current_values, **values}, changes)
        w.write_update(conn, snap, entity.name, record_id, version, now, actor, changes)
        new = {**current_values, **{k: v for k, (_, v) in changes.items() if k in current_values}}
        new.update(version=version + 1, updated_at=now, updated_by=actor.user_id)
        hold_row(conn, entity.name, record_id, new)
        guard.store(record_id, {**current_values, **values}, changes, found)
        note_change(self.ws, conn, entity.name, record_id, version + 1, "update")
        for name, value in multi.items():
            if entity.fields[name].type == "table":
                w.write_children(conn, snap, entity, record_id, name, value or [], now, existing=True)
                changes[name] = (None, value)
            else:
                w.write_links(conn, snap, entity, record_id, name, value or [], existing=True)
                changes[name] = (linked[name] or None, value)
        if entity.audit:
            w.record_audit(conn, actor, entity.name, record_id, "update", w.audit_changes(entity, changes), now)
        if listens and run is not None:
            run.emit(Event("update", entity, record_id, new, current_values, actor, frozenset(changes)))
        return True

    def update(
        self,
        actor: Actor,
        entity_name: str,
        record_id: str,
        data: Any,
        if_match: int | None = None,
        allow_duplicates: bool = False,
    ) -> dict[str, Any]:
        snap = self.ws.snapshot()
        entity = self._entity(snap, actor, entity_name)
        values = self._load(snap, entity, data, actor)
        duplicates = DuplicateOptions(allow=allow_duplicates)

        def write(conn: Connection) -> dict[str, Any]:
            self._apply_update(
                conn, snap, actor, entity, record_id, values, if_match, self.clock(), duplicates=duplicates
            )
            return with_warnings(written_record(conn, snap, entity, record_id, self._rc(actor)), duplicates)

        return self._write(entity, write)

    def delete(self, actor: Actor, entity_name: str, record_id: str, if_match: int | None = None) -> None:
        self._set_deleted(actor, entity_name, record_id, if_match, trash=True)

    def delete_many(self, actor: Actor, entity_name: str, record_ids: builtins.list[str]) -> int:
        """Move several records to the trash in one transaction: all of them or none."""
        return trash_many(self, actor, entity_name, record_ids)

    def restore(self, actor: Actor, entity_name: str, record_id: str) -> dict[str, Any]:
        return self._set_deleted(actor, entity_name, record_id, None, trash=False)

    def _set_deleted(
        self, actor: Actor, entity_name: str, record_id: str, if_match: int | None, trash: bool
    ) -> dict[str, Any]:
        snap = self.ws.snapshot()
        entity = self._entity(snap, actor, entity_name)
        _check_writable(entity, actor)

        def run(conn: Connection) -> dict[str, Any]:
            trash_one(self, conn, snap, actor, entity, record_id, if_match, trash)
            return {} if trash else written_record(conn, snap, entity, record_id, self._rc(actor))

        return self._write(entity, run)

    def bulk(
        self, actor: Actor, entity_name: str, items: Any, allow_duplicates: bool = False
    ) -> builtins.list[dict[str, Any]]:
        """Create or update up to 1,000 records in one transaction, or write nothing."""
        return bulk_write(self, actor, entity_name, items, allow_duplicates)


def _check_writable(entity: EntityDef, actor: Actor) -> None:
    # users, teams and roles are administered by admins only (full permissions: security issue)
    if entity.system and not actor.is_admin:
        raise PermissionDenied(f"Only administrators may change {entity.name} records")
