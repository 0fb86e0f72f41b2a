"""Report definitions: the ``report`` documents of packs and overlays (a pack's ``reports/``
folder), checked with the automation at start-up, by ``tessera check`` and when an overlay is
saved, and compiled into :class:`Report` values. Computing their rows is :mod:`engine.reports`,
sending the scheduled ones :mod:`engine.report_schedule`.

A report is either a **record report** (``columns``: one row per record, a link's field
written ``account.name``) or a **summary report** (``aggregates``, optionally ``group_by``:
one row per group, computed in SQL by the aggregation of ``engine.storage.aggregation``).
Checking it here, once, means a bad field, filter or cron is a problem at its file and line,
never a failure at 07:00 on a Monday.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from engine.automation.definitions import Definition, collect
from engine.automation.model import Automation, BaseComponent
from engine.automation.schedules import _check_cron, _timezone
from engine.automation.schedules import register as register_schedule
from engine.automation.values import target_entity
from engine.dsl import compile_expression
from engine.dsl.functions import FunctionRegistry
from engine.errors import DslError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.meta.problems import Problems
from engine.storage.aggregation import BUCKETS, split_group
from engine.storage.listing import SYSTEM_TYPES, UNSORTABLE

_METRIC = re.compile(r"^\s*(count|sum|avg|min|max)\s*\((.*)\)\s*$", re.S)
#: rows of a report when it names no limit
DEFAULT_LIMIT = 1000
#: reference types a column may go through (``account.name``): the list's ``expand``
_REFERENCES = ("link", "user", "team")
_UNGROUPABLE = (*UNSORTABLE, "file", "table")


@dataclass(frozen=True)
class Schedule:
    cron: str
    timezone: ZoneInfo
    roles: tuple[str, ...]
    users: tuple[str, ...]
    format: str  # csv | xlsx


@dataclass(frozen=True)
class Report:
    name: str
    label: Any
    description: str
    roles: tuple[str, ...]
    entity: str
    filter: str | None
    columns: tuple[str, ...]
    group_by: tuple[str, ...]
    aggregates: tuple[tuple[str, str], ...]  # (name, metric) in the document's order
    aggregate_labels: dict[str, Any]
    sort: str | None
    limit: int
    schedule: Schedule | None
    pack: str

    @property
    def summary(self) -> bool:
        """One row per group (aggregates) rather than one per record (columns)."""
        return not self.columns


class ReportComponent(BaseComponent):
    name = "reports"

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        compiled: dict[str, Report] = {}
        for definition in collect(catalog, "report", problems):
            report = _compile(definition, catalog, functions, problems)
            if report is not None:
                compiled[report.name] = report
        automation.parts[self.name] = compiled


COMPONENT = ReportComponent()


def _send_due(ws: Any, now: Any) -> int:
    """Each tick's scheduled report e-mails (engine.report_schedule builds on this module)."""
    from engine.report_schedule import run_due

    return run_due(ws, now)


register_schedule(_send_due)  # the job runner's ticks send due reports after the scheduled rules


def reports(snap: Any) -> dict[str, Report]:
    """The enabled reports of a snapshot, by name."""
    found: dict[str, Report] = snap.automation.parts.get("reports", {})
    return found


def field_kind(entity: EntityDef, name: str) -> str | None:
    """The type of a stored field or system column of ``entity`` (None: no such column)."""
    if name in SYSTEM_TYPES:
        return SYSTEM_TYPES[name]
    fd = entity.fields.get(name)
    return fd.type if fd is not None and fd.has_column else None


def link_target(entity: EntityDef, name: str) -> str | None:
    """The entity a reference field points at (``user`` and ``team`` fields included)."""
    kind = field_kind(entity, name)
    if kind not in _REFERENCES:
        return None
    fd = entity.fields.get(name)
    return (fd.target if fd is not None else None) or kind


class _Checker:
    """What :func:`engine.automation.schedules._check_cron` expects of a rule compiler."""

    def __init__(self, definition: Definition, problems: Problems) -> None:
        self.definition, self.problems = definition, problems

    def fail(self, message: str, *path: Any) -> None:
        self.problems.add(self.definition.location(*path), message)


