"""Personal settings on ``/app/profile``: language, time zone, notification preference, the
second factor (TOTP), the address of the user's iCalendar feed, and in-app help
(``/app/help``: the guides in ``docs/``).

Users change their own record only through ``engine.security.users.update_own_profile``,
which allows exactly the profile fields; the second factor goes through
``engine.security.totp`` as the API's ``/api/v1/auth/totp`` does.
"""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Any

import segno
from flask import abort, flash, redirect, request, url_for
from markdown_it import MarkdownIt
from markupsafe import Markup

from engine.api.calendar import feed_address
from engine.api.context import actor, workspace
from engine.errors import BadRequest, ValidationError
from engine.security import feed_tokens, totp
from engine.security.users import own_profile, update_own_profile
from ui.pages import bp, form_ok, render_page, signed_in

#: names of the languages the label maps may hold (others show their code)
LANGUAGES = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "it": "Italiano",
    "nl": "Nederlands",
    "pt": "Português",
    "pl": "Polski",
    "ar": "العربية",
    "he": "עברית",
    "fa": "فارسی",
    "ur": "اردو",
    "hi": "हिन्दी",
    "ja": "日本語",
    "zh": "中文",
}
DOCS = Path(__file__).resolve().parent.parent / "docs"
#: the guides the help page offers, in this order (those present in docs/)
GUIDES = {
    "ui": "Using the web interface",
    "dsl": "Conditions and formulas (the DSL)",
    "automation": "Rules, workflows and notifications",
    "security": "Security, sign-in and the second factor",
    "api": "The REST API",
    "configuration": "Configuration",
    "cli": "The command line",
    "metadata": "Writing packs (metadata)",
    "architecture": "How Tessera is built",
}


def available_locales() -> list[tuple[str, str]]:
    """The languages of the installed packs' label maps, English first."""
    found = {"en"}
    for entity in workspace().snapshot().catalog.entities.values():
        for label in (entity.label, entity.plural, *(f.label for f in entity.fields.values())):
            if isinstance(label, dict):
                found.update(str(k) for k in label)
    ordered = ["en", *sorted(found - {"en"})]
    return [(code, LANGUAGES.get(code.split("-")[0], code)) for code in ordered]


def profile_page(status: int = 200, **context: Any) -> Any:
    who = actor()
    context.setdefault("error", None)
    context.setdefault("settings_errors", {})
    context.setdefault("totp_setup", None)
    context.setdefault("totp_error", None)
    return render_page(
        "profile.html",
        status=status,
        profile=own_profile(workspace(), who),
        locales=available_locales(),
        timezones=sorted(zoneinfo.available_timezones()),
        totp_on=totp.is_enabled(workspace(), who),
        can_totp=who.impersonator is None,
        calendar_feed=feed_address(workspace(), feed_tokens.current(workspace(), who))
        if who.impersonator is None
        else None,
        guides=[(name, title) for name, title in GUIDES.items() if (DOCS / f"{name}.md").is_file()],
        **context,
    )


def _checked() -> None:
    if not form_ok():
        raise BadRequest("The form expired; reload the page and try again.")


@bp.post("/app/profile/settings")
@signed_in
def profile_settings() -> Any:
    _checked()
    form = request.form
    fields = own_profile(workspace(), actor())
    body: dict[str, Any] = {
        k: form.get(k, "") for k in ("full_name", "locale", "timezone") if k in fields and k in form
    }
    if "full_name" in body:
        body["full_name"] = body["full_name"].strip()
    if "notify_email" in fields and form.get("notify_form"):
        body["notify_email"] = form.get("notify_email") == "on"
    try:
        update_own_profile(workspace(), actor(), body)
    except ValidationError as exc:
        return profile_page(422, settings_errors={e.field: e.message for e in exc.errors}, settings_form=body)
    flash("Your settings were saved.", "success")
    return redirect(url_for("ui.profile"))


