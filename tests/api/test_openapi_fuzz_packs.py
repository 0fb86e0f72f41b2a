"""Fuzz the whole API of every shipped pack, as an administrator and as a sales rep.

The workspace holds every pack under ``metadata/`` and one user per demo role (the
``sales_workspace`` fixture). schemathesis draws requests from the OpenAPI document each
user gets (``GET /api/v1/openapi.json``) and sends them in-process, in two ways:

- per operation: valid and invalid requests (``TESSERA_FUZZ_EXAMPLES`` of each, default 2);
- stateful: scenarios that follow the document's links (engine.api.openapi_links): create a
  record, then read, change, delete and restore it, read what a list returned.

Before fuzzing, the administrator makes one simple record of every entity it can (its
required fields, else every field, set); requests then mostly reuse those records for link
fields and a create's missing fields, so creates succeed and scenarios reach real records.

Every answer must be free of server errors and agree with the document (a documented status
code, content type and body schema). The sales rep goes first (the administrator's fuzzing
may change permissions): every record of an entity whose rows the rep may not read (its
``permissions`` give ``sales_rep`` no read, or ``own``, ``team`` or ``account`` scope) that
the administrator made and that is not the rep's must never appear as an object in any JSON
answer to the rep: lists, reads, related lists, timelines, searches, expanded links. The rep
also reads each of them directly and must get 403 or 404.

Bounds: by default each user fuzzes a sample of its operations (every ``STRIDE``-th (20th)
operation of its document sorted by label, from an offset drawn per run: about 40 of the
admin's 962 and the rep's 772 operations) and runs 16 stateful scenarios over the record
operations of a sample of the entities the seeding made a record of (every
``ENTITY_STRIDE``-th (6th)). Measured on this 2-core machine while other sessions loaded it
(load 7-15): both databases with ``-n 2`` in 400 s wall (test calls: SQLite 186 s,
PostgreSQL 113 s) for 102 s of CPU; on an idle machine that is about 1.5 minutes.
``TESSERA_FUZZ_FULL=1`` fuzzes every operation (3 examples unless ``TESSERA_FUZZ_EXAMPLES``
says otherwise) and runs 30 scenarios per example over every seeded entity: run it alone, on
one database (``-k sqlite``). Deep run, SQLite, ``TESSERA_FUZZ_FULL=1 TESSERA_FUZZ_EXAMPLES=2``:
sales_rep 771 operations, 3077 requests, 0 failing, stateful 1521 requests; admin 961
operations, 3837 requests, 0 failing, stateful 1527 requests; 12.8 minutes wall (6.7 of CPU)
under load. That run fuzzed per operation first, and its sign-out (``POST /api/v1/auth/logout``)
revoked each user's token: the later operations (the rest of the POSTs, the PUTs) answered 401
and no stateful scenario reached a record. Sign-out now gets a token of its own; over every
entity at once the administrator's scenarios reach few records (1 operation on a linked
record in 409 requests of 60 scenarios), the sampled default run one to nine.

schemathesis' pytest integration does not run under pytest 9 (tests/api/test_openapi_fuzz.py
says why), so its Python API drives the operations and state machines here.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Flaky, Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.transport import Response
from schemathesis.generation import GenerationMode

from engine.security.permissions import scope_of
from engine.workspace import Workspace
from tests.conftest import PASSWORD
from tests.sales.conftest import api_client, sales_workspace  # noqa: F401 - the fixtures

RESTRICTED = "sales_rep"
FULL = os.environ.get("TESSERA_FUZZ_FULL") == "1"
MAX_EXAMPLES = int(os.environ.get("TESSERA_FUZZ_EXAMPLES", "3" if FULL else "2"))
STRIDE = 1 if FULL else 20  # operations: every STRIDE-th one
ENTITY_STRIDE = 1 if FULL else 6  # stateful scenarios: every ENTITY_STRIDE-th entity
SCENARIOS = 30 * MAX_EXAMPLES if FULL else 8 * MAX_EXAMPLES  # per user, up to 8 steps each
ATTEMPTS = ENTITY_STRIDE  # stateful runs, each over the next sample, while none reached a record
SIGN_OUT = "POST /api/v1/auth/logout"  # revokes the token it is sent with
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PER_OPERATION = settings(
    max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
STATEFUL = settings(
    max_examples=SCENARIOS,
    stateful_step_count=8,
    phases=[Phase.generate],
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
#: a value for each field type, so an administrator can make a record of every entity
SAMPLE_VALUES: dict[str, Any] = {
    "string": "Fuzz seed",
    "text": "Made by the fuzz test",
    "secret": "s3cret",
    "email": "seed@example.com",
    "url": "https://example.com/seed",
    "phone": "+41 44 000 00 00",
    "int": 1,
    "rating": 3,
    "decimal": "1.5",
    "money": "10.00",
    "percent": "5",
    "duration": 60,
    "bool": True,
    "date": "2026-06-01",
    "datetime": "2026-06-01T09:00:00+00:00",
    "table": [],
}


def sample_value(fd: Any, made: dict[str, list[str]], admin_id: str) -> Any:
    """A valid value of a required field; None when none can be given (no target record yet)."""
    if fd.type in ("enum", "multi_enum"):
        first = fd.enum_options[0].value
        return first if fd.type == "enum" else [first]
    if fd.type in ("int",) and fd.opt("min") is not None:
        return fd.opt("min")
    if fd.type == "user":
        return admin_id
    if fd.type in ("link", "links", "team"):
        target = made.get(fd.target or "team")
        if not target:
            return None
        return [target[0]] if fd.type == "links" else target[0]
    return SAMPLE_VALUES.get(fd.type)


def seed_records(ws: Workspace, admin: Any) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """One record, made by the administrator, of every entity a simple record can be made of:
    its required fields, else every field, set (validation rules ask for either); the ids
    and the bodies that made them."""
    catalog = ws.snapshot().catalog
    admin_id = admin.get("/api/v1/auth/me").get_json()["id"]
    made: dict[str, list[str]] = {"user": [admin_id]}
    bodies: dict[str, dict[str, Any]] = {}
    for _round in range(3):  # a link's target may come later in the catalog
        for entity in catalog.api_entities():
            if entity.name in made or entity.system:
                continue
            for every_field in (False, True):
                writable = [fd for fd in entity.fields.values() if not fd.readonly and fd.type != "file"]
                body = {fd.name: sample_value(fd, made, admin_id) for fd in writable if every_field or fd.required}
                if not every_field and None in body.values():
                    continue
                body = {name: value for name, value in body.items() if value is not None}
                answer = admin.post(f"/api/v1/{entity.name}", json=body)
                if answer.status_code == 201:
                    made[entity.name], bodies[entity.name] = [answer.get_json()["id"]], body
                    break
    return made, bodies


def forbidden_records(ws: Workspace, admin: Any, role: str, user_id: str) -> dict[str, str]:
    """Ids of the records ``role``'s user may not read: of entities its permissions close
    (no read, or ``own``/``team``/``account`` scope) whose owner fields are not the user;
    each with its entity's name."""
    catalog = ws.snapshot().catalog
    closed = []
    for entity in catalog.api_entities():
        if entity.system and not entity.permissions:
            continue  # every signed-in user reads the engine's own entities
        grant = entity.permissions.get(role) or {}
        if scope_of(grant.get("read", "none")) in ("none", "own", "team", "account"):
            closed.append(entity)
    ids: dict[str, str] = {}
    for entity in closed:
        owners = ["owner", *entity.owner_fields]
        for trash in ("false", "true"):
            query = f"/api/v1/{entity.name}?limit=500&trash={trash}"
            for record in admin.get(query).get_json()["data"]:
                if all(_ref(record.get(name)) != user_id for name in owners):
                    ids[record["id"]] = entity.name
    return ids