def _compile(
    definition: Definition, catalog: Catalog, functions: FunctionRegistry, problems: Problems
) -> Report | None:
    data = definition.data
    where = definition.location
    entity = target_entity(data["entity"], definition.pack, catalog, problems, where("entity"))
    if entity is None:
        return None
    before = len(problems.items)
    label = f"report {definition.name}"

    def check(source: str, key: str, *path: Any, expect: str | None = None) -> Any:
        try:
            return compile_expression(
                source, entity, catalog, functions=functions, where=f"{label} {key}", sql=True, expect=expect
            )
        except DslError as exc:
            for message in [e.message for e in exc.errors] or [exc.detail]:
                problems.add(where(key, *path), message)
            return None

    if data.get("filter"):
        check(data["filter"], "filter", expect="bool")
    columns = tuple(data.get("columns", ()))
    group_by = tuple(data.get("group_by", ()))
    aggregates = dict(data.get("aggregates") or {})
    if columns and (group_by or aggregates):
        problems.add(
            where("columns"), "a report lists records (columns) or sums them up (aggregates, group_by), not both"
        )
    elif not columns and not group_by and not aggregates:
        problems.add(where(), "a report needs columns (one row per record) or aggregates (one row per group)")
    for index, column in enumerate(columns):
        _check_column(entity, catalog, column, where("columns", index), problems)
    for index, group in enumerate(group_by):
        _check_group(entity, group, where("group_by", index), problems)
    if group_by and not aggregates:
        aggregates = {"count": "count()"}
    for name, metric in aggregates.items():
        if name in group_by:
            problems.add(where("aggregates", name), f"{name!r} is also a group_by field; name the aggregate otherwise")
        match = _METRIC.match(metric)
        if match is None:
            problems.add(
                where("aggregates", name), f"{metric!r} is not count(), sum(EXPR), avg(EXPR), min(EXPR) or max(EXPR)"
            )
        elif match.group(2).strip():
            expr = check(match.group(2).strip(), "aggregates", name)
            if expr is not None and match.group(1) in ("sum", "avg") and not expr.type.numeric:
                problems.add(
                    where("aggregates", name), f"{match.group(1)}() needs a number, {match.group(2)!r} is {expr.type}"
                )
        elif match.group(1) != "count":
            problems.add(where("aggregates", name), f"{match.group(1)}() needs an expression")
    for name in data.get("aggregate_labels") or {}:
        if name not in aggregates:
            problems.add(where("aggregate_labels", name), f"there is no aggregate {name!r}")
    _check_sort(entity, data.get("sort"), columns, group_by, aggregates, where("sort"), problems)
    schedule = _schedule(definition, problems) if "schedule" in data else None
    if len(problems.items) > before:
        return None
    return Report(
        name=definition.name,
        label=data.get("label") or definition.name.replace("_", " ").capitalize(),
        description=data.get("description", ""),
        roles=tuple(data.get("roles", ())),
        entity=entity.name,
        filter=data.get("filter"),
        columns=columns,
        group_by=group_by,
        aggregates=tuple(aggregates.items()),
        aggregate_labels=dict(data.get("aggregate_labels") or {}),
        sort=data.get("sort"),
        limit=int(data.get("limit", DEFAULT_LIMIT)),
        schedule=schedule,
        pack=definition.pack,
    )


def _check_column(entity: EntityDef, catalog: Catalog, column: str, where: str, problems: Problems) -> None:
    head, _, rest = column.partition(".")
    if not rest:
        fd = entity.fields.get(head)
        if field_kind(entity, head) is None and (fd is None or fd.type == "table"):
            problems.add(where, f"{entity.name} has no field {head!r} a report can show")
        return
    fd = entity.fields.get(head)
    target_name = link_target(entity, head) if fd is not None else None  # owner.x: the list cannot expand it
    if target_name is None:
        problems.add(where, f"{entity.name}.{head} is not a link, user or team field; {column!r} cannot go through it")
        return
    target = catalog.entities.get(target_name)
    if target is None or field_kind(target, rest) is None:
        problems.add(where, f"{target_name} has no field {rest!r}")


def _check_group(entity: EntityDef, group: str, where: str, problems: Problems) -> None:
    name, bucket = split_group(group)
    kind = field_kind(entity, name)
    if kind is None:
        problems.add(where, f"{entity.name} has no field {name!r}")
    elif bucket is not None and kind not in ("date", "datetime"):
        problems.add(where, f"only date and datetime fields take a bucket ({', '.join(BUCKETS)})")
    elif bucket is None and kind in _UNGROUPABLE:
        problems.add(where, f"{name} is a {kind} field; it cannot be grouped by")


def _check_sort(
    entity: EntityDef,
    sort: str | None,
    columns: tuple[str, ...],
    group_by: tuple[str, ...],
    aggregates: dict[str, str],
    where: str,
    problems: Problems,
) -> None:
    for part in (sort or "").split(","):
        name = part.strip().lstrip("-")
        if not name:
            continue
        if columns:
            kind = field_kind(entity, name)
            if kind is None or kind in UNSORTABLE:
                problems.add(where, f"{entity.name} has no sortable field {name!r}")
        elif name not in group_by and name not in aggregates:
            problems.add(where, f"a summary sorts by its group_by fields and aggregates, not {name!r}")


def _schedule(definition: Definition, problems: Problems) -> Schedule | None:
    spec = definition.data["schedule"]
    checker = _Checker(definition, problems)
    timezone = _timezone(checker, spec)
    compiled = _check_cron(checker, spec["cron"], timezone)
    if compiled is None or timezone is None:
        return None
    recipients = spec["recipients"]
    return Schedule(
        cron=compiled["cron"],
        timezone=timezone,
        roles=tuple(recipients.get("roles", ())),
        users=tuple(recipients.get("users", ())),
        format=spec.get("format", "csv"),
    )
