"""Duplicate rules in force: every create and update is checked before it is written.

Rules come from metadata (``engine.meta.duplicates``). A write of a record with rules is
checked like this, inside the write's transaction:

1. each key of each rule is normalised (``engine.storage.normalise``) from the record;
2. the normalised values are looked up in ``tessera_match_key`` (an index look-up, never
   a scan of the entity table), restricted to the entities and fields of the rule's scope;
3. the candidates are read from their tables: live records only, within the scope's
   ``filter``, each marked readable or not for the caller;
4. a ``block`` rule with matches refuses the write (409, naming the records the caller
   may see) unless the caller asked to ``allow`` duplicates and holds a role the rule's
   ``override`` names (admins always do): then the write goes ahead and the override is
   recorded in the audit trail. A ``warn`` rule lets the write through and reports the
   matches in ``DuplicateOptions.warnings`` (the API's ``_warnings``).

After the write, the record's own keys are stored, so the next record finds it. Keys of
records written before a rule existed are built once, the first time a rule needs them; so
are those of a normaliser's new version (``KEY_VERSIONS``), whose older keys go then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from engine.actor import Actor
from engine.dsl import Expression, compile_expression
from engine.errors import Conflict, FieldError, PermissionDenied
from engine.meta.duplicates import DuplicateRule, MatchKey, StoredKey, keyed_fields, superseded_kinds
from engine.meta.model import EntityDef
from engine.storage import system_tables as st
from engine.storage.derivation import label_text
from engine.storage.evaluation import RecordLoader, make_env
from engine.storage.normalise import normalise

if TYPE_CHECKING:
    from engine.storage.reading import ReadContext
    from engine.workspace import Snapshot

#: matches named per rule in a message or warning
MAX_MATCHES = 10
#: rows per INSERT while building the keys of existing records
BUILD_BATCH = 1000
Triple = tuple[str, str, str]  # entity, field, kind


@dataclass
class DuplicateOptions:
    """What a caller asks of the duplicate rules, and what they report back."""

    #: write a blocked duplicate anyway (needs a role the rule's ``override`` names)
    allow: bool = False
    #: filled by the write: one entry per rule that found duplicates and let the write through
    warnings: list[dict[str, Any]] = field(default_factory=list)


def with_warnings(record: dict[str, Any], options: DuplicateOptions) -> dict[str, Any]:
    """The record as answered: ``_warnings`` lists what duplicate rules found but let through."""
    if options.warnings:
        record["_warnings"] = options.warnings
    return record


@dataclass(frozen=True)
class Match:
    entity: str
    id: str
    title: str | None
    readable: bool


@dataclass
class Finding:
    rule: DuplicateRule
    matches: list[Match]
    overridden: bool = False

    def as_dict(self, catalog: Any, locale: str) -> dict[str, Any]:
        """The JSON form: matches the caller may read are named, the others only counted."""
        seen = [m for m in self.matches if m.readable]
        out: dict[str, Any] = {
            "code": "duplicate",
            "rule": self.rule.name,
            "action": self.rule.action,
            "message": message(self.rule, self.matches, catalog, locale),
            "matches": [{"entity": m.entity, "id": m.id, "title": m.title} for m in seen[:MAX_MATCHES]],
        }
        if len(seen) < len(self.matches):
            out["hidden_matches"] = len(self.matches) - len(seen)
        if self.overridden:
            out["overridden"] = True
        return out


class DuplicateRecord(Conflict):
    """A block rule found the record already exists (409); names what the caller may see."""

    title = "Duplicate record"

    def __init__(self, detail: str, errors: list[FieldError], duplicates: list[dict[str, Any]]):
        super().__init__(detail, errors)
        #: extra members of the problem+json body
        self.extensions = {"duplicates": duplicates}


#: how a rule without a message of its own introduces its matches
POSSIBLE_DUPLICATE = "Possible duplicate"


def message(rule: DuplicateRule, matches: list[Match], catalog: Any, locale: str) -> str:
    intro = label_text(rule.message, locale) if rule.message else POSSIBLE_DUPLICATE
    named = [m for m in matches if m.readable][:3]
    parts = [f'{label_text(catalog.entities[m.entity].label, locale)} "{m.title or m.id}" ({m.id})' for m in named]
    hidden = len(matches) - len([m for m in matches if m.readable])
    if hidden:
        parts.append(f"{hidden} record(s) you may not see")
    return f"{intro}: {', '.join(parts)}"


@dataclass
class _Compiled:
    """The rules of one entity under one snapshot, with their expressions compiled."""

    rules: tuple[DuplicateRule, ...]
    when: dict[str, Expression]
    filters: dict[tuple[str, str], Expression]
    #: field -> kind -> how the keys stored for this entity's records are made
    stored: dict[str, dict[str, StoredKey]]


def _keyed(snap: Snapshot) -> dict[str, dict[str, dict[str, StoredKey]]]:
    keyed = snap.cache.get("duplicates:keyed")
    if keyed is None:
        keyed = snap.cache["duplicates:keyed"] = keyed_fields(snap.catalog)
    return keyed


class Regions:
    """Phone regions of keys: literals, or expressions over a settings record, read once
    per write (``'=$crm_setting.default_phone_region'``)."""

    def __init__(self, conn: Connection, snap: Snapshot, actor: Actor, now: dt.datetime):
        self.conn, self.snap, self.actor, self.now = conn, snap, actor, now
        self.values: dict[tuple[str, str], str | None] = {}

    def __call__(self, spec: str | None, entity: str) -> str | None:
        if spec is None or not spec.startswith("="):
            return spec
        key = (entity, spec)
        if key not in self.values:
            cache_key = ("duplicates:region", entity, spec)
            expr = self.snap.cache.get(cache_key)
            if expr is None:
                expr = self.snap.cache[cache_key] = compile_expression(
                    spec[1:], self.snap.catalog.entities[entity], self.snap.catalog, functions=self.snap.functions
                )
            loader = RecordLoader(self.conn, self.snap)
            value = expr.evaluate(make_env(loader, self.actor, self.now, {}))
            self.values[key] = str(value).upper() if value else None
        return self.values[key]


def _compiled(snap: Snapshot, entity: EntityDef) -> _Compiled:
    cache_key = ("duplicates", entity.name)
    found = snap.cache.get(cache_key)
    if found is None:
        keyed = _keyed(snap)
        when, filters = {}, {}
        for rule in entity.duplicates:
            if rule.when:
                when[rule.name] = compile_expression(
                    rule.when, entity, snap.catalog, functions=snap.functions, where=f"duplicate rule {rule.name}"
                )
            for scope in rule.scope:
                if scope.filter:
                    filters[(rule.name, scope.entity)] = compile_expression(
                        scope.filter,
                        snap.catalog.entities[scope.entity],
                        snap.catalog,
                        functions=snap.functions,
                        where=f"duplicate rule {rule.name} scope {scope.entity}",
                        sql=True,
                        expect="bool",
                    )
        found = snap.cache[cache_key] = _Compiled(entity.duplicates, when, filters, keyed.get(entity.name, {}))
    return found


class DuplicateGuard:
    """The duplicate rules of one write: ``check`` before it, ``store`` after it."""

    def __init__(
        self,
        conn: Connection,
        snap: Snapshot,
        actor: Actor,
        entity: EntityDef,
        now: dt.datetime,
        read_context: Callable[[], ReadContext],
        options: DuplicateOptions | None = None,
    ):
        self.conn, self.snap, self.actor, self.entity, self.now = conn, snap, actor, entity, now
        self.read_context = read_context
        self.options = options or DuplicateOptions()
        self.compiled = _compiled(snap, entity)
        self.regions = Regions(conn, snap, actor, now)

    # --- before the write -------------------------------------------------------------
    def check(
        self, record_id: str | None, record: dict[str, Any], changed: Iterable[str] | None = None
    ) -> list[Finding]:
        """Findings of the rules that apply; raises for a block the caller may not override."""
        event = "create" if record_id is None else "update"
        changed_set = None if changed is None else set(changed)
        findings = []
        for rule in self.compiled.rules:
            if event not in rule.events or (changed_set is not None and not rule.key_fields & changed_set):
                continue
            if not self.applies(rule, record):
                continue
            matches = self.find(rule, record, record_id)
            if matches:
                findings.append(Finding(rule, matches))
        self._enforce(findings, record)
        return findings

    def applies(self, rule: DuplicateRule, record: dict[str, Any]) -> bool:
        """Does the rule's ``when`` hold for ``record`` (always, without one)?"""
        if rule.name not in self.compiled.when:
            return True
        loader = RecordLoader(self.conn, self.snap)
        env = make_env(loader, self.actor, self.now, loader.wrap(self.entity, dict(record)))
        return self.compiled.when[rule.name].holds(env)

    def find(self, rule: DuplicateRule, record: dict[str, Any], record_id: str | None = None) -> list[Match]:
        """Live records the rule counts as duplicates of ``record`` (itself excluded)."""
        ensure_built(self.conn, self.snap, rule_triples(rule), self.regions)
        per_key: list[set[tuple[str, str]]] = []
        for key in rule.keys:
            region = self.regions(key.region, rule.entity)
            values = {normalise(key.normaliser, record.get(f), region) for f in key.fields} - {None}
            if not values:
                if rule.match_all:
                    return []
                continue
            per_key.append(self._lookup(rule, key, values))
        if not per_key:
            return []
        hits = set.intersection(*per_key) if rule.match_all else set.union(*per_key)
        hits.discard((self.entity.name, record_id or ""))
        return self._live(rule, hits)

    def _lookup(self, rule: DuplicateRule, key: MatchKey, values: set[Any]) -> set[tuple[str, str]]:
        places = {(scope.entity, f) for scope in rule.scope for f in scope.fields.get(key.name, ())}
        if not places:
            return set()
        rows = self.conn.execute(keys_statement(self.conn.dialect.name), {"kind": key.kind, "values": sorted(values)})
        return {(r.entity, r.record_id) for r in rows if (r.entity, r.field) in places}

    def _live(self, rule: DuplicateRule, hits: set[tuple[str, str]]) -> list[Match]:
        by_entity: dict[str, list[str]] = {}
        for name, record_id in hits:
            by_entity.setdefault(name, []).append(record_id)
        rc = self.read_context() if by_entity else None
        matches: list[Match] = []
        for name, ids in sorted(by_entity.items()):
            target = self.snap.catalog.entities[name]
            table = self.snap.tables.main(name)
            title = target.title_field
            title_col = table.c.get(title, table.c.id)
            conditions = [table.c.id.in_(ids), table.c.deleted_at.is_(None)]
            expr = self.compiled.filters.get((rule.name, name))
            if expr is not None and rc is not None:
                conditions.append(expr.to_sql(self.snap.tables, rc.sql, table))
            visible = rc.predicate(self.snap, target, table) if rc is not None else None
            readable = sa.true() if visible is None else sa.case((visible, sa.true()), else_=sa.false())
            rows = self.conn.execute(
                sa.select(table.c.id, title_col.label("title"), readable.label("readable"))
                .where(*conditions)
                .order_by(table.c.created_at)
            )
            matches += [Match(name, r.id, None if r.title is None else str(r.title), bool(r.readable)) for r in rows]
        return matches

    def _enforce(self, findings: list[Finding], record: dict[str, Any]) -> None:
        blocks = [f for f in findings if f.rule.action == "block"]
        if not blocks:
            return
        if self.options.allow:
            for finding in blocks:
                if not (self.actor.is_admin or self.actor.roles & finding.rule.override):
                    raise PermissionDenied(f"You may not override the duplicate rule {finding.rule.name!r}")
                finding.overridden = True
            return
        locale = self.actor.locale
        errors = [
            FieldError(_field_of(f.rule, record), message(f.rule, f.matches, self.snap.catalog, locale)) for f in blocks
        ]
        raise DuplicateRecord(
            f"This {self.entity.name} looks like a duplicate of an existing record",
            errors,
            [f.as_dict(self.snap.catalog, locale) for f in blocks],
        )

    # --- after the write --------------------------------------------------------------
    def store(
        self,
        record_id: str,
        record: dict[str, Any],
        changed: Iterable[str] | None,
        findings: list[Finding],
        sink: Any = None,
    ) -> None:
        """Keep the record's keys current, audit overrides, report warnings (a new record's
        keys go to ``sink`` when one is given, written with the rest of its batch)."""
        store_keys(self.conn, self.entity.name, record_id, record, self.compiled.stored, changed, self.regions, sink)
        for finding in findings:
            self.options.warnings.append(finding.as_dict(self.snap.catalog, self.actor.locale))
            if finding.overridden:
                duplicates = [f"{m.entity}:{m.id}" for m in finding.matches]
                audit_override(
                    self.conn, self.actor, self.entity.name, record_id, finding.rule.name, duplicates, self.now
                )


