"""A connector's mapping: where the rows are, how pages follow, which remote value feeds which field.

The mapping is YAML (or JSON) an administrator writes on the connector record::

    items: data                      # the rows' list in a page (a dotted path; default: the body)
    pagination: {style: page, param: page, size_param: per_page, size: 100}
                                     # or {style: next, path: links.next}; default: one page
    fields:                          # local field: remote path, or a map
      number: invoice_no
      amount: {path: total_cents, transform: '$value / 100'}
      account: {path: customer.id, link: erp_customer_id}  # the account whose field holds it
      currency: {value: EUR}         # a constant
    request:                         # extra query parameters; {cursor} is the cursor
      params: {q: "SELECT Id FROM Account WHERE LastModifiedDate > {cursor}"}
      cursor_start: "1970-01-01T00:00:00Z"
    push:                            # local changes sent out (direction push or both)
      fields: {summary: subject, details: description}     # remote path: local field
      create: POST                   # the collection; the answer's remote key is stored
      update: PATCH                  # RESOURCE/REMOTE_ID
      resource: /sobjects/Account    # default: the pull's resource
      id_path: id                    # where a create's answer holds the id (default remote_key)

Transforms are DSL expressions (engine.dsl) over ``$value``, the remote value, checked
against the local entity when the connector is saved. Remote paths are dotted
(``customer.id``) with list indexes (``lines[0].sku``). A row without a path leaves its field
alone (a partial row, e.g. from a webhook, changes only what it carries); an explicit
``null`` clears it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from engine.dsl import Expression, compile_expression
from engine.dsl.to_python import Env
from engine.dsl.types import ANY
from engine.errors import DslError, FieldError, ValidationError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
LINK_TYPES = ("link", "user", "team")
METHODS = ("POST", "PUT", "PATCH")


@dataclass(frozen=True)
class FieldMap:
    """One local field fed from the remote row."""

    name: str
    path: str | None = None
    transform: Expression | None = None
    #: for link fields: the target entity's field holding the remote value
    link: str | None = None
    value: Any = None


@dataclass(frozen=True)
class Pagination:
    style: str = "none"  # none | page | offset | next
    param: str = "page"
    size_param: str | None = None
    size: int | None = None
    path: str = "next"
    start: int = 1


@dataclass(frozen=True)
class Mapping:
    items: str | None = None
    pagination: Pagination = Pagination()
    fields: tuple[FieldMap, ...] = ()
    #: (remote path, local field) sent on push
    push: tuple[tuple[str, str], ...] = ()
    create_method: str = "POST"
    update_method: str = "PATCH"
    #: where pushes go when not the pull's ``resource`` (Salesforce: query vs sobjects)
    push_resource: str | None = None
    #: where a create's answer holds the new id, when not at ``remote_key``
    push_id_path: str | None = None


@dataclass(frozen=True)
class RequestSpec:
    """Extra query parameters of a pull; ``{cursor}`` in a value is the cursor (or ``cursor_start``)."""

    params: dict[str, str] = field(default_factory=dict)
    cursor_start: str | None = None


def parse_request(data: dict[str, Any]) -> RequestSpec:
    raw = data.get("request") or {}
    if (
        not isinstance(raw, dict)
        or set(raw) - {"params", "cursor_start"}
        or not isinstance(raw.get("params", {}), dict)
    ):
        raise _invalid("request is {params: {name: value with {cursor}}, cursor_start: VALUE}")
    params = {str(k): str(v) for k, v in (raw.get("params") or {}).items()}
    start = raw.get("cursor_start")
    if isinstance(start, dt.datetime | dt.date):  # an unquoted YAML timestamp: back to ISO text
        start = start.isoformat().replace("+00:00", "Z")
    if any("{cursor}" in v for v in params.values()) and start is None:
        raise _invalid("request.params use {cursor}: give request.cursor_start for the first run")
    return RequestSpec(params, None if start is None else str(start))


#: what :func:`dig` answers for a path the row does not have (the field is left alone)
MISSING: Any = object()


def dig(data: Any, path: str | None, missing: Any = None) -> Any:
    """The value at a dotted path (``a.b[0].c``); ``missing`` when a step is absent."""
    if not path:
        return data
    for name, index in _STEP.findall(path):
        if index:
            if not isinstance(data, list) or int(index) >= len(data):
                return missing
            data = data[int(index)]
        else:
            if not isinstance(data, dict) or name not in data:
                return missing
            data = data[name]
        if data is None:
            return None
    return data


def put(target: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path (``a.b``) in a nested dict, creating the maps on the way."""
    parts = path.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def parse_document(text: str | None) -> dict[str, Any]:
    """The mapping text as a map (YAML or JSON); a 422 on ``mapping`` when it is not one."""
    if not text or not text.strip():
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _invalid(f"The mapping is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _invalid("The mapping must be a map with items, pagination, request, fields and push")
    unknown = set(data) - {"items", "pagination", "fields", "push", "request"}
    if unknown:
        raise _invalid(f"Unknown mapping key(s): {', '.join(sorted(map(str, unknown)))}")
    return data


def _invalid(message: str) -> ValidationError:
    return ValidationError("The connector is not valid", [FieldError("mapping", message)])


def parse_pagination(data: dict[str, Any]) -> Pagination:
    raw = data.get("pagination") or {}
    if not isinstance(raw, dict) or raw.get("style", "none") not in ("none", "page", "offset", "next"):
        raise _invalid("pagination is {style: page|offset, param, size_param, size} or {style: next, path}")
    if raw.get("style") == "offset" and not raw.get("size"):
        raise _invalid("pagination with style offset needs a size")
    try:
        return Pagination(
            style=str(raw.get("style", "none")),
            param=str(raw.get("param", "offset" if raw.get("style") == "offset" else "page")),
            size_param=str(raw["size_param"]) if raw.get("size_param") else None,
            size=int(raw["size"]) if raw.get("size") is not None else None,
            path=str(raw.get("path", "next")),
            start=int(raw.get("start", 0 if raw.get("style") == "offset" else 1)),
        )
    except (TypeError, ValueError):
        raise _invalid("pagination's size and start are whole numbers") from None


def parse_mapping(text: str | None, entity: EntityDef, catalog: Catalog, functions: Any = None) -> Mapping:
    """Check and compile a connector's mapping for its local ``entity`` (422 on ``mapping``)."""
    data = parse_document(text)
    fields = data.get("fields") or {}
    if not isinstance(fields, dict):
        raise _invalid("fields is a map of local field: remote path")
    compiled = [_field(name, spec, entity, catalog, functions) for name, spec in fields.items()]
    parse_request(data)
    push = data.get("push") or {}
    if not isinstance(push, dict) or set(push) - {"fields", "create", "update", "resource", "id_path"}:
        raise _invalid("push is {fields: {remote path: local field}, create, update, resource, id_path}")
    pairs = push.get("fields") or {}
    if not isinstance(pairs, dict):
        raise _invalid("push.fields is a map of remote path: local field")
    for remote, local in pairs.items():
        if not isinstance(local, str) or (local not in entity.fields and local != "id"):
            raise _invalid(f"push.fields.{remote}: {entity.name} has no field {local!r}")
    methods = [str(push.get("create", "POST")).upper(), str(push.get("update", "PATCH")).upper()]
    if any(m not in METHODS for m in methods):
        raise _invalid(f"push.create and push.update are one of {', '.join(METHODS)}")
    return Mapping(
        items=str(data["items"]) if data.get("items") else None,
        pagination=parse_pagination(data),
        fields=tuple(compiled),
        push=tuple((str(k), str(v)) for k, v in pairs.items()),
        create_method=methods[0],
        update_method=methods[1],
        push_resource=str(push["resource"]) if push.get("resource") else None,
        push_id_path=str(push["id_path"]) if push.get("id_path") else None,
    )


def _field(name: Any, spec: Any, entity: EntityDef, catalog: Catalog, functions: Any) -> FieldMap:
    fd = entity.fields.get(str(name))
    if fd is None or not fd.has_column or fd.opt("compute"):
        raise _invalid(f"fields.{name}: {entity.name} has no stored field {name!r} to fill")
    if isinstance(spec, str):
        return FieldMap(fd.name, path=spec)
    if not isinstance(spec, dict) or not set(spec) <= {"path", "transform", "link", "value"}:
        raise _invalid(f"fields.{name}: a remote path, or {{path, transform, link, value}}")
    if "value" in spec:
        return FieldMap(fd.name, value=spec["value"])
    transform = None
    if spec.get("transform"):
        try:
            transform = compile_expression(
                str(spec["transform"]),
                entity,
                catalog,
                functions=functions,
                where=f"mapping of {name}",
                variables={"value": ANY},
            )
        except DslError as exc:
            raise _invalid(f"fields.{name}.transform: {exc.detail}") from None
    link = spec.get("link")
    if link is not None:
        target = catalog.entities.get(str(fd.opt("to") or fd.type)) if fd.type in LINK_TYPES else None
        if target is None or str(link) not in target.fields:
            raise _invalid(f"fields.{name}.link: name a field of the entity {name!r} links to")
    return FieldMap(fd.name, path=str(spec.get("path") or ""), transform=transform, link=link)


def remote_value(fm: FieldMap, row: Any, now: dt.datetime) -> Any:
    """The value a row gives a field, transformed (links are resolved by the caller);
    :data:`MISSING` when the row lacks the path (a partial row leaves the field alone)."""
    if fm.path is None:
        return fm.value
    value = dig(row, fm.path, MISSING)
    if value is MISSING:
        return MISSING
    if fm.transform is not None:
        env = Env({}, now=now, variables={"value": value})
        value = fm.transform.evaluate(env)
    return _plain(value)


def _plain(value: Any) -> Any:
    """DSL results as JSON input values (decimals as strings, dates as ISO text)."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if type(value).__name__ == "Decimal":
        return str(value)
    return value


def payload_text(row: Any) -> str:
    return json.dumps(row, sort_keys=True, default=str)
