"""Record actions written in packs: ``actions/*.yaml`` documents, run by
``POST /api/v1/ENTITY/ID/actions/NAME`` like workflow transitions.

```yaml
actions:
  - name: convert
    entity: inquiry
    label: Convert
    roles: [sales_rep, sales_manager]        # admins always may; default: whoever may change it
    when: 'status != "converted"'           # else 409 with the message
    message: This inquiry is already converted.
    input:                                   # the body: field definitions, validated like a record
      client: {type: link, to: client}
    do:                                      # ordinary steps; create/find_or_create bind with as:
      - find_or_create: {entity: client, as: client, match: ['id == $input.client', ...], values: {...}}
      - create: {entity: deal, as: deal, values: {client: '=$client', name: '=company'}}
      - set: {status: converted, converted_deal: '=$deal'}
```

The steps run for the caller in one write transaction through the data-access layer, as
automation does (validated, audited with the source ``action:NAME``, seen by rules): a
failing step rolls back everything. The record's history gets an ``action`` entry with the
action's name, the body's values and the optional ``comment``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import Schema

from engine.automation.actions import Step, Target, compile_actions, run_steps
from engine.automation.definitions import Definition, collect
from engine.automation.events import Event
from engine.automation.model import Automation, BaseComponent
from engine.automation.record_actions import read_body
from engine.automation.values import Compiler
from engine.dsl import Expression
from engine.dsl.functions import FunctionRegistry
from engine.errors import Conflict, FieldError, NotFound, PermissionDenied, ValidationError
from engine.meta.catalog import Catalog
from engine.meta.model import FIELD_TYPES, EntityDef, FieldDef, Origin
from engine.meta.problems import Problems
from engine.meta.schema_check import iter_errors
from engine.storage.codec import to_json
from engine.storage.derivation import label_text
from engine.storage.validation import build_schema, load_input
from engine.storage.writing import apply_defaults, check_references, check_required

#: field types an action's input cannot have (rows, generated or secret values)
NO_INPUT_TYPES = ("table", "autonumber", "secret")


@dataclass
class PackAction:
    """One compiled action document; called as the record action's handler."""

    name: str
    entity: EntityDef
    label: Any
    roles: frozenset[str]
    when: Expression | None
    message: Any
    input: EntityDef
    schema: Schema
    steps: list[Step]
    #: what the caller needs on the record (``run_action`` checks it): update or read
    permission: str = "update"
    #: the body is the action's input, not values for the record's fields: an input named
    #: like a field the caller may not write is no write of it (the steps write with full rights)
    body_writes_fields = False

    @property
    def source(self) -> str:
        return f"action:{self.name}"

    def __call__(self, run: Any, entity: EntityDef, record_id: str, body: dict[str, Any]) -> None:
        actor = run.actor
        if self.roles and not actor.is_admin and not self.roles & actor.roles:
            raise PermissionDenied(f"Only the roles {', '.join(sorted(self.roles))} may run the action {self.name!r}")
        comment, given = read_body(body, tuple(self.input.fields), self.name)
        values = self.read_input(run, given)
        current = run.fetch(entity, record_id)
        if current is None:
            raise NotFound(f"No {entity.name} with id {record_id!r}")
        variables: dict[str, Any] = {"input": values}
        if self.when is not None:
            env = run.env(entity, current)
            env.vars = variables
            if not self.when.holds(env):
                detail = label_text(self.message) if self.message else f"The action {self.name!r} is not possible now"
                raise Conflict(detail, [FieldError("(record)", f"Needs: {self.when.source}")])
        changes: dict[str, list[Any]] = {"action": [None, self.name]}
        changes.update({f"input.{k}": [None, _json(v)] for k, v in values.items() if v not in (None, [])})
        if comment:
            changes["comment"] = [None, comment]
        run.audit(entity.name, record_id, "action", changes)
        event = Event("action", entity, record_id, current, None, actor, name=self.name)
        run_steps(run, self.steps, Target(entity, record_id, event, self.source, variables))

    def openapi_body(self, entity: EntityDef, catalog: Catalog) -> dict[str, Any]:
        """The body's JSON Schema for the OpenAPI document: the input fields and a comment."""
        props: dict[str, Any] = {"comment": {"type": "string", "description": "recorded in the record's history"}}
        props.update({name: input_schema(fd) for name, fd in self.input.fields.items()})
        body: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
        required = [name for name, fd in self.input.fields.items() if fd.required]
        if required:
            body["required"] = required
        return body

    def read_input(self, run: Any, given: dict[str, Any]) -> dict[str, Any]:
        """The body's values, validated like a record's (422 with one error per field)."""
        try:
            values = load_input(self.schema, self.input, given)
        except ValidationError as exc:  # it names the synthetic entity ("The $input is not valid")
            raise ValidationError(f"The input of the action {self.name!r} is not valid", exc.errors) from None
        apply_defaults(self.input, values, run.snap.catalog)
        errors = check_required(self.input, values) + check_references(run.conn, run.snap, self.input, values)
        if errors:
            raise ValidationError(f"The input of the action {self.name!r} is not valid", errors)
        return {name: values.get(name) for name in self.input.fields}