def _field_of(rule: DuplicateRule, record: dict[str, Any]) -> str:
    """The field an error is reported on: the first key field holding a value."""
    return next((f for k in rule.keys for f in k.fields if record.get(f) not in (None, "")), rule.keys[0].fields[0])


def keys_statement(dialect: str) -> Any:
    """The stored keys holding some of ``values`` of one kind.

    Only the columns of the ``(kind, value)`` index are named: with the entity and field as
    well, PostgreSQL may prefer the primary key and read every key of the entity. Nor does
    PostgreSQL get the values as a list to match (``value IN (...)``): for hundreds of them
    its planner prices the index look-ups above reading every key of the kind once the
    table holds some tens of thousands (about seven times slower here), and a prepared plan
    made while the table was small reads every key however large it grows. The values are
    an array, each looked up in the index by a subquery that the planner keeps apart
    (``OFFSET 0``), so every plan is the index look-up."""
    if dialect not in _KEYS_STATEMENTS:
        mk = st.match_key
        columns = (mk.c.entity, mk.c.field, mk.c.record_id, mk.c.value)
        if dialect == "postgresql":
            values = sa.bindparam("values", type_=postgresql.ARRAY(sa.String()))
            wanted = sa.func.unnest(values).table_valued("value").render_derived(name="v")
            each = (
                sa.select(*columns)
                .where(mk.c.kind == sa.bindparam("kind"), mk.c.value == wanted.c.value)
                .offset(0)
                .lateral("k")
            )
            statement = sa.select(*each.c).select_from(wanted.join(each, sa.true()))
        else:
            statement = sa.select(*columns).where(
                mk.c.kind == sa.bindparam("kind"), mk.c.value.in_(sa.bindparam("values", expanding=True))
            )
        _KEYS_STATEMENTS[dialect] = statement
    return _KEYS_STATEMENTS[dialect]


