"""Reading pack documents (YAML or JSON) while remembering where every value stands.

Errors about metadata must name ``file:line:col`` and the path inside the document, so the
loader keeps, for each path, the position of the key (in a mapping) or the item (in a
list). YAML is read with the YAML 1.2 core rules for booleans (only ``true``/``false``),
so that ``on:`` in a rule or an enum option ``no`` stay strings, and dates stay strings
(the engine parses them by field type, not by guessing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


# libyaml's parser when available (about 10x faster on large seed files), else pure Python
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CoreLoader(_Base):  # type: ignore[valid-type, misc]
    """SafeLoader without YAML 1.1 surprises (yes/no/on/off booleans, timestamps)."""


_CoreLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CoreLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class Document:
    """One parsed document and the positions of its parts."""

    path: Path
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    #: schema problems found, by (schema, field types known then): a pack's documents are
    #: checked once however often the metadata is rebuilt (each overlay change rebuilds it)
    schema_problems: dict[Any, list[tuple[Path_, str]]] = field(default_factory=dict, compare=False, repr=False)

    def where(self, doc_path: Path_ | list[Any]) -> tuple[int, int]:
        """Line and column of the deepest known part of ``doc_path`` (1-based)."""
        parts = tuple(doc_path)
        while parts:
            if parts in self.positions:
                return self.positions[parts]
            parts = parts[:-1]
        return self.positions.get((), (1, 1))

    def location(self, doc_path: Path_ | list[Any]) -> str:
        line, col = self.where(doc_path)
        return f"{self.path}:{line}:{col}"


class SourceError(Exception):
    def __init__(self, path: Path, line: int, col: int, message: str):
        super().__init__(f"{path}:{line}:{col}: {message}")
        self.path, self.line, self.col, self.message = path, line, col, message


def _construct(loader: _CoreLoader, node: yaml.Node, here: Path_, positions: dict[Path_, tuple[int, int]]) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                mark = key_node.start_mark
                raise SourceError(Path(""), mark.line + 1, mark.column + 1, f"duplicate key {key!r}")
            positions[(*here, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _construct(loader, value_node, (*here, key), positions)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            positions[(*here, index)] = (item.start_mark.line + 1, item.start_mark.column + 1)
            items.append(_construct(loader, item, (*here, index), positions))
        return items
    return loader.construct_object(node, deep=True)


def parse_text(text: str, path: Path) -> Document:
    """Parse YAML (or JSON, which the same reader accepts) keeping positions."""
    loader = _CoreLoader(text)
    try:
        node = loader.get_single_node()
        positions: dict[Path_, tuple[int, int]] = {}
        if node is None:
            return Document(path, None, {(): (1, 1)})
        positions[()] = (node.start_mark.line + 1, node.start_mark.column + 1)
        data = _construct(loader, node, (), positions)
    except SourceError as exc:
        raise SourceError(path, exc.line, exc.col, exc.message) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SourceError(path, line, col, f"not valid YAML/JSON: {exc.problem or exc}") from None
    finally:
        loader.dispose()
    return Document(path, data, positions)


def read_document(path: Path) -> Document:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(path, 1, 1, f"not UTF-8 text ({exc.reason})") from None
    return parse_text(text, path)


def format_path(doc_path: Path_ | list[Any]) -> str:
    """``fields.status.options[2]`` style rendering of a document path."""
    out = ""
    for part in doc_path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(document)"