#: JSON Schema of an input value by field type (the rest are text)
_JSON_TYPES: dict[str, dict[str, Any]] = {
    "int": {"type": "integer"},
    "rating": {"type": "integer"},
    "duration": {"type": ["integer", "string"], "description": "seconds, or a duration such as 2d 4h"},
    "decimal": {"type": ["number", "string"]},
    "money": {"type": ["number", "string"]},
    "percent": {"type": ["number", "string"]},
    "bool": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "datetime": {"type": "string", "format": "date-time"},
    "links": {"type": "array", "items": {"type": "string"}},
    "multi_enum": {"type": "array", "items": {"type": "string"}},
    "json": {},
}


def input_schema(fd: FieldDef) -> dict[str, Any]:
    """A plain JSON Schema of one input field (nullable unless required)."""
    schema = dict(_JSON_TYPES.get(fd.type, {"type": "string"}))
    if fd.type == "enum":
        schema["enum"] = [o.value for o in fd.enum_options]
    if fd.type == "multi_enum":
        schema["items"] = {"enum": [o.value for o in fd.enum_options]}
    if fd.target is not None:
        schema["description"] = f"the id of a {fd.target}"
    if not fd.required and "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = [*kinds, "null"]
    return schema


def _json(value: Any) -> Any:
    return [to_json(v) for v in value] if isinstance(value, list) else to_json(value)


class PackActions(BaseComponent):
    name = "pack_actions"

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        found: dict[str, PackAction] = {}
        for definition in collect(catalog, "action", problems):
            action = compile_action(definition, catalog, functions, problems, automation)
            if action is None:
                continue
            automation.register_action(action.entity.name, action.name, action, problems, definition.location("name"))
            found[definition.name] = action
        automation.parts[self.name] = found


def compile_action(
    definition: Definition, catalog: Catalog, functions: FunctionRegistry, problems: Problems, automation: Automation
) -> PackAction | None:
    data = definition.data
    c = Compiler(catalog, functions, problems, definition, automation)
    entity = c.entity(data["entity"], "entity")
    inputs, inputs_ok = input_entity(c, data.get("input") or {})
    if entity is None:
        return None
    # a bad input field is reported; the steps are still checked (against the good fields)
    c.variables["input"] = inputs
    when = c.condition(data.get("when"), entity, "when", updates=False)
    steps = compile_actions(c, data["do"], entity, "do")
    if not inputs_ok:
        return None
    return PackAction(
        data["name"],
        entity,
        data.get("label") or data["name"].replace("_", " ").capitalize(),
        frozenset(data.get("roles", [])),
        when,
        data.get("message"),
        inputs,
        build_schema(inputs, catalog),
        steps,
        data.get("permission", "update"),
    )


def input_entity(c: Compiler, specs: dict[str, Any]) -> tuple[EntityDef, bool]:
    """The action's ``input`` as an entity of its own (``$input``): what the body may hold;
    and whether every field was valid (the bad ones are reported and left out)."""
    fields: dict[str, FieldDef] = {}
    ok = True
    for name, spec in specs.items():
        kind = spec.get("type")
        if kind not in FIELD_TYPES or kind in NO_INPUT_TYPES:
            usable = ", ".join(t for t in FIELD_TYPES if t not in NO_INPUT_TYPES)
            c.fail(f"an input field has one of the types {usable}", "input", name, "type")
            ok = False
            continue
        problems = list(iter_errors(f"fields/{kind}", spec))
        for path, message in problems:
            c.fail(message, "input", name, *path)
        fd = FieldDef(name, kind, dict(spec), Origin(c.definition.location("input", name)), c.definition.pack)
        if fd.is_computed:
            c.fail("an input field cannot be computed", "input", name, "compute")
            problems.append(((), ""))
        if fd.target is not None and fd.target not in c.catalog.entities:
            c.fail(f"links to unknown entity {fd.target!r}", "input", name, "to")
            problems.append(((), ""))
        if problems:
            ok = False
            continue
        fields[name] = fd
    origin = Origin(c.definition.location("input"))
    return EntityDef("$input", "Input", c.definition.pack, origin, fields, audit=False), ok


COMPONENT = PackActions()
