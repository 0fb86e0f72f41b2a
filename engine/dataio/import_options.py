"""What an import request asks for, checked before anything is kept or queued.

The HTTP API takes an import's options as form fields or query parameters (strings), a
job (``import_sheet``) as typed YAML values; :func:`parse_options` checks both by the same
rules and turns them into the keyword arguments of
:class:`engine.dataio.report.ImportOptions` and of :func:`engine.dataio.sources.read_table`,
and :func:`check_access` refuses at once what the import itself would refuse later, so a
wrong request is a problem+json answer rather than a failed job.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from engine.actor import Actor
from engine.errors import FieldError, NotFound, PermissionDenied, ValidationError
from engine.timezones import zone_named

#: import options (``ImportOptions`` fields) a request may give
OPTION_NAMES = (
    "mapping",
    "key",
    "dedupe",
    "dry_run",
    "partial",
    "rules",
    "batch_size",
    "source_detail",
    "defaults",
    "auto",
    "values",
    "date_order",
    "decimal",
    "timezone",
)
#: how the file is read (``read_table`` arguments)
READ_NAMES = ("delimiter", "encoding", "sheet")
DEDUPE_MODES = ("skip", "update", "flag")
DATE_ORDERS = ("dmy", "mdy")
DECIMALS = ("auto", ".", ",")
MAX_BATCH = 10_000


def parse_flag(value: str) -> bool | None:
    """A request's yes or no (``true``/``1``/``yes``, ``false``/``0``/``no``); None: neither."""
    return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}.get(value.lower())


class _Parser:
    """Reads options given as request strings (the HTTP API) or as typed values (a job's
    YAML arguments) by one set of rules, and collects every problem, so one answer lists
    them all."""

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw
        self.errors: list[FieldError] = []

    def refuse(self, name: str, message: str) -> None:
        self.errors.append(FieldError(name, message))

    def text(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            self.refuse(name, f"Must be text, not {value!r:.60}.")
            return None
        return value

    def flag(self, name: str) -> bool | None:
        value = self.raw.get(name)
        if isinstance(value, bool):
            return value
        if value is None or value == "":
            return None
        flag = parse_flag(value) if isinstance(value, str) else None
        if flag is None:
            self.refuse(name, f"Must be true or false, not {value!r:.60}.")
        return flag

    def choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        value = self.text(name)
        if value is not None and value not in allowed:
            self.refuse(name, f"Must be one of {', '.join(allowed)}, not {value!r:.60}.")
            return None
        return value

    def whole(self, name: str, low: int, high: int) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.refuse(name, f"Must be a whole number from {low} to {high:,}, not {value!r:.60}.")
            return None
        return value

    def json_object(self, name: str, example: str) -> dict[str, Any] | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # not JSON: refused below
                value = json.loads(value)
        if not isinstance(value, dict):
            self.refuse(name, f"Must be an object (in a request, JSON), e.g. {example}.")
            return None
        return value


def parse_options(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ImportOptions keyword arguments, read_table keyword arguments) from request strings
    or typed values; options not given are left out, so the importer's defaults apply.
    Raises ValidationError listing every option that is not valid."""
    p = _Parser(raw)
    mapping = p.json_object("mapping", '{"E-Mail": "email", "Notes": null}')
    if mapping is not None and not all(isinstance(v, str) or v is None for v in mapping.values()):
        p.refuse("mapping", "Maps column names to field names (null ignores a column).")
    values = p.json_object("values", '{"status": {"Open Deal": "qualified"}}')
    if values is not None and not all(isinstance(v, dict) for v in values.values()):
        p.refuse("values", "Maps a field to {cell text: stored value}.")
    timezone = p.text("timezone")
    if timezone is not None and zone_named(timezone) is None:
        p.refuse("timezone", f"Unknown time zone {timezone!r:.60}.")
    delimiter = p.text("delimiter")
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if delimiter is not None and len(delimiter) != 1:
        p.refuse("delimiter", "Must be one character (\\t for a tab).")
    options = {
        "mapping": mapping,
        "key": p.text("key"),
        "dedupe": p.choice("dedupe", DEDUPE_MODES),
        "dry_run": p.flag("dry_run"),
        "partial": p.flag("partial"),
        "rules": p.flag("rules"),
        "batch_size": p.whole("batch_size", 1, MAX_BATCH),
        "source_detail": p.text("source_detail"),
        "defaults": p.json_object("defaults", '{"source": "import"}'),
        "auto": p.flag("auto"),
        "values": values,
        "date_order": p.choice("date_order", DATE_ORDERS),
        "decimal": p.choice("decimal", DECIMALS),
        "timezone": timezone,
    }
    read = {"delimiter": delimiter, "encoding": p.text("encoding"), "sheet": p.text("sheet")}
    if p.errors:
        raise ValidationError("The import options are not valid", p.errors)
    return {k: v for k, v in options.items() if v is not None}, {k: v for k, v in read.items() if v is not None}


def check_access(ws: Any, actor: Actor, entity_name: str, options: dict[str, Any]) -> None:
    """Refuse at once what the import would refuse: an entity the actor cannot read (it does
    not exist for them), no ``import`` permission, a column mapped or a key on a field they
    cannot see (unknown) or may only read."""
    snap = ws.snapshot()
    entity = snap.api_entity(entity_name)
    access = ws.permissions.for_actor(snap, actor)
    if not access.can(entity, "read"):
        raise NotFound(f"There is no entity {entity_name!r}")
    if not access.can(entity, "import"):
        raise PermissionDenied(f"You may not import {entity.name} records")
    modes = access.field_modes(entity)
    errors = []
    targets = [(f"mapping.{column}", target) for column, target in (options.get("mapping") or {}).items()]
    targets += [(f"defaults.{name}", name) for name in options.get("defaults") or {}]
    if options.get("key"):
        targets.append(("key", options["key"]))
    for where, target in targets:
        if target is None:
            continue
        name = str(target).split(".", 1)[0]  # account.code: the link field account
        if name in ("id", "owner"):
            continue
        mode = modes.get(name)
        if mode is None:
            errors.append(FieldError(where, f"{entity.name} has no field {name!r}."))
        elif mode != "write" and where != "key":
            errors.append(FieldError(where, f"{name} is read-only for your role."))
    if errors:
        raise ValidationError("The import options are not valid", errors)
