"""Definitions: what an entity and a field are, once their documents have been validated.

These are plain immutable values; the storage, validation and API layers all derive from
them. ``Origin`` remembers which file (and where in it) a definition came from, so a
cross-reference error found later still points at a line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.meta.duplicates import DuplicateRule
    from engine.meta.timeline import TimelineDef

FIELD_TYPES = [
    "string",
    "text",
    "int",
    "decimal",
    "money",
    "percent",
    "bool",
    "date",
    "datetime",
    "duration",
    "email",
    "phone",
    "url",
    "enum",
    "multi_enum",
    "link",
    "links",
    "table",
    "json",
    "file",
    "user",
    "team",
    "rating",
    "secret",
    "autonumber",
]

#: field types whose value is the id of one record of another entity
REFERENCE_TYPES = {"link": None, "user": "user", "team": "team"}

#: system columns every entity table has, in the order records show them
SYSTEM_FIELDS = ("id", "version", "created_at", "created_by", "updated_at", "updated_by", "owner")


@dataclass(frozen=True)
class Origin:
    """Where a definition was written: a pack file (with a line) or an overlay."""

    file: str
    line: int = 1
    col: int = 1
    doc_path: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class EnumOption:
    value: str
    label: Any = None
    color: str | None = None


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    options: dict[str, Any]
    origin: Origin
    pack: str

    # --- convenience accessors over the raw options (kept once read: a definition
    # never changes, and every write of a record reads several of them per field) ---
    def opt(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    @cached_property
    def label(self) -> Any:
        return self.options.get("label") or self.name.replace("_", " ").capitalize()

    @cached_property
    def required(self) -> bool:
        return bool(self.options.get("required"))

    @cached_property
    def unique(self) -> bool:
        return bool(self.options.get("unique"))

    @cached_property
    def readonly(self) -> bool:
        """Never written by clients: computed, rolled up, autonumbered or declared read-only."""
        return bool(self.options.get("readonly")) or self.is_computed or self.is_rollup or self.type == "autonumber"

    @cached_property
    def is_computed(self) -> bool:
        return "compute" in self.options

    @cached_property
    def is_rollup(self) -> bool:
        """A stored aggregate over the records of another entity that link here (see
        engine.automation.rollups); only the engine writes it."""
        return "rollup" in self.options

    @cached_property
    def has_column(self) -> bool:
        """Stored in a column of the entity's own table."""
        if self.type in ("links", "table"):
            return False
        return not self.is_computed or bool(self.options.get("stored"))

    @cached_property
    def target(self) -> str | None:
        """Entity a reference field points to (``link``, ``links``, ``user``, ``team``)."""
        if self.type in ("link", "links"):
            return self.options["to"]
        return REFERENCE_TYPES.get(self.type)

    @cached_property
    def enum_options(self) -> tuple[EnumOption, ...]:
        out = []
        for item in self.options.get("options", ()):
            if isinstance(item, dict):
                out.append(EnumOption(item["value"], item.get("label"), item.get("color")))
            else:
                out.append(EnumOption(str(item)))
        return tuple(out)

    @cached_property
    def max_length(self) -> int | None:
        if self.type == "string":
            return int(self.options.get("max_length", 255))
        if self.type in ("text", "secret"):
            return self.options.get("max_length")
        return {"email": 254, "phone": 40, "url": 2048, "enum": 64, "autonumber": 64, "file": 1024}.get(self.type)

    @cached_property
    def scale(self) -> int:
        """Digits after the decimal point for decimal-like types."""
        default = {"money": 2, "percent": 2, "decimal": 4}.get(self.type, 0)
        return int(self.options.get("precision", default))


@dataclass(frozen=True)
class IndexDef:
    name: str
    fields: tuple[str, ...]  # as written: ``-due_at`` is ``due_at`` descending, nulls last
    unique: bool = False
    where: str | None = None  # a partial index's condition (DSL; engine.storage.partial_index)

    @property
    def columns(self) -> tuple[tuple[str, bool], ...]:
        """``(column, descending)`` per field, in order."""
        return tuple((f.removeprefix("-"), f.startswith("-")) for f in self.fields)


@dataclass(frozen=True)
class ValidationDef:
    when: str
    message: Any
    field: str | None
    origin: Origin


@dataclass(frozen=True)
class TemplateDef:
    """A document template of an entity (``templates:``): a record rendered to HTML or PDF."""

    name: str
    file: str  # path inside the templates/ folders of the packs, e.g. quote.html
    label: Any
    origin: Origin
    pack: str


