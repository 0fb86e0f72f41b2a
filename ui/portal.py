"""The client portal (``/portal``): what a customer sees of the CRM after signing in.

A portal user (role ``customer``, see :func:`is_portal_user`) reads their own account's
tickets, contracts, assets and surveys, opens tickets and writes public comments. Every
read and write goes through ``workspace().records`` as the signed-in customer, so the
permissions of the packs do the scoping (the ``account`` scope, the comment rule that
shows public comments only); the pages never filter records by hand. What a section shows
follows the metadata: an entity appears when the customer may read it, with the list
columns they may read.

The portal has its own layout (``portal/base.html``), not the staff shell: no sidebar, no
search, no notifications. Staff users are sent to ``/``; the staff guard sends portal
users here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import flash, g, redirect, render_template, request, session, url_for

from engine.actor import SYSTEM, Actor
from engine.api.context import actor, csrf_token, workspace
from engine.errors import AuthenticationRequired, FieldError, NotFound, PermissionDenied, ValidationError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef, FieldDef
from engine.storage.derivation import label_text
from ui.pages import bp
from ui.public import company_name

#: roles of the client portal; a user holding only these is a portal user
PORTAL_ROLES = frozenset({"customer"})
#: the ticket and its comments (SPEC section 9 fixes ``/portal/tickets``)
TICKET, COMMENT = "ticket", "ticket_comment"
#: what a customer fills when opening a ticket (those they may write, in this order)
TICKET_FORM = ("subject", "description", "asset", "impact", "urgency")
#: ticket states that count as done on the home page
DONE = ("resolved", "closed")
#: the other sections of the home page, when the customer may read them
SECTIONS = ("amc_contract", "license", "asset")
SURVEY = "survey_response"

F = TypeVar("F", bound=Callable[..., Any])


def is_portal_user(who: Actor) -> bool:
    """A customer of the portal: holds a portal role and no staff role. The staff pages'
    guard sends such a user to ``/portal``."""
    return bool(who.roles) and who.roles <= PORTAL_ROLES


def portal_only(view: F) -> F:
    """Signed-out visitors go to the sign-in page, staff users to their home page."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            who = actor()
        except (AuthenticationRequired, PermissionDenied):
            session.pop("token", None)
            return redirect(url_for("ui.login", next=request.full_path.rstrip("?")))
        if not is_portal_user(who):
            return redirect(url_for("ui.home"))
        return view(*args, **kwargs)

    return cast(F, guarded)


def _catalog() -> Catalog:
    cached = g.get("tessera_portal_catalog")
    if cached is None:
        cached = g.tessera_portal_catalog = workspace().records.catalog_for(actor())
    return cast(Catalog, cached)


def label_in_locale(label: Any) -> str:
    """A metadata label in the signed-in user's language."""
    return label_text(label, actor().locale) if label is not None else ""


def portal_entity(name: str) -> EntityDef | None:
    """An entity as the portal user's catalog has it (None: not theirs to see)."""
    return _catalog().entities.get(name)


def _display_name(who: Actor) -> str:
    """The signed-in user's own name (what ``GET /api/v1/auth/me`` shows them too)."""
    try:
        user = workspace().records.get(SYSTEM, "user", who.user_id or "")
    except NotFound:
        return ""
    return str(user.get("full_name") or user.get("email") or "")


def render_portal(template: str, status: int = 200, **context: Any) -> Any:
    """Render ``template`` inside the portal layout (``portal/base.html``)."""
    who = actor()
    shell = {
        "who": who,
        "me_name": _display_name(who),
        "csrf_token": csrf_token(),
        "company": company_name(),
        "locale": who.locale,
        "can_open": workspace().records.can(who, TICKET, "create") and portal_entity(TICKET) is not None,
        "text": label_in_locale,
        "ticket_link": lambda row: url_for("ui.portal_ticket", ticket_id=row["id"]),
    }
    return render_template(template, **shell, **context), status


def _form_ok() -> bool:
    sent = request.form.get("csrf_token")
    return bool(sent) and sent == session.get("csrf")


# --- showing records ------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str
    label: str
    field: FieldDef


@dataclass(frozen=True)
class Section:
    entity: EntityDef
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]


def columns(entity: EntityDef, wanted: tuple[str, ...] = ()) -> list[Column]:
    """The list columns the customer may read (the visible catalog holds only those)."""
    names = wanted or entity.list_columns or (entity.title_field,)
    return [Column(n, label_in_locale(entity.fields[n].label), entity.fields[n]) for n in names if n in entity.fields]


