"""Public pages, no sign-in: web forms, record-link answers (surveys), terms and privacy.

- ``/forms/NAME`` renders a public form of the capture metadata (``forms/*.yaml``, the one
  ``POST /api/v1/public/forms/NAME`` takes) as a plain HTML form that works without
  JavaScript. The submission goes through the same code as the API (``engine.capture``):
  the same rate limit per client address, the same honeypot, the same validation; errors
  are shown next to the fields, and a success leads to a thank-you page.
  ``/forms/NAME/embed`` is the same form without the page around it, for an ``<iframe>`` on
  another site: only when the form says ``embed:`` (``true`` for any site, or a list of
  origins), and then that route alone tells the browser which sites may frame it
  (``Content-Security-Policy: frame-ancestors``); every other page keeps ``DENY``.
- ``/respond/TOKEN`` is the page of a record link (``record_link("FORM")`` in a message
  template, e.g. the survey e-mail): the form's fields of that one record, answered once.
  A browser opening the e-mailed API address (``/api/v1/public/respond/TOKEN``) is sent
  here; API clients still get JSON there.
- ``/terms`` and ``/privacy``: short static pages naming the company.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Response, redirect, render_template, request, url_for

from engine.actor import SYSTEM
from engine.api.capture import DEFAULT_MESSAGE, _capture, _locale, _throttle, describe_fields
from engine.api.context import workspace
from engine.capture.definitions import Capture
from engine.capture.intake import submit
from engine.capture.record_links import open_link, respond
from engine.errors import Conflict, NotFound, RateLimited, TesseraError, ValidationError
from engine.storage.derivation import label_text
from ui.pages import bp

#: field types a public page can offer (a link would need a list of records to choose from)
SHOWN_TYPES = frozenset(
    {"string", "text", "email", "phone", "url", "enum", "int", "decimal", "money", "percent", "bool", "date"}
)
DEFAULT_COMPANY = "Tessera"
WHOLE = re.compile(r"[+-]?[0-9]{1,18}")


def company_name() -> str:
    """The company named in the workspace's settings (a singleton entity's ``company_name``),
    else the product name."""
    snap = workspace().snapshot()
    for entity in snap.catalog.entities.values():
        if entity.singleton and "company_name" in entity.fields:
            rows = workspace().records.list(SYSTEM, entity.name, {"limit": "1", "sort": "created_at"}).data
            if rows and rows[0].get("company_name"):
                return str(rows[0]["company_name"])
    return DEFAULT_COMPANY


def _page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, company=company_name(), locale=_locale(), **context), status


def _problem(error: TesseraError) -> tuple[str, int]:
    return _page("public/problem.html", status=error.status, title=error.title, detail=error.detail)


# --- web forms --------------------------------------------------------------------------
def _fields(capture: Capture) -> list[dict[str, Any]]:
    return [f for f in describe_fields(capture, _locale()) if f["type"] in SHOWN_TYPES]


def submitted(fields: list[dict[str, Any]]) -> dict[str, Any]:
    """The posted form as the capture code takes it (JSON types): a ticked box is ``true``
    (an unticked one is not sent at all), a whole number typed into a number field is a
    number; everything else stays the text typed, so a wrong entry gets the field's error."""
    data: dict[str, Any] = request.form.to_dict()
    for f in fields:
        value = data.get(f["name"])
        if not isinstance(value, str):
            continue
        if f["type"] == "bool":
            data[f["name"]] = value.lower() in ("true", "on", "1", "yes")
        elif f["type"] == "int" and WHOLE.fullmatch(value.strip()):
            data[f["name"]] = int(value)
    return data


def _form_label(capture: Capture) -> str:
    return label_text(capture.label or capture.name.replace("_", " ").capitalize(), _locale())


def frame_ancestors(capture: Capture) -> str | None:
    """The CSP ``frame-ancestors`` source list of an embeddable form, None when it is not."""
    if capture.embed is True:
        return "*"
    if capture.embed:
        return " ".join(capture.embed)
    return None


