"""Finding plugins and registering what their hooks declare.

Plugins come from two places, in this order: the first-party ``plugins/`` package (each
module or sub-package in it) and installed distributions exposing the ``tessera.plugins``
entry-point group. :func:`install` calls every hook once and puts the declarations in
the engine's registries (actions, channels, jobs, DSL functions...); it is idempotent
and runs when the first workspace opens. The hook contract is :mod:`engine.hookspecs`.

A plugin that cannot be imported, or whose hook fails or returns the wrong kind of
value, raises :class:`PluginError` with one line naming the plugin. :func:`reset` forgets
the manager and takes back everything :func:`install` registered (tests use it to load
plugins in isolation).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from engine.errors import TesseraError
from engine.hookspecs import ENTRY_POINT_GROUP, PROJECT, FieldType, Panel, TesseraSpec

if TYPE_CHECKING:
    from engine.dsl.functions import FunctionRegistry

_lock = threading.RLock()
_manager: pluggy.PluginManager | None = None
_installed = False
#: where each registered plugin came from, by plugin name
_origins: dict[str, PluginInfo] = {}
#: what install() replaced in the engine's registries: (registry, name, previous or _ABSENT)
_undo: list[tuple[dict[str, Any], str, Any]] = []
_field_types: dict[str, FieldType] | None = None
_ABSENT = object()


class PluginError(TesseraError):
    """A plugin could not be loaded or declared something the engine cannot take."""

    status = 500
    title = "Plugin error"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    source: str  # "first-party" or "entry point"
    distribution: str = ""
    version: str = ""

    @property
    def label(self) -> str:
        """The plugin's name as people see it (``sheets`` for the module ``plugins.sheets``)."""
        return self.name.removeprefix("plugins.") if self.source == "first-party" else self.name

    @property
    def origin(self) -> str:
        if self.source == "first-party":
            return f"first-party (plugins/{self.label})"
        return f"entry point ({self.distribution} {self.version})".replace(" )", ")")


def _failure(what: str, exc: BaseException) -> PluginError:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return PluginError(f"{what}: {type(exc).__name__}" + (f": {message}" if message else ""))


