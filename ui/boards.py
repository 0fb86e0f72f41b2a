"""Kanban boards: ``/app/ENTITY/board/FIELD`` for any enum field of an entity the user may read.

The columns are the field's options in order, or, when the entity's ``board:`` definition
names this field (engine.meta.board), its columns, card fields, per-column sum, sort and
filter. ``?filter=`` narrows the board with a DSL condition, as on the list view.

Moving a card is ``POST /app/ENTITY/board/FIELD/move`` (``{id, to, version}`` as JSON from
``board.js``, or a form posted by the card's own small form when JavaScript is off). The
server decides how: when a workflow owns the field, the move runs the workflow transition
from the card's state to the target (so roles, guards, required fields and the
transition's actions apply, and a refusal comes back as problem+json); otherwise it is a
plain update of the field with the card's version as ``If-Match``. Either way the write
goes through the data-access layer as the signed-in user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import abort, flash, jsonify, redirect, request, session, url_for

from engine.actor import Actor
from engine.api.context import actor, workspace
from engine.api.problems import problem
from engine.automation.record_actions import run_action
from engine.automation.workflows import COMPONENT as WORKFLOWS
from engine.automation.workflows import Workflow
from engine.dsl.parser import string_literal
from engine.errors import (
    AuthenticationRequired,
    BadRequest,
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    TesseraError,
    ValidationError,
)
from engine.meta.model import SYSTEM_FIELDS, EntityDef, EnumOption, FieldDef
from ui.lists import combined, entity_or_404
from ui.pages import bp, catalog, render_page, signed_in, text
from ui.values import column, list_columns, reference_titles

#: cards shown per column (the column's count says how many there are in all)
CARDS_PER_COLUMN = 50
#: card fields when the entity's board definition gives none (after the title)
DEFAULT_CARD_FIELDS = 3
_REFERENCES = ("link", "user", "team")


@dataclass
class CardField:
    path: str
    label: str
    type: str
    field: FieldDef | None


@dataclass
class Card:
    id: str
    version: int
    title: str
    values: list[tuple[CardField, Any]]
    record: dict[str, Any]


@dataclass
class Column:
    value: str
    label: str
    color: str | None
    count: int = 0
    total: Any = None
    cards: list[Card] = field(default_factory=list)
    #: the DSL condition of the column's records (its "more in the list" link)
    condition: str = ""

    @property
    def hidden(self) -> int:
        """Cards of the column not shown (beyond ``CARDS_PER_COLUMN``)."""
        return max(0, self.count - len(self.cards))


@dataclass
class Board:
    entity: EntityDef
    field: FieldDef
    columns: list[Column]
    card_fields: list[CardField]
    sum_field: FieldDef | None
    filter: str
    error: str | None
    workflow: str | None
    movable: bool
    refs: dict[str, dict[str, str]]


# --- what the board shows -------------------------------------------------------------------
def board_field(entity: EntityDef, name: str) -> FieldDef:
    fd = entity.fields.get(name)
    if fd is None or fd.type != "enum" or not fd.has_column:
        abort(404)
    return fd


def definition(entity: EntityDef, fd: FieldDef) -> dict[str, Any]:
    """The entity's ``board:`` definition when it is about this field, else nothing."""
    board = entity.board or {}
    return board if board.get("field") == fd.name else {}


def columns_of(fd: FieldDef, spec: dict[str, Any]) -> list[EnumOption]:
    options = list(fd.enum_options)
    wanted = spec.get("columns")
    if wanted:
        return [o for v in wanted for o in options if o.value == v]
    return options


def card_fields(entity: EntityDef, fd: FieldDef, spec: dict[str, Any]) -> list[CardField]:
    """The card's lines: the definition's ``card:`` paths (``account.name`` follows a
    link), else the list columns; fields the user may not read are left out."""
    paths = list(spec.get("card") or [])
    if not paths:
        names = [c.name for c in list_columns(entity) if c.name not in (entity.title_field, fd.name)]
        paths = names[:DEFAULT_CARD_FIELDS]
    out = []
    for path in paths:
        if path in (entity.title_field, fd.name):
            continue
        head, _, rest = path.partition(".")
        if rest:
            link = entity.fields.get(head)
            target = catalog().entities.get(link.target or "") if link is not None and link.type == "link" else None
            leaf = target.fields.get(rest) if target is not None and "." not in rest else None
            if link is None or leaf is None:
                continue  # the user may not read it (or it is deeper than one link)
            out.append(CardField(path, text(link.label), leaf.type, leaf))  # "Account", not "Name"
            continue
        col = column(entity, path)
        if col is not None:
            out.append(CardField(path, text(col.label), col.type, col.field))
    return out


