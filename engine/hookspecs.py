"""The hooks a plugin may implement: the whole contract between Tessera and its plugins.

A plugin is a module (or an object) with functions decorated by :data:`hookimpl` and
named like the specifications below. Tessera finds plugins through the
``tessera.plugins`` entry-point group and in the first-party ``plugins/`` folder
(:mod:`engine.plugins`), calls every hook once at start-up and registers what they
return in the engine's own registries. A plugin never patches engine internals: each
hook returns declarations, the engine decides where they go.

Every hook takes no arguments unless it says otherwise and returns a list or a mapping;
returning nothing (``None``) is the same as returning an empty one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click
    from flask import Blueprint

    from engine.automation.actions import ActionType
    from engine.automation.channels import Channel
    from engine.automation.jobs import JobFunction
    from engine.dsl.functions import Function

PROJECT = "tessera"
ENTRY_POINT_GROUP = "tessera.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass(frozen=True)
class FieldType:
    """A field type added by a plugin: stored, typed in the DSL and rendered as ``base``.

    ``clean`` receives a non-null input value (already converted to ``base``'s Python
    type) and returns the value to store, or raises ``ValueError`` with a message the
    user sees (it becomes a 422 field error). Example: ``FieldType("iban", "string",
    clean=normalise_iban)``.
    """

    name: str
    base: str
    clean: Callable[[Any], Any] | None = None
    doc: str = ""


@dataclass(frozen=True)
class Panel:
    """A panel on record pages: ``render(workspace, actor, entity, record)`` returns
    trusted HTML (the plugin escapes what it interpolates) or ``None`` to show nothing.
    ``entities`` empty means every entity."""

    name: str
    title: str
    render: Callable[[Any, Any, str, dict[str, Any]], str | None]
    entities: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnectorKind:
    """A kind of integration connector (``rest``, ``salesforce``...): ``factory(workspace,
    connector_record)`` returns an object with ``pull(cursor) -> (rows, next_cursor)``
    and ``push(rows) -> results``; see :mod:`engine.connectors`."""

    name: str
    factory: Callable[[Any, dict[str, Any]], Any]
    doc: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)


class TesseraSpec:
    """The hook specifications (pluggy collects every ``tessera_*`` method)."""

    @hookspec
    def tessera_dsl_functions(self) -> list[Function] | None:
        """Functions added to the expression language (each with its Python and, where
        possible, SQL form; see :class:`engine.dsl.functions.Function`)."""

    @hookspec
    def tessera_field_types(self) -> list[FieldType] | None:
        """Field types usable in entity definitions (``type: NAME``)."""

    @hookspec
    def tessera_actions(self) -> dict[str, ActionType] | None:
        """Rule and workflow actions by name (see :mod:`engine.automation.actions`)."""

    @hookspec
    def tessera_channels(self) -> dict[str, Channel] | None:
        """Outbox delivery channels by name (``email``, ``sms`` are built in; a plugin
        may replace them: the last registered wins)."""

    @hookspec
    def tessera_jobs(self) -> dict[str, JobFunction] | None:
        """Background jobs by name, run through the outbox ``job`` channel (``enqueue``)."""

    @hookspec
    def tessera_connectors(self) -> list[ConnectorKind] | None:
        """Connector kinds for the integrations pack."""

    @hookspec
    def tessera_blueprints(self) -> list[Blueprint] | None:
        """Flask blueprints mounted in the application; their routes should live under
        ``/api/v1/plugins/NAME`` or ``/public/plugins/NAME`` and use the engine's
        data-access layer (``flask.g`` holds the workspace and actor as in the API)."""

    @hookspec
    def tessera_ui_panels(self) -> list[Panel] | None:
        """Panels shown on record pages."""

    @hookspec
    def tessera_pack_roots(self) -> list[Path] | None:
        """Folders holding metadata packs (each pack a sub-folder with ``pack.yaml``)."""

    @hookspec
    def tessera_cli_commands(self) -> list[click.Command] | None:
        """Commands added to the ``tessera`` command line."""
