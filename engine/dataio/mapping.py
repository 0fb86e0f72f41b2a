"""Which column fills which field: explicit maps, saved templates, and automatic matching.

A column maps to a field by name (``email``), or to a link field matched by one field of
the target (``account.code``: the account whose ``code`` is the cell). Columns nobody
maps are matched automatically to a field whose name or label (any language) reads the
same with case, accents, spaces and punctuation ignored ("E-Mail" = ``email``,
"Job title" = ``title``); what still matches nothing is listed as ignored in the report.

Templates are YAML files (examples in ``examples/imports/``)::

    entity: contact
    columns: {First Name: first_name, Email: email, Company Name: account, Lead Status: null}
    constants: {source: import}
    key: email
    dedupe: update
    auto: false
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.dataio.convert import NOT_IMPORTABLE, fold, label_texts
from engine.errors import BadRequest
from engine.meta.model import EntityDef, FieldDef, Origin

#: keys a template may hold (ImportOptions fields and ``entity``)
TEMPLATE_KEYS = frozenset(
    {
        "entity",
        "columns",
        "constants",
        "key",
        "dedupe",
        "auto",
        "source_detail",
        "values",
        "date_order",
        "decimal",
        "timezone",
        "delimiter",
        "encoding",
        "sheet",
        "description",
    }
)
#: the writable system column, filled like a ``user`` field (by e-mail or name)
OWNER = FieldDef("owner", "user", {"label": {"en": "Owner", "de": "Besitzer"}}, Origin("(engine)"), "")


class MappingError(BadRequest):
    """A mapping that names a field that does not exist or cannot be imported."""


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    field: FieldDef
    #: for references: the target field matched against the cell (None: id, title, unique fields)
    by: str | None = None


@dataclass
class Plan:
    columns: list[Column]
    #: headers that fill nothing
    ignored: list[str]

    def column_of(self, field: str) -> str | None:
        return next((c.header for c in self.columns if c.field.name == field), None)


def parse_map(text: str | None) -> dict[str, str | None]:
    """``--map "E-Mail=email,Firma=account.name,Notiz="`` (an empty target ignores the column)."""
    out: dict[str, str | None] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise MappingError(f"--map expects COLUMN=FIELD pairs separated by commas (got {part.strip()!r})")
        column, _, target = part.partition("=")
        out[column.strip()] = target.strip() or None
    return out


def importable_field(entity: EntityDef, target: str) -> tuple[FieldDef, str | None]:
    """The field (and link match field) a mapping target names, or a MappingError."""
    name, _, by = target.partition(".")
    fd = OWNER if name == "owner" else entity.fields.get(name)
    if fd is None:
        raise MappingError(f"{entity.name} has no field {name!r}")
    if fd.readonly:
        raise MappingError(f"the field {entity.name}.{name} is read-only and cannot be imported")
    if fd.type in NOT_IMPORTABLE:
        raise MappingError(f"{fd.type} fields ({entity.name}.{name}) cannot be imported from a column")
    if by and fd.target is None:
        raise MappingError(f"{entity.name}.{name} is not a link, so {target!r} means nothing")
    return fd, by or None


def plan_columns(
    entity: EntityDef, headers: list[str], mapping: dict[str, Any] | None, auto: bool = True, strict: bool = True
) -> Plan:
    """Decide the field of every column; explicit entries first, then automatic matches."""
    folded = {fold(h): i for i, h in enumerate(headers) if h}
    by_header = {h: i for i, h in enumerate(headers) if h}
    chosen: dict[int, Column] = {}
    explicit: set[int] = set()
    for name, target in (mapping or {}).items():
        index = by_header.get(name)
        if index is None:
            index = folded.get(fold(name))
        if index is None:
            if not strict:
                continue
            raise MappingError(f"the file has no column {name!r} (columns: {', '.join(h for h in headers if h)})")
        if index in explicit:
            raise MappingError(f"the column {headers[index]!r} is mapped twice")
        explicit.add(index)
        if target is None or str(target).strip() == "":
            continue
        fd, by = importable_field(entity, str(target).strip())
        chosen[index] = Column(index, headers[index], fd, by)
    if mapping is None or auto:
        names = _names(entity)
        taken = {c.field.name for c in chosen.values()}
        for index, header in enumerate(headers):
            if index in explicit or not header:
                continue
            match = names.get(fold(header))
            if match is not None and match.name not in taken:
                chosen[index] = Column(index, header, match)
                taken.add(match.name)
    columns = sorted(chosen.values(), key=lambda c: c.index)
    seen: dict[str, str] = {}
    for planned in columns:
        if planned.field.name in seen:
            filled = f"{entity.name}.{planned.field.name}"
            raise MappingError(f"the columns {seen[planned.field.name]!r} and {planned.header!r} both fill {filled}")
        seen[planned.field.name] = planned.header
    ignored = [h for i, h in enumerate(headers) if h and i not in chosen]
    return Plan(columns, ignored)


def _names(entity: EntityDef) -> dict[str, FieldDef]:
    """Folded names and labels -> field; names win over labels, earlier fields over later."""
    fields = [fd for fd in entity.fields.values() if not fd.readonly and fd.type not in NOT_IMPORTABLE]
    fields.append(OWNER)
    out: dict[str, FieldDef] = {}
    for fd in fields:
        for text in label_texts(fd.label):
            out.setdefault(fold(text), fd)
    for fd in fields:
        out[fold(fd.name)] = fd
    return out


def load_template(path: Path) -> dict[str, Any]:
    """A saved mapping as ImportOptions keywords (plus ``entity`` and the reading options)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise MappingError(f"{path}: a mapping template is a YAML mapping with 'columns:'")
    unknown = set(data) - TEMPLATE_KEYS
    if unknown:
        raise MappingError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    columns = data.get("columns") or {}
    if not isinstance(columns, dict):
        raise MappingError(f"{path}: 'columns' maps column headers to field names")
    for key in ("constants", "values"):
        if not isinstance(data.get(key) or {}, dict):
            raise MappingError(f"{path}: '{key}' must be a mapping")
    out: dict[str, Any] = {k: v for k, v in data.items() if k not in ("columns", "constants", "description")}
    out["mapping"] = {str(k): (None if v is None else str(v)) for k, v in columns.items()}
    out["defaults"] = dict(data.get("constants") or {})
    out["auto"] = bool(data.get("auto", False))
    out["require_columns"] = False
    return out