@dataclass(frozen=True)
class EntityDef:
    name: str
    label: Any
    pack: str
    origin: Origin
    fields: dict[str, FieldDef]
    title: str | None = None
    autonumber: str | None = None
    search: tuple[str, ...] = ()
    audit: bool = True
    audit_reads: bool = False
    child: bool = False
    validations: tuple[ValidationDef, ...] = ()
    permissions: dict[str, Any] = field(default_factory=dict)
    workflow: str | None = None
    indexes: tuple[IndexDef, ...] = ()
    list_columns: tuple[str, ...] = ()
    default_sort: str | None = None
    related: tuple[str, ...] = ()
    plural: Any = None
    help: Any = None
    icon: str | None = None
    #: ``system`` entities belong to the engine (user, team, role)
    system: bool = False
    #: user fields that also make a record "own" for the own/team scopes (e.g. assignee)
    owner_fields: tuple[str, ...] = ()
    #: the link tying a record to a customer account, for the ``account`` scope
    account_field: str | None = None
    #: URL collection name when records are data subjects (privacy export/erase)
    privacy_collection: str | None = None
    #: retention rules: ``{name, when, field, older_than, action}`` (see engine.security.retention)
    retention: tuple[dict[str, Any], ...] = ()
    #: one record holds settings: expressions read it as ``$ENTITY.field`` (the oldest live record)
    singleton: bool = False
    #: the record action ``merge`` (engine.automation.merge) is offered for this entity
    merge: bool = False
    #: document templates by name (``GET /api/v1/ENTITY/ID/render/NAME``, see engine.render)
    templates: dict[str, TemplateDef] = field(default_factory=dict)
    #: duplicate rules (engine.meta.duplicates), enforced on every write
    duplicates: tuple[DuplicateRule, ...] = ()
    #: the polymorphic reference that puts records on other records' timelines (engine.meta.timeline)
    timeline: TimelineDef | None = None
    #: the kanban board of the entity's records, for the UI (engine.meta.board)
    board: dict[str, Any] | None = None
    #: where its records sit on the UI's calendar (engine.meta.calendar_view)
    calendar: dict[str, Any] | None = None

    def field(self, name: str) -> FieldDef | None:
        return self.fields.get(name)

    @property
    def title_field(self) -> str:
        if self.title:
            return self.title
        for candidate in ("name", "title", "subject", "number"):
            if candidate in self.fields:
                return candidate
        return "id"

    def column_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.has_column]

    # --- the fields each step of a write visits, found once (every create visits them) ----
    @cached_property
    def defaulted_fields(self) -> tuple[FieldDef, ...]:
        """Fields a new record starts with a value in when none is given: rollups (nothing
        counted yet) and fields with a ``default`` that is not computed or numbered."""
        return tuple(
            fd
            for fd in self.fields.values()
            if fd.is_rollup or ("default" in fd.options and not fd.is_computed and fd.type != "autonumber")
        )

    @cached_property
    def required_fields(self) -> tuple[FieldDef, ...]:
        """Fields a client must fill (read-only ones are the engine's to fill)."""
        return tuple(fd for fd in self.fields.values() if fd.required and not fd.readonly)

    @cached_property
    def nested_fields(self) -> tuple[FieldDef, ...]:
        """``table`` and ``links`` fields: stored in tables of their own."""
        return tuple(fd for fd in self.fields.values() if fd.type in ("table", "links"))

    @cached_property
    def column_names(self) -> frozenset[str]:
        """Fields stored in a column of the entity's table."""
        return frozenset(fd.name for fd in self.fields.values() if fd.has_column)

    @cached_property
    def secret_names(self) -> frozenset[str]:
        return frozenset(fd.name for fd in self.fields.values() if fd.type == "secret")

    @cached_property
    def readonly_names(self) -> frozenset[str]:
        """Fields no client writes (computed, rolled up, numbered, ``readonly``)."""
        return frozenset(fd.name for fd in self.fields.values() if fd.readonly)

    @cached_property
    def field_types(self) -> frozenset[str]:
        return frozenset(fd.type for fd in self.fields.values())

    @cached_property
    def autonumber_fields(self) -> tuple[FieldDef, ...]:
        return tuple(fd for fd in self.fields.values() if fd.type == "autonumber")
