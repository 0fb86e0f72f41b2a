"""Testing plugins without installing them.

:func:`plugin_installed` makes Python see a distribution exposing a ``tessera.plugins``
entry point, as ``pip install`` would: it writes a ``.dist-info`` folder (``METADATA`` and
``entry_points.txt``) to a temporary folder and puts it, with the plugin's source folder,
on ``sys.path``. Tessera's plugin manager is rebuilt on entry and again on exit, and
the plugin's modules are forgotten, so nothing leaks into the tests that follow::

    with plugin_installed("hello", "tessera_hello", source=Path("examples/plugin_hello")):
        ws = Workspace(config)  # sees the plugin's functions, actions, packs...
"""

from __future__ import annotations

import importlib
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine import plugins


@contextmanager
def isolated_plugins() -> Iterator[None]:
    """Plugins discovered afresh inside the block, and again after it."""
    plugins.reset()
    try:
        yield
    finally:
        plugins.reset()


@contextmanager
def plugin_installed(
    name: str,
    value: str,
    *,
    source: Path | None = None,
    distribution: str | None = None,
    version: str = "0.0.0",
) -> Iterator[Path]:
    """Inside the block, distribution ``distribution`` (default ``tessera-NAME``) is
    installed with entry point ``NAME = VALUE`` in group ``tessera.plugins``; ``source`` is
    the folder holding the plugin's top-level module. Yields the ``.dist-info`` folder."""
    dist_name = distribution or f"tessera-{name}"
    top_module = value.split(":")[0].split(".")[0]
    with tempfile.TemporaryDirectory(prefix="tessera-plugin-") as tmp:
        info = Path(tmp) / f"{dist_name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[{plugins.ENTRY_POINT_GROUP}]\n{name} = {value}\n")
        added = [tmp] + ([str(source.resolve())] if source is not None else [])
        sys.path[:0] = added
        importlib.invalidate_caches()
        try:
            with isolated_plugins():
                yield info
        finally:
            for entry in added:
                sys.path.remove(entry)
            for module in [m for m in sys.modules if m == top_module or m.startswith(f"{top_module}.")]:
                del sys.modules[module]
            importlib.invalidate_caches()