_KEYS_STATEMENTS: dict[str, Any] = {}


def keys_per_query(dialect: str) -> int:
    """The most values one :func:`keys_statement` is given: PostgreSQL gets them as one array
    (an import batch's keys at once); elsewhere they are an ``IN`` list, kept short."""
    return 10_000 if dialect == "postgresql" else 500


def rule_triples(rule: DuplicateRule) -> set[Triple]:
    out = set()
    for scope in rule.scope:
        for key_name, fields in scope.fields.items():
            if key_name in {k.name for k in rule.keys}:
                out |= {(scope.entity, f, rule.key(key_name).kind) for f in fields}
    return out


def audit_override(
    conn: Connection, actor: Actor, entity: str, record_id: str, rule: str, duplicates: list[str], now: dt.datetime
) -> None:
    from engine.storage.writing import record_audit  # writing imports nothing of ours; keep the import local

    changes: dict[str, list[Any]] = {"duplicate_rule": [None, rule], "duplicate_of": [None, duplicates]}
    record_audit(conn, actor, entity, record_id, "duplicate_override", changes, now)


def store_keys(
    conn: Connection,
    entity: str,
    record_id: str,
    record: dict[str, Any],
    stored: dict[str, dict[str, StoredKey]],
    changed: Iterable[str] | None,
    regions: Regions,
    sink: Any = None,
) -> None:
    """Write the record's keys of the ``stored`` fields (all on create, changed ones on update)."""
    if not stored:
        return
    changed_set = None if changed is None else set(changed)
    mk = st.match_key
    rows = []
    for name, kinds in stored.items():
        if changed_set is not None and name not in changed_set:
            continue
        for kind, how in kinds.items():
            if changed_set is not None:
                conn.execute(
                    mk.delete().where(
                        mk.c.entity == entity, mk.c.field == name, mk.c.kind == kind, mk.c.record_id == record_id
                    )
                )
            value = normalise(how.normaliser, record.get(name), regions(how.region, how.rule_entity))
            if value is not None:
                rows.append({"entity": entity, "field": name, "kind": kind, "record_id": record_id, "value": value})
    if rows:
        # a new record's keys are the first of its id: no writer can have stored them (a build
        # of existing keys runs before the record's row is written, or cannot see it yet), so
        # a plain INSERT, which a batch may send as COPY; a changed record's may race a build
        statement = _KEY_INSERT if changed_set is None else _insert_ignoring(conn, mk)
        (sink or conn).execute(statement, rows)


