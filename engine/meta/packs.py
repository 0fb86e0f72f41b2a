"""Finding packs on disk, reading their documents and ordering them by ``depends``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.meta.problems import Problems
from engine.meta.schema_check import iter_errors
from engine.meta.source import Document, SourceError, format_path, read_document

DOCUMENT_SUFFIXES = (".yaml", ".yml", ".json")
#: folders of a pack whose documents later layers read; the loader only parses them
KNOWN_FOLDERS: tuple[str, ...] = ("entities", "rules", "workflows", "sla", "calendars", "dashboards", "reports")
KNOWN_FOLDERS += ("layouts",)  # form layouts (engine.layouts)
KNOWN_FOLDERS += ("seed", "templates")
KNOWN_FOLDERS += ("forms", "hooks")  # public capture: web forms and inbound hooks (engine.capture)
KNOWN_FOLDERS += ("actions",)  # record actions (engine.automation.pack_actions)
KNOWN_FOLDERS += ("connectors",)  # where integration connectors are stored (engine.connectors)


@dataclass
class Pack:
    name: str
    root: Path
    manifest: Document
    label: object = None
    version: str = "0.0.0"
    depends: tuple[str, ...] = ()
    documents: dict[str, list[Document]] = field(default_factory=dict)

    def files(self, folder: str) -> list[Document]:
        return self.documents.get(folder, [])


def builtin_pack_roots() -> list[Path]:
    """The engine's own system pack, the first-party ``metadata/`` folder and the
    folders plugins declare (``tessera_pack_roots``)."""
    import metadata  # the first-party packs ship as package data
    from engine.plugins import pack_roots

    engine_root = Path(__file__).resolve().parent.parent
    return [engine_root / "system_pack", Path(metadata.__file__).resolve().parent, *pack_roots()]


def _pack_dirs(roots: list[Path]) -> list[Path]:
    found: list[Path] = []
    for root in roots:
        root = root.resolve()  # the same folder named twice (relative and absolute) is one pack
        if (root / "pack.yaml").exists():
            candidates = [root]
        elif root.is_dir():
            candidates = sorted(p.parent for p in root.glob("*/pack.yaml"))
        else:
            candidates = []
        found.extend(c for c in candidates if c not in found)
    return found


def _read(path: Path, problems: Problems) -> Document | None:
    try:
        return read_document(path)
    except SourceError as exc:
        problems.add(f"{exc.path}:{exc.line}:{exc.col}", exc.message)
        return None


def read_pack(root: Path, problems: Problems) -> Pack | None:
    manifest = _read(root / "pack.yaml", problems)
    if manifest is None:
        return None
    before = len(problems.items)
    for doc_path, message in iter_errors("pack", manifest.data):
        problems.add(manifest.location(doc_path), message, format_path(doc_path))
    if len(problems.items) > before:
        return None
    data = manifest.data
    pack = Pack(data["name"], root, manifest, data.get("label"), data["version"], tuple(data.get("depends", ())))
    if pack.name != root.name and root.name != "system_pack":
        problems.add(manifest.location(["name"]), f"pack name {pack.name!r} differs from its folder {root.name!r}")
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        if sub.name not in KNOWN_FOLDERS:
            problems.add(f"{sub}:1:1", f"unknown pack folder {sub.name!r}; expected one of {', '.join(KNOWN_FOLDERS)}")
    return pack


def read_documents(pack: Pack, problems: Problems) -> None:
    """Parse the definition documents of ``pack`` (seed data is read only when loaded)."""
    for folder in KNOWN_FOLDERS:
        if folder in ("seed", "templates") or not (pack.root / folder).is_dir():
            continue
        pack.documents[folder] = read_folder(pack.root / folder, problems)


def read_folder(folder: Path, problems: Problems) -> list[Document]:
    docs = []
    for file in sorted(folder.rglob("*")):
        if file.suffix in DOCUMENT_SUFFIXES and file.is_file():
            doc = _read(file, problems)
            if doc is not None:
                docs.append(doc)
    return docs


def discover(roots: list[Path], problems: Problems) -> dict[str, Pack]:
    packs: dict[str, Pack] = {}
    for directory in _pack_dirs(roots):
        pack = read_pack(directory, problems)
        if pack is None:
            continue
        if pack.name in packs:
            other = packs[pack.name]
            problems.add(
                pack.manifest.location(["name"]),
                f"pack {pack.name!r} is defined twice: here and in {other.manifest.location(['name'])}",
            )
            continue
        packs[pack.name] = pack
    return packs


def resolve(packs: dict[str, Pack], wanted: tuple[str, ...] | None, problems: Problems) -> list[Pack]:
    """Packs to install, dependencies first. ``wanted`` None means every pack found.

    A missing dependency or a cycle is reported naming both packs.
    """
    ordered: list[Pack] = []
    state: dict[str, str] = {}  # name -> "visiting" | "done"

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = [*chain[chain.index(name) :], name]
            pack = packs[chain[-1]]
            problems.add(pack.manifest.location(["depends"]), f"dependency cycle: {' -> '.join(cycle)}", "depends")
            return
        state[name] = "visiting"
        pack = packs[name]
        for index, dep in enumerate(pack.depends):
            if dep not in packs:
                problems.add(
                    pack.manifest.location(["depends", index]),
                    f"pack {name!r} depends on {dep!r}, which is not installed or does not exist",
                    f"depends[{index}]",
                )
                continue
            visit(dep, [*chain, name])
        state[name] = "done"
        ordered.append(pack)

    roots = sorted(packs) if wanted is None else list(wanted)
    for name in ["system", *roots]:
        if name not in packs:
            problems.add("TESSERA_PACKS:1:1", f"unknown pack {name!r}; available: {', '.join(sorted(packs))}")
            continue
        visit(name, [])
    for pack in ordered:
        if not pack.documents:
            read_documents(pack, problems)
    return ordered


def dependency_closure(packs: list[Pack]) -> dict[str, set[str]]:
    """For each pack, itself and every pack it depends on, directly or not."""
    by_name = {p.name: p for p in packs}
    closure: dict[str, set[str]] = {}
    for pack in packs:  # dependencies come first, so their closures exist already
        seen = {pack.name, "system"}
        for dep in pack.depends:
            seen |= closure.get(dep, {dep}) if dep in by_name else set()
        closure[pack.name] = seen
    return closure
