"""The ``calendar:`` key of an entity: its records on the UI's calendar (day, week, month).

```yaml
calendar:
  start: due_at        # a date or datetime field: where the record sits on the calendar
  end: ends_at         # optional, the same type as start: a record spanning several days
  title: subject       # optional, default the entity's title field
  color_by: kind       # optional enum field: the entry takes its option's colour
```

The engine checks and publishes it (``GET /api/v1/meta/entities/NAME`` -> ``calendar``);
the UI (``/app/calendar``) lists the records of every entity that declares it, through the
data-access layer, so each reader sees only what their permissions allow. (Business
calendars for SLA clocks are something else: the ``calendars/`` folder of a pack.)
"""

from __future__ import annotations

from engine.meta.model import EntityDef
from engine.meta.problems import Problems

TEMPORAL = ("date", "datetime")


def check_calendar(entity: EntityDef, problems: Problems) -> None:
    spec = entity.calendar
    if not spec:
        return
    where = str(entity.origin)
    start = entity.fields.get(spec["start"])
    if start is None or start.type not in TEMPORAL or not start.has_column:
        problems.add(where, f"{entity.name}: calendar start {spec['start']!r} must be a stored date or datetime field")
    end_name = spec.get("end")
    if end_name is not None:
        end = entity.fields.get(end_name)
        if end is None or not end.has_column or start is None or end.type != start.type:
            problems.add(
                where, f"{entity.name}: calendar end {end_name!r} must be a stored field of the start field's type"
            )
    title = spec.get("title")
    if title is not None and title not in entity.fields:
        problems.add(where, f"{entity.name}: calendar title {title!r} is not a field of {entity.name}")
    color_by = spec.get("color_by")
    if color_by is not None:
        fd = entity.fields.get(color_by)
        if fd is None or fd.type != "enum":
            problems.add(where, f"{entity.name}: calendar color_by {color_by!r} must be an enum field")
