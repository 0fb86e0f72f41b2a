"""The ``board:`` key of an entity: a kanban board definition the UI renders.

```yaml
board:
  field: status                      # an enum: one column per option, in option order
  columns: [open, in_progress, review, done]   # optional subset
  card: [title, project.name, hours, due_on, owner]
  sum: hours                         # totalled per column
  sort: due_on                       # order inside a column
  filter: 'due_on >= today() - 90d'
```

The engine stores and publishes it (``GET /api/v1/meta/entities/NAME`` -> ``board``);
moving a card is an ordinary PATCH of ``field``, so validations, workflows and rules apply.
The filter is type-checked like a list filter (engine.storage.expressions).
"""

from __future__ import annotations

from engine.meta.model import SYSTEM_FIELDS, EntityDef
from engine.meta.problems import Problems

_NUMBERS = ("int", "decimal", "money", "percent", "duration")


def check_board(entity: EntityDef, problems: Problems) -> None:
    board = entity.board
    if not board:
        return
    where = str(entity.origin)
    fd = entity.fields.get(board["field"])
    if fd is None or fd.type != "enum":
        problems.add(where, f"{entity.name}: board field {board['field']!r} must be an enum field of {entity.name}")
        return
    options = [o.value for o in fd.enum_options]
    for column in board.get("columns", ()):
        if column not in options:
            problems.add(where, f"{entity.name}: board column {column!r} is not an option of {fd.name}")
    for path in board.get("card", ()):
        head = path.split(".")[0]
        if head not in entity.fields and head not in SYSTEM_FIELDS:
            problems.add(where, f"{entity.name}: board card field {path!r} starts with an unknown field")
    total = board.get("sum")
    if total is not None and (total not in entity.fields or entity.fields[total].type not in _NUMBERS):
        problems.add(where, f"{entity.name}: board sum {total!r} must be a number field of {entity.name}")
    sort = board.get("sort")
    if sort is not None:
        name = sort.lstrip("-")
        if not (name in SYSTEM_FIELDS or (name in entity.fields and entity.fields[name].has_column)):
            problems.add(where, f"{entity.name}: board sort field {name!r} is not a stored field")