_KEY_INSERT = st.match_key.insert()
_IGNORING: dict[tuple[str, str], Any] = {}


def _insert_ignoring(conn: Connection, table: sa.Table) -> Any:
    """INSERT that skips rows whose key exists (two writers building the same keys);
    built once per table and dialect, so SQLAlchemy's statement cache recognises it."""
    key = (conn.dialect.name, table.name)
    statement = _IGNORING.get(key)
    if statement is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = _IGNORING[key] = dialect.insert(table).on_conflict_do_nothing()
    return statement


def ensure_built(conn: Connection, snap: Snapshot, triples: set[Triple], regions: Regions) -> None:
    """Build the keys of existing records for triples no earlier write built (once)."""
    known: set[Triple] = snap.cache.setdefault("duplicates:built", set())
    missing = triples - known
    if not missing:
        return
    state = st.match_key_state
    rows = conn.execute(sa.select(state.c.entity, state.c.field, state.c.kind)).all()
    done = {(r.entity, r.field, r.kind) for r in rows}
    # built by this connection but not committed yet: remembered only once the commit happened
    pending: set[Triple] = conn.info.setdefault("tessera.duplicates_pending", set())
    known |= (done & triples) - pending
    keyed = _keyed(snap)
    for triple in sorted(missing - done):
        entity, name, kind = triple
        how = keyed.get(entity, {}).get(name, {}).get(kind)
        if how is None:
            continue
        _build(conn, snap, entity, name, kind, how.normaliser, regions(how.region, how.rule_entity))
        old = superseded_kinds(kind)  # an older version's keys: never read again
        for table in (st.match_key, st.match_key_state) if old else ():
            conn.execute(table.delete().where(table.c.entity == entity, table.c.field == name, table.c.kind.in_(old)))
        conn.execute(
            _insert_ignoring(conn, state),
            {"entity": entity, "field": name, "kind": kind, "built_at": dt.datetime.now(dt.UTC)},
        )
        pending.add(triple)
        conn.info.setdefault("after_commit", []).append([_committed(known, pending, triple)])


def _committed(known: set[Triple], pending: set[Triple], triple: Triple) -> Callable[[], None]:
    def hook() -> None:
        known.add(triple)
        pending.discard(triple)

    return hook


def _build(conn: Connection, snap: Snapshot, entity: str, name: str, kind: str, normaliser: str, region: Any) -> None:
    table = snap.tables.main(entity)
    rows = conn.execute(sa.select(table.c.id, table.c[name]).where(table.c[name].is_not(None))).all()
    keys = []
    for row in rows:
        value = normalise(normaliser, row[1], region)
        if value is not None:
            keys.append({"entity": entity, "field": name, "kind": kind, "record_id": row[0], "value": value})
    for start in range(0, len(keys), BUILD_BATCH):
        conn.execute(_insert_ignoring(conn, st.match_key), keys[start : start + BUILD_BATCH])
