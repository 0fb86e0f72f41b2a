"""The constant values of an import: a mapping template's ``defaults`` and the batch's
source category, converted and resolved like cells, once per run."""

from __future__ import annotations

from typing import Any

from engine.dataio.convert import REFERENCES, ConversionError, ConvertOptions, converter
from engine.dataio.links import LinkResolver
from engine.dataio.mapping import Column, MappingError, importable_field
from engine.dataio.report import ImportOptions
from engine.meta.model import EntityDef


def import_constants(
    ws: Any, snap: Any, rc: Any, entity: EntityDef, options: ImportOptions, convert_options: ConvertOptions
) -> dict[str, Any]:
    """Template constants and the source category, converted like cells."""
    raw = dict(options.defaults)
    if options.source_detail is not None:
        if "source_detail" not in entity.fields:
            raise MappingError(f"{entity.name} has no field source_detail to hold the source category")
        raw["source_detail"] = options.source_detail
    out: dict[str, Any] = {}
    for name, value in raw.items():
        fd, by = importable_field(entity, name)
        if by is not None or fd.type in REFERENCES:
            if not isinstance(value, str):
                raise MappingError(f"the constant for {name} must name a record")
            resolver = LinkResolver(snap, rc, Column(-1, f"constant {name}", fd, by))
            with ws.db.connect() as conn:
                parts = [value] if fd.type != "links" else value.split(";")
                found = resolver.resolve(conn, {p.strip() for p in parts})
            ids = []
            for part, hits in found.items():
                if len(hits) != 1:
                    raise MappingError(f"constant {name}: {resolver.message(part, len(hits))}")
                ids += list(hits)
            out[fd.name] = ids if fd.type == "links" else ids[0]
        elif isinstance(value, str):
            try:
                out[fd.name] = converter(fd, convert_options, options.values.get(fd.name))(value)
            except ConversionError as exc:
                raise MappingError(f"constant {name}: {exc}") from None
        else:
            out[fd.name] = value
    return out
