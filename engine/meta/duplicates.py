"""Duplicate rules as metadata: which records count as "the same", and what happens then.

An entity document (or an ``extends:`` document) lists its rules under ``duplicates:``, in
the style of Salesforce's matching and duplicate rules::

    duplicates:
      - name: contact_email
        keys: [{field: [email, email_secondary], normalise: email}]
        scope: [contact, {entity: lead, keys: {email: [email]}, filter: 'status != "converted"'}]
        action: block                 # or warn
        override: [sales_manager]     # roles that may write a blocked duplicate anyway

This module turns those documents into ``DuplicateRule`` values and checks that they fit the
catalog; ``engine.storage.duplicates`` enforces them on every write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.meta.model import Origin
from engine.meta.problems import Problems

if TYPE_CHECKING:
    from engine.meta.catalog import Catalog

#: normalisers (engine.storage.normalise) and the field types they read
NORMALISERS = ("email", "phone", "domain", "name", "exact")
TEXT_TYPES = frozenset({"string", "text", "email", "phone", "url", "enum"})
#: normalisers whose keys changed since keys were first stored, with their current version.
#: A new version is a new kind of stored key: built once for existing records, like the keys
#: of a new rule, and the older kind's keys dropped. name 2: dotted legal forms ("S.A.")
KEY_VERSIONS = {"name": 2}


@dataclass(frozen=True)
class MatchKey:
    """One thing two records can share: a normalised value of one of ``fields``."""

    name: str
    normaliser: str
    fields: tuple[str, ...]
    #: phone: the country assumed for numbers without a prefix: ``DE``, or an expression
    #: reading a settings record, ``'=$crm_setting.default_phone_region'``
    region: str | None = None

    @property
    def kind(self) -> str:
        """How stored keys are told apart. E.164 is canonical whatever the region, so the
        normaliser's name (and its version, after a change) is enough."""
        return key_kind(self.normaliser)


def key_kind(normaliser: str, version: int | None = None) -> str:
    """``name:v2`` for version 2 of ``name`` (the current one by default); version 1 is ``name``."""
    version = version or KEY_VERSIONS.get(normaliser, 1)
    return normaliser if version == 1 else f"{normaliser}:v{version}"


def superseded_kinds(kind: str) -> list[str]:
    """The kinds of keys an older version of ``kind``'s normaliser stored."""
    normaliser, _, version = kind.partition(":v")
    return [key_kind(normaliser, v) for v in range(1, int(version or 1))]


@dataclass(frozen=True)
class MatchScope:
    """Records of ``entity`` compared with: key name -> that entity's fields."""

    entity: str
    fields: dict[str, tuple[str, ...]]
    filter: str | None = None


@dataclass(frozen=True)
class DuplicateRule:
    name: str
    entity: str
    keys: tuple[MatchKey, ...]
    scope: tuple[MatchScope, ...]
    action: str  # block | warn
    match_all: bool = False
    events: frozenset[str] = frozenset({"create", "update"})
    when: str | None = None
    override: frozenset[str] = frozenset()
    label: Any = None
    message: Any = None
    origin: Origin = field(default_factory=lambda: Origin(""))
    #: the pack whose document holds the rule (an extension may add rules to another pack's entity)
    pack: str = ""

    def key(self, name: str) -> MatchKey:
        return next(k for k in self.keys if k.name == name)

    @property
    def key_fields(self) -> frozenset[str]:
        return frozenset(f for k in self.keys for f in k.fields)


def _fields_of(spec: Any) -> tuple[str, ...]:
    return tuple(spec) if isinstance(spec, list) else (str(spec),)


def rules_from_document(entity: str, pack: str, data: dict[str, Any], origin_of: Any) -> tuple[DuplicateRule, ...]:
    """``duplicates:`` of an entity or extension document (already schema-valid).

    ``origin_of(path)`` gives the Origin of a place in the document."""
    out = []
    for index, spec in enumerate(data.get("duplicates") or ()):
        keys = tuple(
            MatchKey(k.get("name", k["normalise"]), k["normalise"], _fields_of(k["field"]), k.get("region"))
            for k in spec["keys"]
        )
        scope = []
        for item in spec.get("scope") or [entity]:
            if isinstance(item, str):
                scope.append(MatchScope(item, {k.name: k.fields for k in keys}))
            else:
                own = {k.name: k.fields for k in keys} if item["entity"] == entity else {}
                mapped = {name: _fields_of(f) for name, f in (item.get("keys") or {}).items()}
                scope.append(MatchScope(item["entity"], {**own, **mapped}, item.get("filter")))
        out.append(
            DuplicateRule(
                name=spec["name"],
                entity=entity,
                keys=keys,
                scope=tuple(scope),
                action=spec["action"],
                match_all=spec.get("match", "any") == "all",
                events=frozenset(spec.get("on", ("create", "update"))),
                when=spec.get("when"),
                override=frozenset(spec.get("override", ())),
                label=spec.get("label"),
                message=spec.get("message"),
                origin=origin_of(["duplicates", index]),
                pack=pack,
            )
        )
    return tuple(out)


