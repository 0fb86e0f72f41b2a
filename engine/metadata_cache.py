"""Compiled metadata, shared by the workspaces of one process that run the same definitions.

Building the catalog of every shipped pack, compiling its DSL expressions and automation
and checking its templates takes seconds; the result depends only on the pack documents,
the overlays and the DSL function registry. A workspace asks ``compile_metadata`` and gets
the same immutable ``Compiled`` as any other workspace (or earlier snapshot) with the same
inputs: several workspaces of one deployment, a snapshot rebuilt after another process's
overlay change that is already known here, or a test suite's many fresh databases.

What a snapshot learns about its own database (duplicate keys built, cached statements)
stays in the ``Snapshot``; only the pure, read-only results are shared. Invalid metadata is
never cached: it raises with the checker's messages every time.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from engine.automation.model import Automation, build_automation
from engine.dsl.functions import FunctionRegistry
from engine.meta.catalog import Catalog, Overlay, build_catalog
from engine.meta.packs import Pack
from engine.meta.problems import Problems
from engine.render import check_render_templates
from engine.storage.expressions import check_catalog_expressions
from engine.storage.tables import Tables, build_tables

#: distinct metadata versions kept per process (workspaces, recent overlay states)
CACHE_SIZE = 8


@dataclass(frozen=True)
class Compiled:
    catalog: Catalog
    tables: Tables
    automation: Automation


_cache: OrderedDict[tuple[str, int], tuple[FunctionRegistry, Compiled]] = OrderedDict()
_lock = threading.Lock()


def fingerprint(packs: Iterable[Pack], overlays: Iterable[Overlay]) -> str:
    """A digest of everything the compiled metadata is made of."""
    digest = hashlib.blake2b(digest_size=20)
    for pack in packs:
        parts = [pack.name, str(pack.root), pack.version, pack.depends, pack.manifest.data]
        for folder in sorted(pack.documents):
            parts.extend((folder, [(str(doc.path), doc.data) for doc in pack.documents[folder]]))
        digest.update(json.dumps(parts, sort_keys=True, default=str).encode())
    for overlay in overlays:
        digest.update(json.dumps([overlay.id, overlay.kind, overlay.target, overlay.document], default=str).encode())
    return digest.hexdigest()


def compile_metadata(
    packs: list[Pack], overlays: tuple[Overlay, ...], functions: FunctionRegistry, invalid: str
) -> Compiled:
    """The checked catalog, tables and automation of ``packs`` with ``overlays``.

    Raises ``MetadataError`` headed ``invalid`` with every problem found."""
    key = (fingerprint(packs, overlays), id(functions))
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] is functions:
            _cache.move_to_end(key)
            return hit[1]
    problems = Problems()
    catalog = build_catalog(packs, overlays, problems)
    automation = Automation()
    if not problems:
        check_catalog_expressions(catalog, functions, problems)
        automation = build_automation(catalog, functions, problems)
        check_render_templates(catalog, problems)
    tables = build_tables(catalog, problems) if not problems else None
    problems.raise_if_any(invalid)
    assert tables is not None
    compiled = Compiled(catalog, tables, automation)
    with _lock:
        _cache[key] = (functions, compiled)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled
