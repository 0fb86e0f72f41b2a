"""The compiled automation of one metadata snapshot, and the component protocol.

``build_automation`` compiles every automation document once per metadata version (start-up,
``tessera check`` and every overlay change use it, so a bad definition is refused with the
same messages everywhere). Components register what they need while compiling: entities
they listen to, record actions (``POST /api/v1/ENTITY/ID/actions/NAME``), fields a workflow
owns, named calendars.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.dsl.business_time import BusinessCalendar
from engine.dsl.functions import FunctionRegistry
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.meta.problems import Problems

#: handler of a record action: (run, entity, record_id, body) -> None; the caller returns the record
RecordAction = Callable[[Any, EntityDef, str, dict[str, Any]], None]


class Component(Protocol):
    name: str

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        """Compile this component's definitions into ``automation.parts[self.name]``."""

    def on_event(self, run: Any, event: Any) -> None:
        """React to a write or timer inside its transaction."""

    def on_timers(self, run: Any, entity: EntityDef, timers: Sequence[Any]) -> None:
        """Load what the coming ``timer`` events of this batch need, in bulk (they follow one by
        one); ``run`` is an ``engine.automation.timers.TimerRun``, ``timers`` its ``DueTimer`` rows."""

    def before_update(
        self, run: Any, entity: EntityDef, record_id: str, current: dict[str, Any], values: dict[str, Any], owner: str
    ) -> None:
        """Refuse a change (raise a TesseraError) before it is written, or add values the
        component derives from it to ``values``; ``owner`` is the workflow writing."""

    def before_create(self, run: Any, entity: EntityDef, record_id: str, values: dict[str, Any]) -> None:
        """Add values the component derives to a new record's ``values`` before it is checked and written."""

    def initial_values(self, automation: Automation, entity: EntityDef, values: dict[str, Any]) -> None:
        """Fill unset values of a new record as a default would, before anything is derived."""


@dataclass
class Automation:
    components: list[Component] = field(default_factory=list)
    parts: dict[str, Any] = field(default_factory=dict)
    #: entities some component reacts to (writes of other entities cost nothing)
    listening: set[str] = field(default_factory=set)
    #: (entity, action name) -> handler
    actions: dict[tuple[str, str], RecordAction] = field(default_factory=dict)
    #: entity -> field -> name of the workflow that owns it (no direct writes)
    owned_fields: dict[str, dict[str, str]] = field(default_factory=dict)
    calendars: dict[str, BusinessCalendar] = field(default_factory=dict)
    #: components that react to every entity's events (webhooks: subscriptions are data)
    always: bool = False

    def listens(self, entity: str) -> bool:
        return self.always or entity in self.listening

    def before_update(
        self,
        run: Any,
        entity: EntityDef,
        record_id: str,
        current: dict[str, Any],
        values: dict[str, Any],
        owner: str = "",
    ) -> None:
        if self.listens(entity.name):
            for component in self.components:
                component.before_update(run, entity, record_id, current, values, owner)

    def before_create(self, run: Any, entity: EntityDef, record_id: str, values: dict[str, Any]) -> None:
        if self.listens(entity.name):
            for component in self.components:
                component.before_create(run, entity, record_id, values)

    def initial_values(self, entity: EntityDef, values: dict[str, Any]) -> None:
        """Let components fill a new record's unset values as defaults do (a workflow's
        initial state), before computed values and validations see the record."""
        if self.listens(entity.name):
            for component in self.components:
                component.initial_values(self, entity, values)

    def register_action(self, entity: str, name: str, handler: RecordAction, problems: Problems, where: str) -> None:
        if (entity, name) in self.actions:
            problems.add(where, f"{entity} already has an action {name!r}")
            return
        self.actions[(entity, name)] = handler
        self.listening.add(entity)


def components() -> list[Component]:
    """The engine's components, in the order they see each event."""
    # jobs: registers the enqueue action and the job channel
    from engine import (
        dashboard_definitions,  # dashboard documents: checked with the rest, computed on request
        layouts,  # form layouts: the sections and field order of pages
        report_definitions,  # report documents: checked with the rest, computed on request and on schedule
    )
    from engine.automation import (  # noqa: F401
        assignment,
        create_actions,
        jobs,
        merge,
        pack_actions,
        rollups,  # stored aggregates: before rules, which may read them
        row_actions,  # the add_row action
        rules,
        sla,
        webhooks,
        workflows,
    )
    from engine.capture import definitions as capture_definitions  # public forms and hooks
    from engine.connectors import component as connectors  # integration connectors (engine.connectors)
    from engine.connectors import push, schedule  # noqa: F401 - the connector_push channel, the connector_sync job
    from engine.dataio import import_jobs  # noqa: F401 - the import_file job
    from engine.plugins import install as install_plugins

    install_plugins()  # plugins' actions, channels and jobs, before definitions name them

    return [
        workflows.COMPONENT,
        sla.COMPONENT,
        rollups.COMPONENT,
        rules.COMPONENT,
        webhooks.COMPONENT,
        assignment.COMPONENT,
        pack_actions.COMPONENT,
        merge.COMPONENT,
        capture_definitions.COMPONENT,
        connectors.COMPONENT,
        dashboard_definitions.COMPONENT,
        layouts.COMPONENT,
        report_definitions.COMPONENT,
    ]


def build_automation(catalog: Catalog, functions: FunctionRegistry, problems: Problems) -> Automation:
    automation = Automation(components=components())
    for component in automation.components:
        component.compile(automation, catalog, functions, problems)
    return automation


class BaseComponent:
    """Defaults for the optional parts of :class:`Component`."""

    name = "base"

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        return None

    def on_event(self, run: Any, event: Any) -> None:
        return None

    def on_timers(self, run: Any, entity: EntityDef, timers: Sequence[Any]) -> None:
        return None

    def before_update(
        self, run: Any, entity: EntityDef, record_id: str, current: dict[str, Any], values: dict[str, Any], owner: str
    ) -> None:
        return None

    def before_create(self, run: Any, entity: EntityDef, record_id: str, values: dict[str, Any]) -> None:
        return None

    def initial_values(self, automation: Automation, entity: EntityDef, values: dict[str, Any]) -> None:
        return None