def cell(fd: FieldDef, value: Any) -> str:
    """A value as a customer reads it: option labels, linked records' titles, dates."""
    if value is None or value == "":
        return ""
    if isinstance(value, dict):  # an expanded link
        target = _catalog().entities.get(fd.target or "")
        return str(value.get(target.title_field if target else "id") or "")
    if fd.enum_options:
        for option in fd.enum_options:
            if option.value == value:
                return label_in_locale(option.label or option.value)
    if fd.type == "bool":
        return "Yes" if value else "No"
    if fd.type == "datetime" and isinstance(value, str):
        return value[:16].replace("T", " ") + (" UTC" if value.endswith(("+00:00", "Z")) else "")
    return str(value)


def _links(entity: EntityDef, cols: list[Column]) -> str:
    """Expand the link columns whose target the customer may read (else the id stays)."""
    return ",".join(c.name for c in cols if c.field.type == "link" and portal_entity(c.field.target or ""))


def _rows(entity: EntityDef, cols: list[Column], **params: str) -> list[dict[str, Any]]:
    query = {"limit": "100", "sort": entity.default_sort or "-created_at", **params}
    expand = _links(entity, cols)
    if expand:
        query["expand"] = expand
    return workspace().records.list(actor(), entity.name, query).data


def _section(name: str, **params: str) -> Section | None:
    entity = portal_entity(name)
    if entity is None:
        return None
    cols = [c for c in columns(entity) if _shown(entity, c)]
    return Section(entity, label_in_locale(entity.plural or entity.label), cols, _rows(entity, cols, **params))


def _shown(entity: EntityDef, column: Column) -> bool:
    """Not the customer's own account (always theirs), nor a reference they could only see
    as a bare id (users, teams, records they may not read)."""
    if column.name == entity.account_field or column.field.type in ("user", "team", "links"):
        return False
    return column.field.type != "link" or portal_entity(column.field.target or "") is not None


def _ticket_columns(entity: EntityDef) -> list[Column]:
    return columns(entity, ("number", "subject", "priority", "status", "sla_state", "opened_at", "resolution_due"))


def _awaiting_surveys() -> Section | None:
    """Surveys sent to the customer's account and not answered yet (they answer through
    the link in the e-mail; the portal reminds them)."""
    return _section(SURVEY, status="sent")


# --- pages ----------------------------------------------------------------------------
@bp.get("/portal")
@portal_only
def portal_home() -> Any:
    tickets = None
    entity = portal_entity(TICKET)
    if entity is not None:
        cols = _ticket_columns(entity)
        done = ", ".join(f'"{s}"' for s in DONE)
        rows = _rows(entity, cols, filter=f"status not in ({done})")
        tickets = Section(entity, "Open tickets", cols, rows)
    sections = [s for s in (_section(name) for name in SECTIONS) if s is not None]
    return render_portal("portal/home.html", tickets=tickets, sections=sections, surveys=_awaiting_surveys(), cell=cell)


@bp.get("/portal/tickets")
@portal_only
def portal_tickets() -> Any:
    entity = portal_entity(TICKET)
    if entity is None:
        return redirect(url_for("ui.portal_home"))
    cols = _ticket_columns(entity)
    status = request.args.get("status", "")
    params = {"status": status} if status in {o.value for o in entity.fields["status"].enum_options} else {}
    section = Section(entity, label_in_locale(entity.plural or entity.label), cols, _rows(entity, cols, **params))
    return render_portal("portal/tickets.html", section=section, chosen=status, cell=cell)