def first_party_modules() -> Iterator[Any]:
    """Each module or sub-package of the first-party ``plugins`` package."""
    import plugins

    for info in sorted(pkgutil.iter_modules(plugins.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        try:
            yield importlib.import_module(f"plugins.{info.name}")
        except Exception as exc:  # any error while importing plugin code: one line naming it
            raise _failure(f"plugin {info.name!r} (plugins/{info.name}) failed to load", exc) from exc


def _entry_points() -> Iterator[tuple[importlib.metadata.EntryPoint, importlib.metadata.Distribution]]:
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP and ep.name not in seen:
                seen.add(ep.name)  # the first distribution on sys.path wins, as for imports
                yield ep, dist


def _register(pm: pluggy.PluginManager, plugin: Any, info: PluginInfo) -> None:
    try:
        pm.register(plugin, name=info.name)
    except Exception as exc:  # pluggy's validation of hook names and arguments
        raise _failure(f"plugin {info.name!r} is not a valid Tessera plugin", exc) from exc
    _origins[info.name] = info


def _build() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(TesseraSpec)
    for module in first_party_modules():
        _register(pm, module, PluginInfo(module.__name__, "first-party"))
    for ep, dist in _entry_points():
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        dist_name = dist.metadata["Name"] or "?"
        try:
            plugin = ep.load()
        except Exception as exc:  # any error while importing plugin code: one line naming it
            raise _failure(f"plugin {ep.name!r} (entry point {ep.value} of {dist_name}) failed to load", exc) from exc
        _register(pm, plugin, PluginInfo(ep.name, "entry point", dist_name, dist.version or ""))
    return pm


def manager() -> pluggy.PluginManager:
    """The process-wide plugin manager with every plugin registered (built once)."""
    global _manager
    with _lock:
        if _manager is None:
            _origins.clear()
            _manager = _build()
        return _manager


def plugins() -> list[tuple[PluginInfo, list[str]]]:
    """Every registered plugin, in load order, with the hooks it implements."""
    pm = manager()
    out = []
    for name, info in list(_origins.items()):
        plugin = pm.get_plugin(name)
        callers = (pm.get_hookcallers(plugin) or []) if plugin is not None else []
        out.append((info, sorted(caller.name for caller in callers)))
    return out


def results(hook_name: str) -> list[tuple[str, Any]]:
    """``(plugin name, returned value)`` of every implementation of a hook, first loaded
    first; a failing hook raises :class:`PluginError` naming the plugin."""
    pm = manager()
    out = []
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        try:
            value = impl.function()
        except Exception as exc:  # plugin code: report which plugin and hook
            raise _failure(f"plugin {impl.plugin_name!r}: {hook_name} failed", exc) from exc
        if value is not None:
            out.append((impl.plugin_name, value))
    return out


def collect_list(hook_name: str) -> list[Any]:
    """Concatenate what every implementation of a list-returning hook gave."""
    out: list[Any] = []
    for name, value in results(hook_name):
        if not isinstance(value, (list, tuple)):
            raise PluginError(f"plugin {name!r}: {hook_name} must return a list, not {type(value).__name__}")
        out.extend(value)
    return out


def collect_map(hook_name: str) -> dict[str, Any]:
    """Merge what every implementation of a mapping-returning hook gave (later wins)."""
    merged: dict[str, Any] = {}
    for name, value in results(hook_name):
        if not isinstance(value, dict):
            raise PluginError(f"plugin {name!r}: {hook_name} must return a mapping, not {type(value).__name__}")
        merged.update(value)
    return merged


def pack_roots() -> list[Path]:
    return [Path(root) for root in collect_list("tessera_pack_roots")]


def add_dsl_functions(registry: FunctionRegistry) -> FunctionRegistry:
    """Add every plugin's DSL functions to ``registry``; a name defined twice is an error."""
    defined_by: dict[str, str] = {}
    for plugin_name, functions in results("tessera_dsl_functions"):
        for function in functions:
            owner = defined_by.get(function.name)
            if owner is None and registry.get(function.name) is not None:
                owner = "the standard library"
            if owner is not None:
                raise PluginError(
                    f"plugin {plugin_name!r}: DSL function {function.name!r} is already defined by {owner}"
                )
            registry.register(function)
            defined_by[function.name] = f"plugin {plugin_name!r}"
    return registry


def field_types() -> dict[str, FieldType]:
    """Plugins' field types by name (checked: a new name, a built-in base type)."""
    global _field_types
    with _lock:
        if _field_types is None:
            from engine.meta.model import FIELD_TYPES

            found: dict[str, FieldType] = {}
            for plugin_name, declared in results("tessera_field_types"):
                for ft in declared:
                    where = f"plugin {plugin_name!r}: field type {getattr(ft, 'name', ft)!r}"
                    if not isinstance(ft, FieldType):
                        raise PluginError(f"{where} is not an engine.hookspecs.FieldType")
                    if ft.name in FIELD_TYPES or ft.name in found:
                        raise PluginError(f"{where} is already defined")
                    if ft.base not in FIELD_TYPES or ft.base in ("links", "table", "autonumber"):
                        raise PluginError(f"{where} has base {ft.base!r}, which is not a storable built-in type")
                    found[ft.name] = ft
            _field_types = found
        return _field_types


def panels(entity: str) -> list[Panel]:
    """The plugins' panels shown on records of ``entity``."""
    return [p for p in collect_list("tessera_ui_panels") if not p.entities or entity in p.entities]


def _put(registry: dict[str, Any], name: str, value: Any) -> None:
    _undo.append((registry, name, registry.get(name, _ABSENT)))
    registry[name] = value


def install() -> None:
    """Register every plugin's actions, channels and jobs in the engine (once)."""
    global _installed
    with _lock:
        if _installed:
            return
        from engine.automation import actions, channels, jobs

        field_types()  # a bad field type fails at start-up, not at the first write
        for name, action in collect_map("tessera_actions").items():
            _put(actions.ACTIONS, name, action)
        for name, channel in collect_map("tessera_channels").items():
            _put(channels.CHANNELS, name, channel)
        for name, job in collect_map("tessera_jobs").items():
            _put(jobs.JOBS, name, job)
        _installed = True


def register_blueprints(app: Any) -> None:
    for blueprint in collect_list("tessera_blueprints"):
        app.register_blueprint(blueprint)


def reset() -> None:
    """Forget the manager and take back what :func:`install` registered: the next use
    discovers the plugins again (tests load plugins in isolation with this)."""
    global _manager, _installed, _field_types
    import engine.dsl

    with _lock:
        for registry, name, previous in reversed(_undo):
            if previous is _ABSENT:
                registry.pop(name, None)
            else:
                registry[name] = previous
        _undo.clear()
        _origins.clear()
        _manager, _installed, _field_types = None, False, None
        engine.dsl._DEFAULT_FUNCTIONS = None  # rebuilt with the plugins found next time


def render_panels(ws: Any, actor: Any, entity: str, record: dict[str, Any]) -> list[tuple[Panel, str]]:
    """``(panel, trusted HTML)`` of the plugins' panels for a record page; a panel that
    fails shows a one-line notice (logged with its traceback) instead of breaking the page."""
    import logging

    from markupsafe import Markup, escape

    shown: list[tuple[Panel, str]] = []
    for panel in panels(entity):
        try:
            html = panel.render(ws, actor, entity, record)
        except Exception as exc:  # plugin code: the page still renders, the log has the details
            logging.getLogger("tessera.plugins").exception("panel %r failed", panel.name)
            html = f'<p class="text-danger mb-0">{escape(_failure(f"panel {panel.name!r} failed", exc).detail)}</p>'
        if html:
            # panels return trusted HTML (engine.hookspecs.Panel): the plugin escapes what it interpolates
            shown.append((panel, Markup(html)))  # nosec B704
    return shown


def openapi_paths() -> dict[str, dict[str, Any]]:
    """The OpenAPI operations plugins document for their routes: a blueprint may carry
    ``openapi_paths = {"/api/v1/plugins/NAME/...": {"get": {operation}}}``."""
    paths: dict[str, dict[str, Any]] = {}
    for blueprint in collect_list("tessera_blueprints"):
        for path, operations in (getattr(blueprint, "openapi_paths", None) or {}).items():
            paths.setdefault(path, {}).update(operations)
    return paths