def _embeddable(capture: Capture) -> str:
    ancestors = frame_ancestors(capture)
    if ancestors is None:
        raise NotFound(f"The form {capture.name!r} cannot be embedded")
    return ancestors


def _framed(page: tuple[str, int], ancestors: str) -> Response:
    """This response alone may be framed by ``ancestors``. Browsers obey CSP's
    ``frame-ancestors`` over ``X-Frame-Options`` (which stays ``DENY`` for old browsers: they
    show the link below the frame instead); the rest of the policy is the usual one."""
    from engine.api.hardening import CSP

    response = Response(page[0], status=page[1], mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP.replace("frame-ancestors 'none'", f"frame-ancestors {ancestors}")
    return response


def _form_page(name: str, embed: bool) -> Any:
    try:
        capture = _capture("form", name)
        ancestors = _embeddable(capture) if embed else None
    except NotFound as exc:
        return _problem(exc)
    values = {f["name"]: request.args.get(f["name"], "") for f in _fields(capture) if request.args.get(f["name"])}
    page = _render_form(capture, embed, values, {}, None)
    return _framed(page, ancestors) if ancestors else page


def _render_form(
    capture: Capture,
    embed: bool,
    values: dict[str, Any],
    errors: dict[str, str],
    problem: str | None,
    status: int = 200,
) -> tuple[str, int]:
    return _page(
        "public/form.html",
        status=status,
        form=capture,
        label=_form_label(capture),
        fields=_fields(capture),
        values=values,
        errors=errors,
        problem=problem,
        embed=embed,
        action=url_for("ui.public_form_embed" if embed else "ui.public_form", name=capture.name),
    )


def _submit_form(name: str, embed: bool) -> Any:
    try:
        capture = _capture("form", name)
        ancestors = _embeddable(capture) if embed else None
    except NotFound as exc:
        return _problem(exc)
    data = submitted(_fields(capture))
    try:
        _throttle(capture)
        submit(workspace(), capture, data, request.remote_addr or "?")
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors:
            errors.setdefault(error.field, error.message)
        shown = {f["name"] for f in _fields(capture)}
        problem = exc.detail
        hidden = [f"{e}: {m}" for e, m in errors.items() if e not in shown]
        if hidden:
            problem = f"{problem} ({'; '.join(hidden)})"
        page = _render_form(capture, embed, data, errors, problem, status=422)
        return _framed(page, ancestors) if ancestors else page
    except RateLimited as exc:
        page = _render_form(capture, embed, data, {}, exc.detail, status=429)
        return _framed(page, ancestors) if ancestors else page
    endpoint = "ui.public_form_embed_thanks" if embed else "ui.public_form_thanks"
    return redirect(url_for(endpoint, name=name), code=303)


def _thanks(name: str, embed: bool) -> Any:
    try:
        capture = _capture("form", name)
        ancestors = _embeddable(capture) if embed else None
    except NotFound as exc:
        return _problem(exc)
    message = label_text(capture.message or DEFAULT_MESSAGE, _locale())
    page = _page("public/thanks.html", label=_form_label(capture), message=message, embed=embed)
    return _framed(page, ancestors) if ancestors else page


@bp.get("/forms/<name>")
def public_form(name: str) -> Any:
    return _form_page(name, embed=False)


@bp.post("/forms/<name>")
def public_form_submit(name: str) -> Any:
    return _submit_form(name, embed=False)


@bp.get("/forms/<name>/thanks")
def public_form_thanks(name: str) -> Any:
    return _thanks(name, embed=False)


@bp.get("/forms/<name>/embed")
def public_form_embed(name: str) -> Any:
    return _form_page(name, embed=True)


@bp.post("/forms/<name>/embed")
def public_form_embed_submit(name: str) -> Any:
    return _submit_form(name, embed=True)


@bp.get("/forms/<name>/embed/thanks")
def public_form_embed_thanks(name: str) -> Any:
    return _thanks(name, embed=True)


# --- record links (survey answers) -------------------------------------------------------
def _scale(capture: Capture, record: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
    """An int field ``NAME`` with a small range is offered as buttons. Its range is the
    field's ``min``/``max``, narrowed by ``min_NAME``/``max_NAME`` of a record this one links
    to (a survey's scale: CSAT 1-5, NPS 0-10)."""
    if field["type"] != "int" or field.get("min") is None or field.get("max") is None:
        return field
    low, high = int(field["min"]), int(field["max"])
    snap = workspace().snapshot()
    entity = snap.catalog.entities[capture.entity]
    keys = (f"min_{field['name']}", f"max_{field['name']}")
    for fd in entity.fields.values():
        target = snap.catalog.entities.get(fd.target or "") if fd.type == "link" else None
        if target is None or not set(keys) <= set(target.fields) or not record.get(fd.name):
            continue
        try:
            linked = workspace().records.get(SYSTEM, target.name, str(record[fd.name]))
        except NotFound:
            continue
        if isinstance(linked.get(keys[0]), int) and isinstance(linked.get(keys[1]), int):
            low, high = max(low, linked[keys[0]]), min(high, linked[keys[1]])
        break
    if high - low > 10:
        return field
    return {**field, "scale": list(range(low, high + 1))}


def _respond_page(
    token: str, values: dict[str, Any], errors: dict[str, str], problem: str | None, status: int = 200
) -> tuple[str, int]:
    capture, record = open_link(workspace(), token)
    entity = workspace().snapshot().catalog.entities[capture.entity]
    title = record.get(entity.title) if entity.title else None
    fields = [_scale(capture, record, f) for f in describe_fields(capture, _locale())]
    label = label_text(capture.label or capture.name.replace("_", " ").capitalize(), _locale())
    return _page(
        "public/respond.html",
        status=status,
        label=label,
        record=title,
        fields=fields,
        values=values,
        errors=errors,
        problem=problem,
        action=url_for("ui.respond_page", token=token),
    )


@bp.get("/respond/<token>")
def respond_page(token: str) -> Any:
    try:
        capture, _ = open_link(workspace(), token)
        _throttle(capture)
        return _respond_page(token, {}, {}, None)
    except (NotFound, Conflict, RateLimited) as exc:
        return _problem(exc)


@bp.post("/respond/<token>")
def respond_submit(token: str) -> Any:
    try:
        capture, _ = open_link(workspace(), token)
        _throttle(capture)
        data = submitted(describe_fields(capture, _locale()))
        respond(workspace(), token, data, request.remote_addr or "?")
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors:
            errors.setdefault(error.field, error.message)
        try:
            return _respond_page(token, data, errors, exc.detail, status=422)
        except (NotFound, Conflict) as gone:
            return _problem(gone)
    except (NotFound, Conflict, RateLimited) as exc:
        return _problem(exc)
    message = label_text(capture.message or DEFAULT_MESSAGE, _locale())
    return _page("public/thanks.html", label=label_text(capture.label or "", _locale()), message=message, embed=False)


@bp.before_app_request
def _browser_to_respond_page() -> Any:
    """A person clicking the e-mailed link (``/api/v1/public/respond/TOKEN``) gets the page;
    a client asking for JSON (or for nothing in particular) still gets the API's answer."""
    if request.endpoint != "respond.describe" or request.method != "GET":
        return None
    accept = request.accept_mimetypes
    if "text/html" in accept and accept.best_match(["application/json", "text/html"]) == "text/html":
        token = (request.view_args or {}).get("token", "")
        return redirect(url_for("ui.respond_page", token=token), code=303)
    return None


# --- terms and privacy --------------------------------------------------------------------
@bp.get("/terms")
def terms() -> Any:
    return _page("public/terms.html")


@bp.get("/privacy")
def privacy() -> Any:
    return _page("public/privacy.html")
