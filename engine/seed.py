"""Loading pack seed data (``metadata/<pack>/seed/*.yaml``) through the data-access layer.

A seed document names an entity and its records. ``_ref`` gives a record a key; a value
``"@key"`` (or a list of them) anywhere in a later record is replaced by that record's id,
so seed files can link accounts, contacts and activities without knowing ids.
"""

from __future__ import annotations

from typing import Any

from engine.actor import SYSTEM
from engine.errors import FieldError, ValidationError
from engine.meta.packs import read_folder
from engine.meta.problems import Problems
from engine.workspace import Workspace

BATCH = 500


def _resolve(value: Any, refs: dict[str, str], where: str) -> Any:
    if isinstance(value, str) and value.startswith("@") and len(value) > 1:
        if value[1:] not in refs:
            raise ValidationError(f"{where}: unknown seed reference {value}", [FieldError(where, f"Unknown {value}.")])
        return refs[value[1:]]
    if isinstance(value, list):
        return [_resolve(v, refs, where) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, refs, where) for k, v in value.items()}
    return value


def load_seed(ws: Workspace, packs: list[str] | None = None) -> dict[str, int]:
    """Create every pack's seed records; returns the number created per entity."""
    refs: dict[str, str] = {}
    counts: dict[str, int] = {}
    problems = Problems()
    for pack in ws.packs:
        if packs is not None and pack.name not in packs:
            continue
        for doc in read_folder(pack.root / "seed", problems):
            entity = doc.data["entity"]
            records = doc.data.get("records") or []
            for start in range(0, len(records), BATCH):
                chunk = records[start:start + BATCH]
                keys = [r.get("_ref") for r in chunk]
                payload = [_resolve({k: v for k, v in r.items() if k != "_ref"}, refs, f"{doc.path}") for r in chunk]
                try:
                    created = ws.records.bulk(SYSTEM, entity, payload)
                except ValidationError as exc:
                    first = exc.errors[0] if exc.errors else None
                    index = first.index if first and first.index is not None else 0
                    raise ValidationError(f"{doc.path}: record {start + index + 1} of {entity}: "
                                          f"{first.field if first else ''}: {first.message if first else exc.detail}",
                                          exc.errors) from None
                for key, record in zip(keys, created, strict=True):
                    if key:
                        refs[key] = record["id"]
                counts[entity] = counts.get(entity, 0) + len(created)
    problems.raise_if_any("The seed data cannot be read")
    return counts