def check_duplicate_rules(catalog: Catalog, closure: dict[str, set[str]], problems: Problems) -> None:
    """Fields exist and are text, normalisers fit, scope entities are visible, names are unique."""
    seen: dict[str, DuplicateRule] = {}
    for entity in catalog.entities.values():
        for rule in entity.duplicates:
            where = str(rule.origin)
            earlier = seen.get(rule.name)
            if earlier is not None:
                problems.add(where, f"duplicate rule {rule.name!r} is already defined at {earlier.origin}")
                continue
            seen[rule.name] = rule
            _check_rule(catalog, closure, rule, problems)


def _check_rule(catalog: Catalog, closure: dict[str, set[str]], rule: DuplicateRule, problems: Problems) -> None:
    where = str(rule.origin)
    names = [k.name for k in rule.keys]
    if len(set(names)) != len(names):
        problems.add(where, f"duplicate rule {rule.name}: two keys are named alike; give them distinct 'name's")
    for scope in rule.scope:
        target = catalog.entities.get(scope.entity)
        if target is None or target.child:
            problems.add(where, f"duplicate rule {rule.name}: scope names unknown entity {scope.entity!r}")
            continue
        if rule.pack != "overlay" and target.pack not in closure.get(rule.pack, set()) | {"overlay"}:
            problems.add(
                where,
                f"duplicate rule {rule.name}: scope entity {scope.entity!r} is in pack {target.pack!r}, "
                "which this pack does not depend on",
            )
        for key_name, fields in scope.fields.items():
            if key_name not in names:
                problems.add(where, f"duplicate rule {rule.name}: scope {scope.entity} maps unknown key {key_name!r}")
                continue
            for name in fields:
                _check_field(catalog, rule, scope.entity, name, problems)
        missing = [n for n in names if n not in scope.fields]
        if missing and rule.match_all:
            problems.add(
                where,
                f"duplicate rule {rule.name}: with match: all, scope {scope.entity} must map every key ({missing})",
            )
        if not set(names) & set(scope.fields):
            problems.add(where, f"duplicate rule {rule.name}: scope {scope.entity} maps none of the keys {names}")
    for key in rule.keys:
        for name in key.fields:
            _check_field(catalog, rule, rule.entity, name, problems)


def _check_field(catalog: Catalog, rule: DuplicateRule, entity: str, name: str, problems: Problems) -> None:
    fd = catalog.entities[entity].fields.get(name)
    if fd is None:
        problems.add(str(rule.origin), f"duplicate rule {rule.name}: {entity} has no field {name!r}")
    elif fd.type not in TEXT_TYPES or not fd.has_column:
        problems.add(
            str(rule.origin),
            f"duplicate rule {rule.name}: {entity}.{name} is a {fd.type} field; keys are read from stored text fields",
        )


@dataclass(frozen=True)
class StoredKey:
    """How the keys of one field are made: normaliser, region, and the entity the region
    expression belongs to (the rule's)."""

    normaliser: str
    region: str | None
    rule_entity: str


def keyed_fields(catalog: Catalog) -> dict[str, dict[str, dict[str, StoredKey]]]:
    """entity -> field -> kind -> StoredKey: every field some rule keys, on either side.
    Where two rules key one field alike, the first rule's region applies."""
    out: dict[str, dict[str, dict[str, StoredKey]]] = {}

    def add(entity: str, name: str, key: MatchKey, rule: DuplicateRule) -> None:
        kinds = out.setdefault(entity, {}).setdefault(name, {})
        kinds.setdefault(key.kind, StoredKey(key.normaliser, key.region, rule.entity))

    for entity in catalog.entities.values():
        for rule in entity.duplicates:
            names = {k.name for k in rule.keys}
            for key in rule.keys:
                for name in key.fields:
                    add(rule.entity, name, key, rule)
            for scope in rule.scope:
                for key_name, fields in scope.fields.items():
                    if key_name in names:
                        for name in fields:
                            add(scope.entity, name, rule.key(key_name), rule)
    return out
