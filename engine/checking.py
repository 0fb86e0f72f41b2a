"""``tessera check``: validate packs on disk (schemas, references, expressions) without a database."""

from __future__ import annotations

from pathlib import Path

from engine.automation.model import build_automation
from engine.config import Config
from engine.dsl import default_functions
from engine.meta.catalog import Catalog, build_catalog
from engine.meta.packs import builtin_pack_roots, discover, resolve
from engine.meta.problems import Problems
from engine.render import check_render_templates
from engine.storage.expressions import check_catalog_expressions
from engine.storage.tables import build_tables


def check_packs(config: Config, paths: list[Path]) -> tuple[Problems, int]:
    """Problems of the packs under ``paths`` (default: every installed pack).

    Packs outside ``paths`` are still read, so that dependencies resolve.
    """
    problems = Problems()
    roots = [*builtin_pack_roots(), *config.extra_pack_paths]
    extra = [p.resolve() for p in paths]
    roots += [p for p in extra if p not in roots]
    found = discover(roots, problems)
    wanted: tuple[str, ...] | None
    if extra:
        wanted = tuple(
            sorted(name for name, pack in found.items() if any(pack.root.resolve().is_relative_to(p) for p in extra))
        )
    else:
        wanted = config.packs
    ordered = resolve(found, wanted, problems)
    catalog = build_catalog(ordered, (), problems)
    if not problems:  # expressions are checked against a consistent catalog only
        functions = default_functions()
        check_catalog_expressions(catalog, functions, problems)
        build_automation(catalog, functions, problems)
        check_render_templates(catalog, problems)
        build_tables(catalog, problems)  # partial indexes' conditions
    return problems, len(ordered)


def load_catalog(config: Config) -> Catalog:
    problems = Problems()
    roots = [*builtin_pack_roots(), *config.extra_pack_paths]
    catalog = build_catalog(resolve(discover(roots, problems), config.packs, problems), (), problems)
    problems.raise_if_any("The installed packs are invalid")
    return catalog
