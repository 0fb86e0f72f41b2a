"""Forms and hooks of the packs and overlays, checked and compiled once per metadata version.

Compiled with the automation (``engine.automation.model``), so ``tessera check``, start-up
and overlays report a bad form with the same ``file:line:col`` messages as a bad rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from limits import parse as parse_limit

from engine.automation.definitions import Definition, collect
from engine.automation.model import Automation, BaseComponent
from engine.automation.values import parse_duration, target_entity
from engine.dsl import Expression, compile_expression
from engine.dsl.functions import FunctionRegistry
from engine.errors import DslError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.meta.problems import Problems
from engine.storage.validation import marshmallow_field

#: field types a submission cannot write (rows, files and computed values come from elsewhere)
NOT_CAPTURED = frozenset({"table", "file", "autonumber", "secret"})


@dataclass(frozen=True)
class Capture:
    """A compiled form or hook."""

    kind: str  # form | hook
    name: str
    entity: str
    #: submission key -> field (forms: the field names; hooks: field -> payload path)
    fields: tuple[str, ...]
    paths: dict[str, str] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    honeypot: str | None = None
    rate_limit: str | None = None
    rules: tuple[str, ...] | None = None  # None: every duplicate rule of the entity
    match: Expression | None = None
    on_duplicate: str = "skip"
    message: Any = None
    label: Any = None
    secret_env: str | None = None
    #: a record-link form (``record_link:``): how long a link lives; None for an ordinary form
    link_ttl: dt.timedelta | None = None
    #: ``embed:`` of a form: True (any site may frame its page ``/forms/NAME/embed``), the
    #: origins that may, or None (its page cannot be framed)
    embed: bool | tuple[str, ...] | None = None


class CaptureComponent(BaseComponent):
    name = "capture"

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        compiled: dict[str, dict[str, Capture]] = {"form": {}, "hook": {}}
        for kind in ("form", "hook"):
            for definition in collect(catalog, kind, problems):
                capture = _compile(definition, catalog, functions, problems)
                if capture is not None:
                    compiled[kind][capture.name] = capture
        automation.parts[self.name] = compiled


COMPONENT = CaptureComponent()


def captures(snap: Any, kind: str) -> dict[str, Capture]:
    """The enabled forms (``kind="form"``) or hooks of a snapshot, by name."""
    parts: dict[str, dict[str, Capture]] = snap.automation.parts.get("capture", {})
    return parts.get(kind, {})


def _compile(
    definition: Definition, catalog: Catalog, functions: FunctionRegistry, problems: Problems
) -> Capture | None:
    data = definition.data
    where = definition.location
    entity = target_entity(data["entity"], definition.pack, catalog, problems, where("entity"))
    if entity is None:
        return None
    before = len(problems.items)
    if definition.kind == "form":
        fields = tuple(data["fields"])
        paths: dict[str, str] = {}
        for index, name in enumerate(fields):
            _check_writable(entity, name, problems, where("fields", index))
    else:
        paths = dict(data["map"])
        fields = tuple(paths)
        for name in fields:
            _check_writable(entity, name, problems, where("map", name))
    for index, name in enumerate(data.get("required", ())):
        if name not in fields:
            problems.add(where("required", index), f"required field {name!r} is not one the {definition.kind} accepts")
    for key in ("values", "defaults"):
        for name, value in (data.get(key) or {}).items():
            _check_value(entity, catalog, name, value, problems, where(key, name))
    honeypot = data.get("honeypot")
    if honeypot is not None and (honeypot in entity.fields or honeypot in fields):
        problems.add(where("honeypot"), f"the honeypot {honeypot!r} must not be a field of {entity.name}")
    if data.get("rate_limit"):
        try:
            parse_limit(data["rate_limit"])
        except ValueError:
            problems.add(where("rate_limit"), f"{data['rate_limit']!r} is not a rate like '5 per minute'")
    dedupe = data.get("dedupe") or {}
    rule_names = {r.name for r in entity.duplicates}
    for index, name in enumerate(dedupe.get("rules", ())):
        if name not in rule_names:
            problems.add(where("dedupe", "rules", index), f"{entity.name} has no duplicate rule {name!r}")
    match = _match(definition, entity, catalog, functions, problems, dedupe.get("match"))
    if len(problems.items) > before:
        return None
    return Capture(
        kind=definition.kind,
        name=definition.name,
        entity=entity.name,
        fields=fields,
        paths=paths,
        required=tuple(data.get("required", ())),
        values=dict(data.get("values") or {}),
        defaults=dict(data.get("defaults") or {}),
        honeypot=honeypot,
        rate_limit=data.get("rate_limit"),
        rules=tuple(dedupe["rules"]) if "rules" in dedupe else None,
        match=match,
        on_duplicate=dedupe.get("on_duplicate", "skip"),
        message=data.get("message"),
        label=data.get("label"),
        secret_env=data.get("secret_env"),
        link_ttl=parse_duration((data["record_link"] or {}).get("expires_after", "30d"))
        if "record_link" in data
        else None,
        embed=_embed(data.get("embed")),
    )


def _embed(value: Any) -> bool | tuple[str, ...] | None:
    if value is True:
        return True
    return tuple(value) if value else None


def _check_writable(entity: EntityDef, name: str, problems: Problems, where: str) -> None:
    fd = entity.fields.get(name)
    if fd is None:
        problems.add(where, f"{entity.name} has no field {name!r}")
    elif fd.readonly or fd.type in NOT_CAPTURED:
        problems.add(where, f"{entity.name}.{name} cannot be filled by a submission ({fd.type}, read-only or computed)")


def _check_value(entity: EntityDef, catalog: Catalog, name: str, value: Any, problems: Problems, where: str) -> None:
    fd = entity.fields.get(name)
    if fd is None:
        problems.add(where, f"{entity.name} has no field {name!r}")
        return
    if fd.readonly or fd.type in NOT_CAPTURED:
        problems.add(where, f"{entity.name}.{name} cannot be set by a submission")
        return
    from marshmallow import ValidationError as SchemaError

    try:
        marshmallow_field(fd, catalog).deserialize(value)
    except SchemaError as exc:
        messages = exc.messages if isinstance(exc.messages, list) else [str(exc.messages)]
        problems.add(where, f"{entity.name}.{name}: {' '.join(str(m) for m in messages)}")


def _match(
    definition: Definition,
    entity: EntityDef,
    catalog: Catalog,
    functions: FunctionRegistry,
    problems: Problems,
    source: str | None,
) -> Expression | None:
    """``dedupe.match``: a condition over existing records, ``$input`` being the submission
    (the entity's shape, so ``$input.email`` is type-checked like ``email``)."""
    if source is None:
        return None
    try:
        return compile_expression(
            source,
            entity,
            catalog,
            functions=functions,
            where=definition.where("dedupe", "match"),
            sql=True,
            expect="bool",
            variables={"input": entity},
        )
    except DslError as exc:
        problems.add(definition.location("dedupe", "match"), exc.detail.replace("\n", "\n    "))
        return None
