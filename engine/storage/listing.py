"""List requests: filters, sorting and keyset pagination, validated against the entity.

A ``ListQuery`` is built from plain parameters (HTTP query strings, CLI options) and turned
into SQL by ``engine.storage.reading``. Sorting is always completed by ``id`` so pages are
stable; nulls sort last in both directions on every backend. The cursor carries the last
row's sort values, so the next page is a range scan on the index, not an OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from engine.errors import BadRequest
from engine.meta.model import SYSTEM_FIELDS, EntityDef
from engine.storage.codec import cursor_value, parse_query_value, to_json

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
RESERVED_PARAMS = {
    "filter",
    "q",
    "sort",
    "limit",
    "offset",
    "cursor",
    "fields",
    "expand",
    "count",
    "count_limit",
    "trash",
}
MAX_SEARCH = 200  # characters of q=
MAX_COUNT_LIMIT = 1_000_000
UNSORTABLE = {"table", "links", "json", "multi_enum", "secret", "text"}
SYSTEM_TYPES = {
    "id": "id",
    "version": "version",
    "created_at": "datetime",
    "updated_at": "datetime",
    "created_by": "user",
    "updated_by": "user",
    "owner": "user",
}


@dataclass
class ListQuery:
    equals: list[tuple[str, Any]] = field(default_factory=list)
    filter: str | None = None
    q: str | None = None  # words to find in the search fields, best matches first
    ranked: int | None = None  # with q: rank only the first this many matches found (global search)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    cursor: list[Any] | None = None
    fields: list[str] | None = None
    expand: list[str] = field(default_factory=list)
    count: bool = False
    count_limit: int | None = None  # count at most this many (``total_capped`` beyond)
    trash: bool = False

    def sort_spec(self) -> str:
        return ",".join(("-" if desc else "") + name for name, desc in self.sort)


def field_type(entity: EntityDef, name: str) -> str | None:
    if name in SYSTEM_TYPES:
        return SYSTEM_TYPES[name]
    fd = entity.fields.get(name)
    return fd.type if fd else None


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _int(params: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not lo <= int(raw) <= hi:  # not "²"
        raise BadRequest(f"{name} must be a whole number from {lo} to {hi}")
    return int(raw)


def _bool(params: Mapping[str, str], name: str) -> bool:
    raw = (params.get(name) or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise BadRequest(f"{name} must be true or false")
    return raw in ("true", "1")


def parse_sort(entity: EntityDef, text: str | None) -> list[tuple[str, bool]]:
    sort: list[tuple[str, bool]] = []
    for part in _names(text or ""):
        desc = part.startswith("-")
        name = part[1:] if part[:1] in ("-", "+") else part  # one sign: "--name" names no field
        kind = field_type(entity, name)
        if kind is None:
            raise BadRequest(f"Cannot sort by {name!r}: {entity.name} has no such field")
        fd = entity.fields.get(name)
        if kind in UNSORTABLE or (fd is not None and not fd.has_column):
            raise BadRequest(f"Cannot sort by {name!r}: {kind} fields are not sortable")
        if any(name == s for s, _ in sort):
            raise BadRequest(f"{name!r} appears twice in sort")
        sort.append((name, desc))
    if not sort:
        default = entity.default_sort or "-created_at"
        sort = [(default.lstrip("-"), default.startswith("-"))]
    return sort


def encode_cursor(query: ListQuery, values: list[Any]) -> str:
    payload = json.dumps({"s": query.sort_spec(), "v": [to_json(v) for v in values]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(entity: EntityDef, query: ListQuery, text: str) -> list[Any]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if payload["s"] != query.sort_spec() or len(payload["v"]) != len(query.sort) + 1:
            raise BadRequest("The cursor belongs to a different sort order; start again without it")
        names = [name for name, _ in query.sort] + ["id"]
        return [cursor_value(field_type(entity, n) or "string", v) for n, v in zip(names, payload["v"], strict=True)]
    except BadRequest:
        raise
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("The cursor is not valid") from None


def parse_record_params(
    entity: EntityDef, params: Mapping[str, str], hidden: Set[str] = frozenset()
) -> tuple[list[str] | None, list[str]]:
    """``fields=`` and ``expand=`` of a single-record read; anything else is refused."""
    unknown = set(params) - {"fields", "expand"}
    if unknown:
        raise BadRequest(f"Unknown parameter(s): {', '.join(sorted(unknown))}")
    query = parse_list_params(entity, params, hidden)
    return query.fields, query.expand


def parse_list_params(entity: EntityDef, params: Mapping[str, str], hidden: Set[str] = frozenset()) -> ListQuery:
    """Validate list parameters (``sort``, ``limit``, ``FIELD=value``...) for ``entity``.

    Fields in ``hidden`` (those the reader may not see) are treated as unknown.
    """
    if hidden:
        entity = replace(entity, fields={k: v for k, v in entity.fields.items() if k not in hidden})
    count_limit = _int(params, "count_limit", 0, 1, MAX_COUNT_LIMIT) or None
    query = ListQuery(
        filter=params.get("filter") or None,
        q=" ".join((params.get("q") or "").split()) or None,
        sort=parse_sort(entity, params.get("sort")),
        limit=_int(params, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        offset=_int(params, "offset", 0, 0, 10_000_000),
        count=_bool(params, "count") or count_limit is not None,
        count_limit=count_limit,
        trash=_bool(params, "trash"),
    )
    if params.get("fields"):
        names = _names(params["fields"])
        unknown = [n for n in names if n not in entity.fields and n not in SYSTEM_FIELDS]
        if unknown:
            raise BadRequest(f"Unknown field(s) in fields=: {', '.join(unknown)}")
        query.fields = names
    if params.get("expand"):
        for name in _names(params["expand"]):
            fd = entity.fields.get(name)
            if fd is None or fd.type not in ("link", "user", "team"):
                raise BadRequest(f"Cannot expand {name!r}: it is not a link field of {entity.name}")
            query.expand.append(name)
    for name, raw in params.items():
        if name in RESERVED_PARAMS:
            continue
        kind = field_type(entity, name)
        fd = entity.fields.get(name)
        if kind is None:
            raise BadRequest(f"Unknown parameter or field {name!r}")
        if kind in UNSORTABLE or (fd is not None and not fd.has_column):
            raise BadRequest(f"Cannot filter on {name!r} by equality: use filter=")
        query.equals.append((name, parse_query_value(fd, name, raw)))
    if query.q is not None and len(query.q) > MAX_SEARCH:
        raise BadRequest(f"q must be at most {MAX_SEARCH} characters")
    if params.get("cursor"):
        if query.offset:
            raise BadRequest("Use either cursor or offset, not both")
        if query.q is not None:
            raise BadRequest("A search (q=) pages with offset, not cursor")
        query.cursor = decode_cursor(entity, query, params["cursor"])
    return query


def after_cursor(columns: Sequence[tuple[sa.ColumnElement[Any], bool]], values: list[Any]) -> sa.ColumnElement[bool]:
    """Rows strictly after ``values`` in the order of ``columns`` (nulls last, either way)."""
    clauses = []
    # typed parameters: SQLAlchemy refuses `column > True` (a yes/no sort key) as a literal
    bound = [
        None if v is None else sa.bindparam(None, v, type_=c.type) for (c, _), v in zip(columns, values, strict=True)
    ]
    for i, (column, desc) in enumerate(columns):
        value = bound[i]
        same = [(c.is_(None) if v is None else c == v) for (c, _), v in zip(columns[:i], bound[:i], strict=True)]
        if value is None:
            continue  # nothing sorts after null except other nulls, decided by later keys
        beyond = column < value if desc else column > value
        clauses.append(sa.and_(*same, sa.or_(beyond, column.is_(None))))
    return sa.or_(*clauses) if clauses else sa.false()


def order_by(columns: Sequence[tuple[sa.ColumnElement[Any], bool]]) -> list[Any]:
    out: list[Any] = []
    for column, desc in columns:
        term = column.desc() if desc else column.asc()
        out.append(term.nulls_last() if getattr(column, "nullable", True) else term)
    return out
