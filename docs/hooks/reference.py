"""MkDocs hook: the generated reference pages (engine.docgen), made at every build.

Nothing generated is committed: ``on_config`` reads the packs and the function registry
once and lists one navigation entry per pack; ``on_files`` adds the pages themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

from engine.docgen import load_sources, reference_pages

PACKS_INDEX = "reference/packs/index.md"
_pages: dict[str, str] = {}


def _expand_packs(nav: Any, packs: list[str]) -> Any:
    """Replace the entry naming ``reference/packs/index.md`` by a section with every pack."""
    if isinstance(nav, list):
        return [_expand_packs(item, packs) for item in nav]
    if isinstance(nav, dict):
        out = {}
        for title, value in nav.items():
            if value == PACKS_INDEX:
                value = [PACKS_INDEX, *[{name: f"reference/packs/{name}.md"} for name in packs]]
            out[title] = _expand_packs(value, packs)
        return out
    return nav


def _nav_paths(nav: Any) -> set[str]:
    if isinstance(nav, list):
        return set().union(*map(_nav_paths, nav)) if nav else set()
    if isinstance(nav, dict):
        return _nav_paths(list(nav.values()))
    return {nav} if isinstance(nav, str) else set()


def _add_unlisted(nav: list[Any], docs_dir: Path) -> list[Any]:
    """Pages of docs/ the nav does not name: top-level ones under "More", others in a section
    named for their folder (sorted), so a page added by a later change is never unreachable."""
    listed = _nav_paths(nav)
    unlisted = sorted(
        path.relative_to(docs_dir).as_posix()
        for path in docs_dir.rglob("*.md")
        if "hooks" not in path.relative_to(docs_dir).parts
    )
    unlisted = [path for path in unlisted if path not in listed and path not in _pages]
    sections: dict[str, list[str]] = {}
    for path in unlisted:
        folder, _, _ = path.rpartition("/")
        sections.setdefault(folder.split("/")[0] if folder else "More", []).append(path)
    return [*nav, *({title: pages} for title, pages in sections.items())]


def on_config(config: Any) -> Any:
    sources = load_sources()
    _pages.clear()
    _pages.update(reference_pages(sources))
    nav = _expand_packs(config["nav"], [pack.name for pack in sources.catalog.packs])
    config["nav"] = _add_unlisted(nav, Path(config["docs_dir"]))
    return config


def on_files(files: Files, config: Any) -> Files:
    for path, content in _pages.items():
        existing = files.get_file_from_path(path)
        if existing is not None:  # a stale copy on disk never wins over the fresh one
            files.remove(existing)
        files.append(File.generated(config, path, content=content))
    return files
