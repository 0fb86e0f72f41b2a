"""Collecting metadata problems so that ``tessera check`` can print all of them at once."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import FieldError, MetadataError


@dataclass(frozen=True)
class Problem:
    location: str  # ``file:line:col``
    doc_path: str  # path inside the document, ``fields.status.options``
    message: str

    def __str__(self) -> str:
        where = f" ({self.doc_path})" if self.doc_path and self.doc_path != "(document)" else ""
        return f"{self.location}: {self.message}{where}"


@dataclass
class Problems:
    items: list[Problem] = field(default_factory=list)

    def add(self, location: str, message: str, doc_path: str = "") -> None:
        self.items.append(Problem(location, doc_path, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self, detail: str = "The metadata is invalid") -> None:
        if self.items:
            raise MetadataError(
                detail, [FieldError(p.doc_path or p.location, f"{p.location}: {p.message}") for p in self.items]
            )
