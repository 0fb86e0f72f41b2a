"""Form layouts: how an entity's record page and forms group and order its fields.

```yaml
# metadata/quotes/layouts/quote.yaml (or an overlay: /api/v1/meta/documents/layout)
layout: quote
entity: quote
sections:
  - label: {en: Customer, de: Kunde}
    fields: [title, opportunity, account, contact]
  - label: Terms
    fields: [valid_until, currency, terms]
```

Without a layout, fields are grouped by their ``section:`` option in definition order. With
one, its sections come first in its order; fields it does not name (a field a pack or an
admin added later) follow under their own ``section:`` groups, so nothing ever disappears.
One layout per entity; an admin changes it in the admin area's document editor (an overlay
replaces the pack's layout of the same name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.automation.definitions import collect
from engine.automation.model import Automation, BaseComponent
from engine.automation.values import target_entity
from engine.dsl.functions import FunctionRegistry
from engine.meta.catalog import Catalog
from engine.meta.problems import Problems


@dataclass(frozen=True)
class Section:
    label: Any
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    name: str
    entity: str
    sections: tuple[Section, ...]


class LayoutComponent(BaseComponent):
    name = "layouts"

    def compile(
        self, automation: Automation, catalog: Catalog, functions: FunctionRegistry, problems: Problems
    ) -> None:
        by_entity: dict[str, Layout] = {}
        where_defined: dict[str, str] = {}
        for definition in collect(catalog, "layout", problems):
            data = definition.data
            entity = target_entity(data["entity"], definition.pack, catalog, problems, definition.location("entity"))
            if entity is None:
                continue
            if entity.name in by_entity:
                problems.add(
                    definition.location("entity"),
                    f"{entity.name} already has the layout {by_entity[entity.name].name!r} "
                    f"({where_defined[entity.name]}); an entity has one layout",
                )
                continue
            seen: set[str] = set()
            sections = []
            for index, spec in enumerate(data["sections"]):
                for position, name in enumerate(spec["fields"]):
                    place = definition.location("sections", index, "fields", position)
                    fd = entity.fields.get(name)
                    if fd is None or fd.type == "table":
                        problems.add(place, f"{entity.name} has no field {name!r} a form can show")
                    elif name in seen:
                        problems.add(place, f"{name!r} is already in an earlier section")
                    seen.add(name)
                sections.append(Section(spec["label"], tuple(spec["fields"])))
            by_entity[entity.name] = Layout(definition.name, entity.name, tuple(sections))
            where_defined[entity.name] = definition.location("layout")
        automation.parts[self.name] = by_entity


COMPONENT = LayoutComponent()


def layout_of(snap: Any, entity: str) -> Layout | None:
    """The entity's layout in a metadata snapshot, if it has one."""
    found: dict[str, Layout] = snap.automation.parts.get("layouts", {})
    return found.get(entity)