def _ref(value: Any) -> Any:
    return value.get("id") if isinstance(value, dict) else value


def leak_check(forbidden: dict[str, str]) -> Any:
    """A schemathesis check: no record with one of ``forbidden``'s ids in a JSON answer."""

    def no_forbidden_record(ctx: Any, response: Any, case: Any) -> None:
        if "json" not in response.headers.get("content-type", [""])[0]:
            return
        try:
            body = response.json()
        except ValueError:
            return
        leaked = sorted(found_records(body) & forbidden.keys())
        assert not leaked, f"{case.operation.label} answered {RESTRICTED} with records it may not read: {leaked}"

    return no_forbidden_record


def found_records(value: Any) -> set[str]:
    """The ids of every object with an ``id`` in a JSON value (records, expanded links)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("id"), str):
                found.add(item["id"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


class KnownLinks:
    """Mostly (some requests stay as drawn) completes a create's body with the fields of the
    body that made a record of the entity, and points link values at records that exist, so
    creates and changes get past "is required" and "unknown record" and scenarios go deeper."""

    def __init__(
        self, ws: Workspace, records: dict[str, list[str]], bodies: dict[str, dict[str, Any]], seed: int
    ) -> None:
        kinds = {"user": "user", "team": "team"}
        self.fields = {
            entity.name: {"owner": "user"}
            | {
                fd.name: fd.target or kinds[fd.type]
                for fd in entity.fields.values()
                if fd.type in ("link", "links", *kinds)
            }
            for entity in ws.snapshot().catalog.entities.values()
        }
        self.records, self.bodies, self.rnd = records, bodies, random.Random(seed)

    def __call__(self, case: Any) -> None:
        parts = case.operation.path.split("/")
        rows = case.body if isinstance(case.body, list) else [case.body]
        for row in rows:
            if not isinstance(row, dict) or len(parts) < 4:
                continue
            if case.method.lower() == "post" and len(parts) == 4 and self.rnd.random() < 0.8:
                row.update({k: v for k, v in self.bodies.get(parts[3], {}).items() if row.get(k) is None})
            for name, target in self.fields.get(parts[3], {}).items():
                value, known = row.get(name), self.records.get(target)
                if known and isinstance(value, (str, list)) and value and self.rnd.random() < 0.8:
                    row[name] = [self.rnd.choice(known)] if isinstance(value, list) else self.rnd.choice(known)


def fuzz_operation(
    operation: Any, mode: GenerationMode, headers: dict[str, str], checks: list[Any], known: KnownLinks
) -> int:
    """Run one operation in one mode; the number of requests sent."""
    sent = 0

    @PER_OPERATION
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal sent
        sent += 1
        known(case)
        case.call_and_validate(headers=headers, checks=checks)

    try:
        run()
    except Unsatisfiable:  # nothing invalid can be drawn for some operations
        return 0
    return sent


def fuzz_operations(
    schema: Any,
    headers: dict[str, str],
    checks: list[Any],
    rnd: random.Random,
    known: KnownLinks,
    spare_headers: dict[str, str],
) -> tuple[int, int, list[str]]:
    """Fuzz every ``STRIDE``-th operation; (operations, requests, failures). Signing out
    uses ``spare_headers`` (a token of its own): with ``headers`` it would revoke the user's
    token, and every later request of the user would answer 401 (a run whose sample held it
    reached no record, and its later operations were fuzzed signed out)."""
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=lambda op: op.label)
    chosen = operations[rnd.randrange(STRIDE) :: STRIDE]
    failures, sent = [], 0
    for operation in chosen:
        sent_with = spare_headers if operation.label == SIGN_OUT else headers
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                sent += fuzz_operation(operation, mode, sent_with, checks, known)
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a FailureGroup
                failures.append(f"{mode.value} {operation.label}:\n{exc}")
    return len(chosen), sent, failures


def fuzz_workflows(
    schema: Any, headers: dict[str, str], checks: list[Any], rnd: random.Random, known: KnownLinks, creatable: list[str]
) -> tuple[int, int, list[str]]:
    """Stateful scenarios over the record operations of every ``ENTITY_STRIDE``-th entity
    the user may create; (requests, successful operations on a linked record, failures).
    While no scenario reached a record, again over the next sample of entities (a sample's
    scenarios reach one to nine records per run)."""
    offset = rnd.randrange(ENTITY_STRIDE)
    sent = linked = 0
    failures: list[str] = []
    for attempt in range(ATTEMPTS):
        entities = creatable[(offset + attempt) % ENTITY_STRIDE :: ENTITY_STRIDE]
        pattern = rf"^/api/v1/({'|'.join(map(re.escape, entities))})(/\{{id\}}(/.*)?)?$"
        machine = schema.include(path_regex=pattern).as_state_machine()

        class Workflow(machine):  # type: ignore[misc, valid-type]
            def before_call(self, case: Any) -> None:
                known(case)

            def get_call_kwargs(self, case: Any) -> dict[str, Any]:
                nonlocal sent
                sent += 1
                return {"headers": headers}

            def after_call(self, response: Any, case: Any) -> None:
                nonlocal linked
                super().after_call(response, case)
                linked += "{id}" in case.operation.path and response.status_code < 300

            def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
                try:  # collected, not raised: a replay would not meet the same records again
                    case.validate_response(response, checks=checks, headers=headers, recorder=self.recorder)
                except (Exception, BaseExceptionGroup) as exc:
                    failures.append(f"stateful {case.operation.label}:\n{exc}")

        with contextlib.suppress(Flaky):  # records made by earlier scenarios change what later ones draw
            Workflow.run(settings=STATEFUL)
        if linked:
            break
    return sent, linked, failures


def fuzz_as(
    app: Any, headers: dict[str, str], checks: list[Any], known: KnownLinks, creatable: list[str], label: str
) -> list[str]:
    """Fuzz stateful, then per operation, as ``label``'s user (``label@test.dev``); the failures."""
    seed = random.randrange(1 << 30)
    rnd = random.Random(seed)
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=headers)
    stateful, linked, stateful_failures = fuzz_workflows(schema, headers, checks, rnd, known, creatable)
    spare = signed_in(app, label)
    operations, sent, failures = fuzz_operations(schema, headers, checks, rnd, known, spare)
    print(
        f"{label} (offsets from seed {seed}): {operations} operations, {sent} requests, {len(failures)} failing; "
        f"stateful: {stateful} requests, {linked} on linked records, {len(stateful_failures)} failing"
    )
    assert sent >= operations * MAX_EXAMPLES and stateful >= SCENARIOS  # the fuzzer really sent requests
    # the administrator's sampled scenarios follow links to records that exist (the rep's creates
    # rarely get past the validation rules; over every entity (FULL) scenarios seldom reach one)
    assert linked or stateful_failures or label == RESTRICTED or FULL
    return [f"{label}: {failure}" for failure in failures + stateful_failures]


