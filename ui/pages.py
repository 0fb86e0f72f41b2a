"""What every page of the web interface shares: the blueprint, the sign-in guard, the shell
context (navigation, the signed-in user, unread notifications) and value formatting.

Pages call the data-access layer (``workspace().records``) with the signed-in actor, as the
REST API does, so permissions, audit and validation are the same; the UI never queries the
database itself.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from flask import Blueprint, Response, flash, g, redirect, render_template, request, session, url_for
from werkzeug.exceptions import HTTPException

from engine.actor import Actor
from engine.api.context import actor, csrf_token, workspace
from engine.api.notifications import ENTITY as NOTIFICATION
from engine.api.notifications import unread_count
from engine.errors import AuthenticationRequired, TesseraError
from engine.meta.catalog import Catalog
from engine.meta.model import EntityDef
from engine.render.formatting import FILTERS
from engine.storage.derivation import label_text

bp = Blueprint("ui", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")

F = TypeVar("F", bound=Callable[..., Any])


def signed_in(view: F) -> F:
    """Send a signed-out visitor to the sign-in page (and back here afterwards)."""

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            who = actor()
        except AuthenticationRequired:
            session.pop("token", None)
            here = request.full_path.rstrip("?")
            return redirect(url_for("ui.login", next=here) if here != "/" else url_for("ui.login"))
        from ui.portal import is_portal_user  # the portal builds on this module

        if is_portal_user(who):
            return redirect(url_for("ui.portal_home"))  # customers have the portal, nothing else
        return view(*args, **kwargs)  # a forged write (wrong CSRF token) is a 403, not a sign-out

    return cast(F, guarded)


def who() -> Actor:
    return actor()


def flash_refusal(prefix: str, exc: TesseraError) -> None:
    """Tell the user why nothing happened: the error and its first field messages."""
    details = "; ".join(f"{e.field}: {e.message}" for e in exc.errors[:5])
    flash(f"{prefix}: {exc.detail}" + (f" ({details})" if details else ""), "error")


def safe_target(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, else ``default``: never an open redirect.
    Browsers drop tabs and line breaks from a Location, so ``/<tab>/evil.example`` would be
    ``//evil.example``: any control character or space refuses the target."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and not any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in target)
    ):
        return target
    return default


def form_ok() -> bool:
    """Whether a posted form carries the session's CSRF token."""
    sent = request.form.get("csrf_token")
    return bool(sent) and sent == session.get("csrf")


def catalog() -> Catalog:
    """The entities and fields the signed-in user may read (once per request)."""
    cached = g.get("tessera_ui_catalog")
    if cached is None:
        cached = g.tessera_ui_catalog = workspace().records.catalog_for(actor())
    return cast(Catalog, cached)


def text(label: Any) -> str:
    """A label (plain or a map by locale) in the user's language."""
    locale = actor().locale if g.get("tessera_actor") is not None else "en"
    return label_text(label, locale) if label is not None else ""


@dataclass(frozen=True)
class NavGroup:
    label: str
    entities: list[EntityDef]


def navigation(cat: Catalog) -> list[NavGroup]:
    """One menu group per installed pack, listing the entities the user may read, in pack
    order (dependencies first); child-row and engine entities stay out of the menu."""
    groups = []
    for pack in cat.packs:
        entities = [e for e in cat.api_entities() if e.pack == pack.name and not e.system and not e.singleton]
        if entities:
            groups.append(NavGroup(text(pack.label or pack.name.replace("_", " ").title()), entities))
    return groups


def unread_notifications() -> int:
    if NOTIFICATION not in catalog().entities:
        return 0
    return unread_count(workspace(), actor())


def render_page(template: str, status: int = 200, **context: Any) -> Any:
    """Render ``template`` inside the shell (``base.html``)."""
    cat = catalog()
    shell = {
        "who": actor(),
        "nav": navigation(cat),
        "catalog": cat,
        "csrf_token": csrf_token(),
        "unread": unread_notifications(),
        "locale": actor().locale,
        "text": text,
        "color_class": color_class,
    }
    return render_template(template, **shell, **context), status


@bp.errorhandler(TesseraError)
def _tessera_error(exc: TesseraError) -> Any:
    return _error_page(exc.status, exc.title, exc.detail)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    detail = {404: "There is no such page, or you may not see it.", 403: "You may not do this."}
    return _error_page(exc.code or 500, exc.name, detail.get(exc.code or 500, exc.description or ""))


def _error_page(status: int, title: str, detail: str) -> Any:
    """Errors on pages are pages (the API answers problem+json)."""
    try:
        actor()
    except TesseraError:
        return render_template("error.html", status=status, title=title, detail=detail, bare=True), status
    return render_page("error.html", status=status, title=title, detail=detail, bare=False)


for _name, _fn in FILTERS.items():  # number, money and date formatting by the user's locale
    bp.add_app_template_filter(_fn, _name)
bp.add_app_template_filter(text, "label")


# --- enum colours ----------------------------------------------------------------------------
_HEX = re.compile(r"^#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def color_class(color: str | None) -> str:
    """The CSS class of an enum option's colour (served by ``/app/colors.css``, since our
    content security policy allows no inline styles)."""
    if color and _HEX.match(color):
        return "enum-badge-" + color[1:].lower()
    return "enum-badge-default"


def _luminance(hex6: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g_, b = (int(hex6[i : i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g_) + 0.0722 * channel(b)


def readable_text(hex6: str) -> str:
    """Black or white, whichever contrasts more with the background (WCAG 2.1)."""
    lum = _luminance(hex6)
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#ffffff"


@bp.get("/app/colors.css")
def enum_colors() -> Any:
    colors: set[str] = set()
    for entity in workspace().snapshot().catalog.entities.values():
        for fd in entity.fields.values():
            colors.update(o.color for o in fd.enum_options if o.color and _HEX.match(o.color))
    rules = []
    for color in sorted(colors):
        hex6 = color[1:].lower()
        if len(hex6) == 3:
            hex6 = "".join(c * 2 for c in hex6)
        rules.append(f".{color_class(color)} {{ background-color: #{hex6}; color: {readable_text(hex6)}; }}")
    css = "\n".join(rules) + "\n"
    return Response(css, mimetype="text/css", headers={"Cache-Control": "private, max-age=300"})
