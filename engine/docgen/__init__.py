"""Reference pages generated from the running definitions, never written by hand.

The documentation site (``mkdocs.yml``, built with ``mkdocs build --strict``) asks
:func:`reference_pages` for its generated pages at build time, so they cannot go stale:
the DSL reference comes from the function registry, the REST API reference from the
OpenAPI document and the pack reference from the packs' metadata. Everything is read
from disk (``tessera check``'s loading); no database is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.automation.model import Automation, build_automation
from engine.config import Config, load_config
from engine.dsl import default_functions
from engine.dsl.functions import FunctionRegistry
from engine.meta.catalog import Catalog
from engine.meta.problems import Problems

__all__ = ["Sources", "load_sources", "reference_pages"]


@dataclass(frozen=True)
class Sources:
    """What the reference pages are generated from."""

    catalog: Catalog
    automation: Automation
    functions: FunctionRegistry


def load_sources(config: Config | None = None) -> Sources:
    """Every installed pack (as ``tessera check`` reads them) and the function registry."""
    from engine.checking import load_catalog

    config = config or load_config({})
    catalog = load_catalog(config)
    functions = default_functions()
    problems = Problems()
    automation = build_automation(catalog, functions, problems)
    problems.raise_if_any("The installed packs are invalid")
    return Sources(catalog, automation, functions)


def reference_pages(sources: Sources) -> dict[str, str]:
    """Generated files by path under the docs folder (``reference/...``) -> their text."""
    from engine.docgen.api_reference import api_pages
    from engine.docgen.dsl_reference import dsl_page
    from engine.docgen.pack_reference import pack_pages

    pages = {"reference/dsl-functions.md": dsl_page(sources.functions)}
    pages.update(api_pages(sources.catalog, sources.automation))
    pages.update(pack_pages(sources.catalog))
    return pages
