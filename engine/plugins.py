"""Finding plugins and registering what their hooks declare.

Plugins come from two places, in this order: the first-party ``plugins/`` package (each
module or sub-package in it) and installed distributions exposing the ``tessera.plugins``
entry-point group. :func:`install` calls every hook once and puts the declarations in
the engine's registries (actions, channels, jobs, DSL functions...); it is idempotent
and runs when the first workspace opens. The hook contract is :mod:`engine.hookspecs`.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pluggy

from engine.hookspecs import ENTRY_POINT_GROUP, PROJECT, TesseraSpec

_lock = threading.Lock()
_manager: pluggy.PluginManager | None = None
_installed = False


def first_party_modules() -> Iterator[Any]:
    """Each module or sub-package of the first-party ``plugins`` package."""
    import plugins

    for info in sorted(pkgutil.iter_modules(plugins.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"plugins.{info.name}")


def manager() -> pluggy.PluginManager:
    """The process-wide plugin manager with every plugin registered (built once)."""
    global _manager
    with _lock:
        if _manager is None:
            pm = pluggy.PluginManager(PROJECT)
            pm.add_hookspecs(TesseraSpec)
            for module in first_party_modules():
                pm.register(module, name=module.__name__)
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
            _manager = pm
        return _manager


def collect_list(hook_name: str) -> list[Any]:
    """Concatenate what every implementation of a list-returning hook gave."""
    results = getattr(manager().hook, hook_name)()
    return [item for result in reversed(results) if result for item in result]


def collect_map(hook_name: str) -> dict[str, Any]:
    """Merge what every implementation of a mapping-returning hook gave (later wins)."""
    merged: dict[str, Any] = {}
    for result in reversed(getattr(manager().hook, hook_name)()):
        merged.update(result or {})
    return merged


def pack_roots() -> list[Path]:
    return [Path(root) for root in collect_list("tessera_pack_roots")]


def install() -> None:
    """Register every plugin's actions, channels and jobs in the engine (once)."""
    global _installed
    if _installed:
        return
    from engine.automation import actions, channels, jobs

    for name, action in collect_map("tessera_actions").items():
        actions.register(name, action)
    for name, channel in collect_map("tessera_channels").items():
        channels.register_channel(name, channel)
    for name, job in collect_map("tessera_jobs").items():
        jobs.register_job(name, job)
    _installed = True


def register_blueprints(app: Any) -> None:
    for blueprint in collect_list("tessera_blueprints"):
        app.register_blueprint(blueprint)