@bp.post("/app/profile/totp")
@signed_in
def totp_start() -> Any:
    _checked()
    who = actor()
    setup = totp.start(workspace(), who, own_profile(workspace(), who)["email"])
    qr = segno.make(setup["otpauth_uri"], error="m")
    setup["qr"] = Markup(qr.svg_data_uri(scale=5, border=2))  # nosec B704 - a data URI segno made; an <img>
    return profile_page(totp_setup=setup)


@bp.post("/app/profile/totp/confirm")
@signed_in
def totp_confirm() -> Any:
    _checked()
    try:
        totp.confirm(workspace(), actor(), {"code": request.form.get("code", "").strip()})
    except ValidationError as exc:
        return profile_page(422, totp_error=exc.errors[0].message if exc.errors else exc.detail, totp_pending=True)
    flash("Two-step sign-in is on: you will be asked for a code from your app when you sign in.", "success")
    return redirect(url_for("ui.profile"))


@bp.post("/app/profile/totp/disable")
@signed_in
def totp_disable() -> Any:
    _checked()
    try:
        totp.disable(workspace(), actor(), {"code": request.form.get("code", "").strip()})
    except ValidationError as exc:
        return profile_page(422, totp_error=exc.errors[0].message if exc.errors else exc.detail)
    flash("Two-step sign-in is off.", "success")
    return redirect(url_for("ui.profile"))


@bp.post("/app/profile/calendar-feed")
@signed_in
def calendar_feed_new() -> Any:
    _checked()
    had = feed_tokens.current(workspace(), actor()) is not None
    feed_tokens.issue(workspace(), actor())
    flash(
        "A new calendar address was made; the old one no longer works." if had else "Your calendar address is ready.",
        "success",
    )
    return redirect(url_for("ui.profile", _anchor="calendar-feed"))


@bp.post("/app/profile/calendar-feed/revoke")
@signed_in
def calendar_feed_revoke() -> Any:
    _checked()
    feed_tokens.revoke(workspace(), actor())
    flash("Your calendar address no longer works.", "success")
    return redirect(url_for("ui.profile", _anchor="calendar-feed"))


#: Markdown with raw HTML escaped (``<script>`` shows as text): the help pages, the portal's articles
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


@bp.get("/app/help")
@signed_in
def help_index() -> Any:
    guides = [(name, title) for name, title in GUIDES.items() if (DOCS / f"{name}.md").is_file()]
    return render_page("help.html", guides=guides, guide=None, body=None)


@bp.get("/app/help/<name>")
@signed_in
def help_page(name: str) -> Any:
    if name not in GUIDES or not (DOCS / f"{name}.md").is_file():
        abort(404)
    tokens = MARKDOWN.parse((DOCS / f"{name}.md").read_text(encoding="utf-8"))
    for token in tokens:
        align = str(token.attrGet("style") or "").removeprefix("text-align:")
        if align:  # table column alignment: a class, since the CSP allows no inline styles
            del token.attrs["style"]
            token.attrSet("class", {"right": "text-end", "center": "text-center"}.get(align, "text-start"))
        for child in token.children or ():
            href = str(child.attrGet("href") or "") if child.type == "link_open" else ""
            target, _, anchor = href.partition("#")
            if target.endswith(".md") and "/" not in target and target[:-3] in GUIDES:  # guide to guide
                child.attrSet("href", url_for("ui.help_page", name=target[:-3]) + (f"#{anchor}" if anchor else ""))
    rendered = MARKDOWN.renderer.render(tokens, MARKDOWN.options, {})
    # code blocks wider than the column scroll sideways: tabindex lets keyboard users reach and
    # scroll them (WCAG 2.1.1). Raw HTML in the guides is escaped, so "<pre>" is only ours.
    rendered = rendered.replace("<pre>", '<pre tabindex="0">')
    body = Markup(rendered)  # nosec B704 - raw HTML is escaped
    return render_page("help.html", guides=None, guide=GUIDES[name], body=body)