def signed_in(app: Any, role: str) -> dict[str, str]:
    """The headers of a new bearer token of ``role``'s user."""
    reply = app.test_client().post("/api/v1/auth/token", json={"email": f"{role}@test.dev", "password": PASSWORD})
    assert reply.status_code == 200, reply.get_json()
    return {"Authorization": f"Bearer {reply.get_json()['token']}"}


def test_every_pack_api_conforms_and_keeps_records_in_scope(sales_workspace: Any, api_client: Any) -> None:  # noqa: F811
    ws = sales_workspace()
    admin, rep = api_client(ws, "admin"), api_client(ws, RESTRICTED)
    made, bodies = seed_records(ws, admin)
    rep_id = rep.get("/api/v1/auth/me").get_json()["id"]
    forbidden = forbidden_records(ws, admin, RESTRICTED, rep_id)
    assert len(made) >= 40 and len(set(forbidden.values())) >= 10, (sorted(made), forbidden)  # the check has teeth
    for record_id, entity in forbidden.items():  # the rep reads none of them directly
        assert rep.get(f"/api/v1/{entity}/{record_id}").status_code in (403, 404), (entity, record_id)
    record_id, entity = next(iter(forbidden.items()))  # the check catches such a record in an answer
    with pytest.raises(AssertionError, match="may not read"):
        answer = Response.from_any(admin.get(f"/api/v1/{entity}/{record_id}"))
        leak_check(forbidden)(None, answer, SimpleNamespace(operation=SimpleNamespace(label=entity)))

    links = rep.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/lead"]["post"]["responses"]["201"]["links"]
    assert {"get_lead", "update_lead", "delete_lead", "restore_lead", "history_lead"} <= links.keys()
    assert links["update_lead"]["parameters"] == {"path.id": "$response.body#/id"}

    app = rep.client.application
    # the rep first: the administrator's fuzzing may change permissions (overlays)
    readable = {name: [i for i in ids if i not in forbidden] for name, ids in made.items()}
    seed = random.randrange(1 << 30)
    entities = ws.snapshot().catalog.entities
    creatable = sorted(
        name for name in made if scope_of(entities[name].permissions.get(RESTRICTED, {}).get("create")) != "none"
    )
    rep_known = KnownLinks(ws, readable, bodies, seed)
    failures = fuzz_as(app, rep.headers, [*CHECKS, leak_check(forbidden)], rep_known, creatable, RESTRICTED)
    failures += fuzz_as(app, admin.headers, CHECKS, KnownLinks(ws, made, bodies, seed), sorted(made), "admin")
    assert not failures, f"{len(failures)} failing runs:\n\n" + "\n\n".join(failures)