# --- opening a ticket ------------------------------------------------------------------
def field_spec(entity: EntityDef, fd: FieldDef, choices: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """What the form macro renders (the shape of the public form description)."""
    spec: dict[str, Any] = {
        "name": fd.name,
        "label": label_in_locale(fd.label),
        "type": fd.type,
        "required": fd.required,
    }
    if fd.opt("help"):
        spec["help"] = label_in_locale(fd.opt("help"))
    if fd.max_length:
        spec["max_length"] = fd.max_length
    if fd.enum_options:
        spec["options"] = [{"value": o.value, "label": label_in_locale(o.label or o.value)} for o in fd.enum_options]
    if choices is not None:
        spec["options"] = choices
    default = fd.opt("default")
    if isinstance(default, str) and not default.startswith("="):
        spec["default"] = default
    return spec


def _choices(fd: FieldDef) -> list[dict[str, str]] | None:
    """The records a link field may point to, among those the customer may read."""
    if fd.type != "link":
        return None
    target = portal_entity(fd.target or "")
    if target is None:
        return []
    rows = workspace().records.list(actor(), target.name, {"limit": "200", "sort": target.title_field}).data
    return [{"value": r["id"], "label": str(r.get(target.title_field) or r["id"])} for r in rows]


def _ticket_fields() -> list[dict[str, Any]]:
    entity = portal_entity(TICKET)
    assert entity is not None
    return [field_spec(entity, entity.fields[n], _choices(entity.fields[n])) for n in TICKET_FORM if n in entity.fields]


def _errors(exc: ValidationError) -> dict[str, str]:
    out: dict[str, str] = {}
    for error in exc.errors:
        out.setdefault(error.field, error.message)
    return out


@bp.get("/portal/tickets/new")
@portal_only
def portal_new_ticket() -> Any:
    if portal_entity(TICKET) is None or not workspace().records.can(actor(), TICKET, "create"):
        return redirect(url_for("ui.portal_home"))
    return render_portal("portal/ticket_new.html", fields=_ticket_fields(), values={}, errors={}, problem=None)


@bp.post("/portal/tickets/new")
@portal_only
def portal_create_ticket() -> Any:
    if portal_entity(TICKET) is None:
        return redirect(url_for("ui.portal_home"))
    fields = _ticket_fields()
    form = {f["name"]: request.form.get(f["name"], "").strip() for f in fields}
    if not _form_ok():
        return render_portal(
            "portal/ticket_new.html",
            status=400,
            fields=fields,
            values=form,
            errors={},
            problem="The form expired; please send it again.",
        )
    values = {name: value for name, value in form.items() if value}
    try:
        ticket = workspace().records.create(actor(), TICKET, values)
    except (ValidationError, PermissionDenied) as exc:
        errors = _errors(exc) if isinstance(exc, ValidationError) else {}
        return render_portal(
            "portal/ticket_new.html", status=422, fields=fields, values=form, errors=errors, problem=exc.detail
        )
    flash(f"Your ticket {ticket.get('number') or ''} is open; we will get back to you.", "success")
    return redirect(url_for("ui.portal_ticket", ticket_id=ticket["id"]))


# --- one ticket and its public comments -------------------------------------------------
def _ticket_page(ticket_id: str, status: int = 200, comment: str = "", error: str | None = None) -> Any:
    entity = portal_entity(TICKET)
    if entity is None:
        return redirect(url_for("ui.portal_home"))
    expand = ",".join(n for n in ("asset", "contact", "account") if n in entity.fields and portal_entity(n))
    ticket = workspace().records.get(actor(), TICKET, ticket_id, {"expand": expand} if expand else None)
    shown = [
        c
        for c in columns(
            entity,
            ("status", "priority", "impact", "urgency", "asset", "category", "sla_state", "response_due")
            + ("resolution_due", "opened_at", "resolved_at", "resolution"),
        )
        if ticket.get(c.name) not in (None, "")
    ]
    comments: list[dict[str, Any]] = []
    comment_entity = portal_entity(COMMENT)
    if comment_entity is not None:
        page = workspace().records.related(actor(), TICKET, ticket_id, f"{COMMENT}.ticket", {"sort": "created_at"})
        comments = page.data
    may_comment = comment_entity is not None and workspace().records.can(actor(), COMMENT, "create")
    return render_portal(
        "portal/ticket.html",
        status=status,
        entity=entity,
        ticket=ticket,
        details=shown,
        comments=comments,
        may_comment=may_comment,
        comment=comment,
        error=error,
        me=actor().user_id,
        cell=cell,
    )


@bp.get("/portal/tickets/<ticket_id>")
@portal_only
def portal_ticket(ticket_id: str) -> Any:
    try:
        return _ticket_page(ticket_id)
    except NotFound:
        return render_portal("portal/not_found.html", status=404)


@bp.post("/portal/tickets/<ticket_id>/comments")
@portal_only
def portal_comment(ticket_id: str) -> Any:
    body = request.form.get("body", "").strip()
    try:
        if not _form_ok():
            return _ticket_page(ticket_id, 400, body, "The form expired; please send it again.")
        workspace().records.create(actor(), COMMENT, {"ticket": ticket_id, "body": body})
    except NotFound:
        return render_portal("portal/not_found.html", status=404)
    except (ValidationError, PermissionDenied) as exc:
        errors = exc.errors if isinstance(exc, ValidationError) else [FieldError("body", exc.detail)]
        message = next((e.message for e in errors if e.field == "body"), None) or exc.detail
        try:
            return _ticket_page(ticket_id, 422, body, message)
        except NotFound:
            return render_portal("portal/not_found.html", status=404)
    flash("Your comment was added.", "success")
    return redirect(url_for("ui.portal_ticket", ticket_id=ticket_id) + "#comments")
