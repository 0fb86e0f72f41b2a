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
#: the type of each single-valued template key (null leaves the option at its default)
TEMPLATE_SCALARS: dict[str, type] = {
    "entity": str,
    "key": str,
    "dedupe": str,
    "auto": bool,
    "source_detail": str,
    "date_order": str,
    "decimal": str,
    "timezone": str,
    "delimiter": str,
    "encoding": str,
    "sheet": str,
    "description": str,
}
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
        if column.strip() in out:
            raise MappingError(f"the column {column.strip()!r} is mapped twice")
        out[column.strip()] = target.strip() or None
    return out


def override_mapping(template: dict[str, str | None], given: dict[str, str | None]) -> dict[str, str | None]:
    """A template's columns with ``given`` (``--map``) entries replacing those for the same
    column, however its header is spelled there (``e-mail`` replaces ``E-Mail``)."""
    replaced = {fold(name) for name in given}
    return {**{k: v for k, v in template.items() if fold(k) not in replaced}, **given}


def require_columns(headers: list[str], names: list[str]) -> None:
    """Refuse a mapping naming a column the file lacks (as ``plan_columns(strict=True)`` does);
    for the ``--map`` entries of a run whose template's own columns may be missing."""
    for name in names:
        if _column_index(headers, name) is None:
            raise MappingError(f"the file has no column {name!r} (columns: {', '.join(h for h in headers if h)})")


def _column_index(headers: list[str], name: str) -> int | None:
    """The position of the header ``name``, spelled exactly or else alike (see ``fold``)."""
    if name and name in headers:
        return headers.index(name)
    return next((i for i, h in enumerate(headers) if h and fold(h) == fold(name)), None)


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
    entity: EntityDef,
    headers: list[str],
    mapping: dict[str, Any] | None,
    auto: bool = True,
    strict: bool = True,
    writable: set[str] | None = None,
) -> Plan:
    """Decide the field of every column; explicit entries first, then automatic matches.
    Automatic matches fill only ``writable`` fields (None: all): a column named like a field
    the importer may only read is ignored, not a failure of every row."""
    chosen: dict[int, Column] = {}
    explicit: set[int] = set()
    for name, target in (mapping or {}).items():
        index = _column_index(headers, name)
        if index is None:
            if strict:
                require_columns(headers, [name])
            continue
        if index in explicit:
            raise MappingError(f"the column {headers[index]!r} is mapped twice")
        explicit.add(index)
        if target is None or str(target).strip() == "":
            continue
        fd, by = importable_field(entity, str(target).strip())
        chosen[index] = Column(index, headers[index], fd, by)
    if mapping is None or auto:
        names = _names(entity, writable)
        taken = {c.field.name for c in chosen.values()}
        literal = {fd.name for fd in names.values()}
        exact = {fold(name) for name in literal}

        def rank(i: int) -> tuple[bool, bool]:  # a field's own name first ("email" over "E-Mail")
            return (headers[i] or "").strip() not in literal, fold(headers[i] or "") not in exact

        for index in sorted(range(len(headers)), key=rank):
            header = headers[index]
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


def _names(entity: EntityDef, writable: set[str] | None = None) -> dict[str, FieldDef]:
    """Folded names and labels -> field; names win over labels, earlier fields over later."""
    fields = [
        fd
        for fd in entity.fields.values()
        if not fd.readonly and fd.type not in NOT_IMPORTABLE and (writable is None or fd.name in writable)
    ]
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
    except FileNotFoundError:
        raise MappingError(f"no template file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise MappingError(f"{path}: the template cannot be read ({reason})") from None
    except yaml.YAMLError as exc:
        raise MappingError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise MappingError(f"{path}: a mapping template is a YAML mapping with 'columns:'")
    unknown = {str(k) for k in data} - TEMPLATE_KEYS
    if unknown:
        raise MappingError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    for key, expected in TEMPLATE_SCALARS.items():
        value = data.get(key)
        if value is not None and not isinstance(value, expected):
            wanted = "true or false" if expected is bool else "text"
            raise MappingError(f"{path}: '{key}' must be {wanted}, not {_yaml_kind(value)}")
    columns = data.get("columns") or {}
    if not isinstance(columns, dict):
        raise MappingError(f"{path}: 'columns' maps column headers to field names")
    for header, target in columns.items():
        if target is not None and not isinstance(target, str):
            raise MappingError(f"{path}: columns: {header!r} must name a field or be null, not {_yaml_kind(target)}")
    for key in ("constants", "values"):
        if not isinstance(data.get(key) or {}, dict):
            raise MappingError(f"{path}: '{key}' must be a mapping")
    for name, table in (data.get("values") or {}).items():
        if not isinstance(table, dict):
            raise MappingError(f"{path}: values: {name!r} must map cell texts to stored values")
        for text in table:
            if not isinstance(text, str):
                raise MappingError(
                    f"{path}: values: {name}: quote the cell text read as {_yaml_kind(text)} "
                    "(YAML reads yes, no, on, off and numbers unquoted as other types)"
                )
    out: dict[str, Any] = {
        k: v for k, v in data.items() if k not in ("columns", "constants", "description") and v is not None
    }
    out["mapping"] = {str(k): v for k, v in columns.items()}
    out["defaults"] = dict(data.get("constants") or {})
    out["auto"] = bool(data.get("auto", False))
    out["require_columns"] = False
    return out


def _yaml_kind(value: Any) -> str:
    """What YAML made of a value, for a message: ``1252`` -> "the number 1252"."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return f"the text {value!r}"
    return type(value).__name__