def _sortable(entity: EntityDef, sort: str | None) -> str:
    name = (sort or "").lstrip("-")
    if name and (name in SYSTEM_FIELDS or (name in entity.fields and entity.fields[name].has_column)):
        return str(sort)
    return "-updated_at"


def _list_params(entity: EntityDef, fields: list[CardField], condition: str, sort: str) -> dict[str, str]:
    expand = sorted({f.path.split(".")[0] for f in fields if "." in f.path})
    params = {"filter": condition, "sort": sort, "limit": str(CARDS_PER_COLUMN)}
    if expand:
        params["expand"] = ",".join(expand)
    return params


def build_board(ws: Any, who: Actor, entity: EntityDef, fd: FieldDef, user_filter: str) -> Board:
    spec = definition(entity, fd)
    options = columns_of(fd, spec)
    fields = card_fields(entity, fd, spec)
    total_name = spec.get("sum")
    sum_field = entity.fields.get(total_name) if total_name else None
    columns = [Column(o.value, text(o.label) or o.value, o.color) for o in options]
    board = Board(
        entity,
        fd,
        columns,
        fields,
        sum_field,
        user_filter,
        None,
        _workflow_name(ws, entity, fd),
        ws.records.can(who, entity.name, "update"),
        {},
    )
    base = combined(spec.get("filter"), user_filter)
    try:
        metrics = {"n": "count()"}
        if sum_field is not None:
            metrics["total"] = f"sum({sum_field.name})"
        body: dict[str, Any] = {"group_by": [fd.name], "metrics": metrics}
        if base:
            body["filter"] = base
        groups = {g[fd.name]: g for g in ws.records.aggregate(who, entity.name, body).data}
        sort = _sortable(entity, spec.get("sort"))
        for col in columns:
            group = groups.get(col.value) or {}
            col.count, col.total = int(group.get("n") or 0), group.get("total")
            col.condition = combined(base, f"{fd.name} == {string_literal(col.value)}") or ""
            if not col.count:
                continue
            page = ws.records.list(who, entity.name, _list_params(entity, fields, col.condition, sort))
            col.cards = [_card(entity, record, fields) for record in page.data]
    except TesseraError as exc:
        board.error = exc.detail
        for col in columns:
            col.count, col.total, col.cards = 0, None, []
        return board
    records = [card.record for col in columns for card in col.cards]
    plain = [f.path for f in fields if "." not in f.path and f.type in _REFERENCES]
    board.refs = reference_titles(ws, who, catalog(), entity, records, plain)
    return board


def _card(entity: EntityDef, record: dict[str, Any], fields: list[CardField]) -> Card:
    values = []
    for f in fields:
        head, _, rest = f.path.partition(".")
        value = record.get(head)
        if rest:
            value = value.get(rest) if isinstance(value, dict) else None
        values.append((f, value))
    title = record.get(entity.title_field) or record["id"]
    return Card(record["id"], int(record.get("version") or 0), str(title), values, record)


# --- moving a card --------------------------------------------------------------------------
def _workflow(ws: Any, entity: EntityDef, fd: FieldDef) -> Workflow | None:
    found = ws.snapshot().automation.parts.get(WORKFLOWS.name)
    if found is None:
        return None
    return next((w for w in found.by_entity.get(entity.name, ()) if w.field == fd.name), None)


def _workflow_name(ws: Any, entity: EntityDef, fd: FieldDef) -> str | None:
    workflow = _workflow(ws, entity, fd)
    return workflow.name if workflow is not None else None


def _option_label(fd: FieldDef, value: Any) -> str:
    option = next((o for o in fd.enum_options if o.value == value), None)
    return text(option.label) if option is not None and option.label else str(value)


def move_card(
    ws: Any, who: Actor, entity: EntityDef, fd: FieldDef, record_id: str, to: str, version: int | None
) -> Any:
    """Move one record to the column ``to``: the workflow's transition when a workflow owns
    the field, else an update of the field. Returns (record, transition name or None)."""
    if to not in {o.value for o in fd.enum_options}:
        raise ValidationError(
            f"{to!r} is not a column of this board", [FieldError(fd.name, f"Not an option of {text(fd.label)}.")]
        )
    workflow = _workflow(ws, entity, fd)
    if workflow is None:
        record = ws.records.update(who, entity.name, record_id, {fd.name: to}, if_match=version)
        return record, None
    current = ws.records.get(who, entity.name, record_id, {"fields": f"id,version,{fd.name}"})
    if version is not None and current["version"] != version:
        raise PreconditionFailed(
            f"The {text(entity.label).lower()} was changed since version {version} "
            f"(now version {current['version']}); reload the board and try again"
        )
    state = current.get(fd.name)
    if state == to:
        return current, None
    leading = [t for t in workflow.transitions.values() if t.leaves(state) and t.to == to]
    if not leading:
        possible = sorted({_option_label(fd, t.to) for t in workflow.transitions.values() if t.leaves(state)})
        where = f"it can go to {', '.join(possible)}" if possible else "no move leaves it"
        raise Conflict(
            f"No step of the workflow leads from {_option_label(fd, state)} to {_option_label(fd, to)}: {where}"
        )
    allowed = [t for t in leading if not t.roles or who.is_admin or t.roles & who.roles]
    transition = (allowed or leading)[0]  # none allowed: running it gives the role refusal
    return run_action(ws.records, who, entity.name, record_id, transition.name, {}), transition.name


def _move_request() -> tuple[str, str, int | None]:
    data: Any = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(data, Mapping):
        raise BadRequest('Send {"id": ID, "to": COLUMN, "version": N}')
    record_id, to, version = data.get("id"), data.get("to"), data.get("version")
    if not isinstance(record_id, str) or not record_id or not isinstance(to, str) or not to:
        raise BadRequest('Send {"id": ID, "to": COLUMN, "version": N}: id and to are required')
    if version in (None, ""):
        return record_id, to, None
    if isinstance(version, bool | float):
        raise BadRequest("version must be the record's version number")
    try:
        return record_id, to, int(version)
    except (TypeError, ValueError):
        raise BadRequest("version must be the record's version number") from None


# --- pages ----------------------------------------------------------------------------------
@bp.get("/app/<entity_name>/board/<field_name>")
@signed_in
def board_view(entity_name: str, field_name: str) -> Any:
    entity = entity_or_404(entity_name)
    fd = board_field(entity, field_name)
    board = build_board(workspace(), actor(), entity, fd, request.args.get("filter", "").strip())
    others = [f for f in entity.fields.values() if f.type == "enum" and f.has_column and f.name != fd.name]
    return render_page(
        "board.html", status=400 if board.error else 200, entity=entity, board=board, other_boards=others
    )


@bp.post("/app/<entity_name>/board/<field_name>/move")
def board_move(entity_name: str, field_name: str) -> Any:
    """JSON in, JSON (or problem+json, like the REST API) out; a form post (no JavaScript)
    redirects back to the board with the outcome as a message."""
    if request.is_json:
        try:
            record, transition, fd = _move(entity_name, field_name)
        except TesseraError as exc:
            return as_problem(exc)
        return jsonify(
            {
                "id": record["id"],
                "version": record.get("version"),
                fd.name: record.get(fd.name),
                "transition": transition,
            }
        )
    back = url_for("ui.board_view", entity_name=entity_name, field_name=field_name)
    if request.form.get("filter"):
        back = url_for("ui.board_view", entity_name=entity_name, field_name=field_name, filter=request.form["filter"])
    try:
        actor()
    except (AuthenticationRequired, PermissionDenied):
        if "token" not in session:
            return redirect(url_for("ui.login", next=back))
        flash("The form expired; reload the page and try again.", "error")  # a wrong CSRF token
        return redirect(back)
    try:
        record, _transition, fd = _move(entity_name, field_name)
    except TesseraError as exc:
        flash(_refusal(exc), "error")
        return redirect(back)
    entity = catalog().entities[entity_name]
    title = record.get(entity.title_field) or record["id"]
    flash(f"{title}: moved to {_option_label(fd, record.get(fd.name))}.", "success")
    return redirect(back)


def _move(entity_name: str, field_name: str) -> tuple[dict[str, Any], str | None, FieldDef]:
    ws, who = workspace(), actor()  # a browser session without the right CSRF token is refused here
    entity = catalog().entities.get(entity_name)
    if entity is None or entity.child:
        raise NotFound(f"There is no entity {entity_name!r}")
    fd = entity.fields.get(field_name)
    if fd is None or fd.type != "enum" or not fd.has_column:
        raise NotFound(f"{entity.name} has no board by {field_name!r}")
    record_id, to, version = _move_request()
    record, transition = move_card(ws, who, entity, fd, record_id, to, version)
    return record, transition, fd


def as_problem(exc: TesseraError) -> Any:
    """The error as the REST API answers it (application/problem+json)."""
    retry = getattr(exc, "retry_after", None)
    headers = {"Retry-After": str(retry)} if retry is not None else None
    errors = [e.as_dict() for e in exc.errors]
    return problem(exc.status, exc.title, exc.detail, errors, headers, getattr(exc, "extensions", None))


def _refusal(exc: TesseraError) -> str:
    messages = [e.message for e in exc.errors if e.message]
    return exc.detail + (": " + " ".join(messages) if messages else "")
