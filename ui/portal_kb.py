"""The knowledge base of the client portal (``/portal/kb``): the articles customers may read,
searchable and grouped by category, and one article's page with a helpful / not helpful vote.

What a customer may read is the ``service_kb`` pack's grant (published public articles
only); the pages list and fetch through ``workspace().records`` as the signed-in customer,
so a draft or internal article is simply not there (404), exactly as through the API. The
section appears when the entity exists and the customer may read it. Article bodies are
Markdown rendered with raw HTML switched off and markdown-it's link check (no
``javascript:`` URLs), so an article cannot inject a script into the portal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import flash, redirect, request, url_for
from markupsafe import Markup

from engine.api.context import actor, workspace
from engine.automation.record_actions import offered_actions, run_action
from engine.errors import Conflict, NotFound, PermissionDenied, ValidationError
from engine.meta.model import EntityDef
from ui.pages import bp, form_ok
from ui.portal import cell, label_in_locale, portal_entity, portal_only, render_portal
from ui.settings import MARKDOWN

#: the knowledge-base article of the ``service_kb`` pack
ARTICLE = "kb_article"
#: the record actions the article page offers as its vote buttons (those the pack defines)
VOTES = ("rate_helpful", "rate_unhelpful")
#: the longest search the page passes on
MAX_QUERY = 200


def render_markdown(text: str) -> Markup:
    """Markdown to HTML with raw HTML escaped: ``<script>`` in the source shows as text."""
    return Markup(MARKDOWN.render(text))  # nosec B704 - raw HTML off; markdown-it validates link URLs


@dataclass
class Group:
    """The articles of one category on the list page."""

    value: str
    label: str
    rows: list[dict[str, Any]] = field(default_factory=list)


def knowledge_base_shown() -> bool:
    """Whether the portal shows the knowledge base (navigation and home page)."""
    return portal_entity(ARTICLE) is not None


@bp.context_processor
def _portal_kb_context() -> dict[str, Any]:
    # a function, so only the portal templates that ask for it look the entity up
    return {"knowledge_base_shown": knowledge_base_shown}


def _categories(entity: EntityDef) -> list[Group]:
    fd = entity.fields.get("category")
    options = fd.enum_options if fd is not None else ()
    return [Group(o.value, label_in_locale(o.label or o.value)) for o in options]


def _grouped(entity: EntityDef, rows: list[dict[str, Any]]) -> list[Group]:
    """The rows by category, in the order of the category's options; the rest last."""
    groups = {g.value: g for g in _categories(entity)}
    other = Group("", "Other")
    for row in rows:
        groups.get(row.get("category") or "", other).rows.append(row)
    return [g for g in (*groups.values(), other) if g.rows]


@bp.get("/portal/kb")
@portal_only
def portal_kb() -> Any:
    entity = portal_entity(ARTICLE)
    if entity is None:
        return redirect(url_for("ui.portal_home"))
    query = request.args.get("q", "").strip()[:MAX_QUERY]
    categories = _categories(entity)
    chosen = request.args.get("category", "")
    params = {"limit": "200", "sort": "title"}
    if query:
        params["q"] = query
    if chosen in {c.value for c in categories}:
        params["category"] = chosen
    else:
        chosen = ""
    rows = workspace().records.list(actor(), ARTICLE, params).data
    return render_portal(
        "portal/kb.html",
        entity=entity,
        query=query,
        categories=categories,
        chosen=chosen,
        groups=_grouped(entity, rows),
        found=len(rows),
    )


def _article_page(article_id: str, status: int = 200) -> Any:
    entity = portal_entity(ARTICLE)
    if entity is None:
        return redirect(url_for("ui.portal_home"))
    product = "product" in entity.fields and portal_entity(entity.fields["product"].target or "") is not None
    records, who = workspace().records, actor()
    article = records.get(who, ARTICLE, article_id, {"expand": "product"} if product else None)
    details = [
        (label_in_locale(entity.fields[n].label), n, cell(entity.fields[n], article.get(n)))
        for n in ("number", "category", "product", "published_at", "updated_at")
        if n in entity.fields and article.get(n) not in (None, "") and (n != "product" or product)
    ]
    related: list[dict[str, Any]] = []
    if article.get("category"):
        same = records.list(who, ARTICLE, {"category": article["category"], "sort": "title", "limit": "6"}).data
        related = [r for r in same if r["id"] != article["id"]][:5]
    votes = [a for a in offered_actions(records, who, ARTICLE, article) if a["name"] in VOTES]
    return render_portal(
        "portal/kb_article.html",
        status=status,
        entity=entity,
        article=article,
        body=render_markdown(str(article.get("body") or "")),
        details=details,
        related=related,
        votes=votes,
    )


def _not_found() -> Any:
    return render_portal(
        "portal/not_found.html",
        status=404,
        message="There is no such article in the knowledge base.",
        back=(url_for("ui.portal_kb"), "Back to the knowledge base"),
    )


@bp.get("/portal/kb/<article_id>")
@portal_only
def portal_kb_article(article_id: str) -> Any:
    try:
        return _article_page(article_id)
    except NotFound:
        return _not_found()


@bp.post("/portal/kb/<article_id>/vote")
@portal_only
def portal_kb_vote(article_id: str) -> Any:
    vote = request.form.get("vote", "")
    if vote not in VOTES or not form_ok():
        flash("The form expired; please vote again.", "warning")
        return redirect(url_for("ui.portal_kb_article", article_id=article_id))
    try:
        run_action(workspace().records, actor(), ARTICLE, article_id, vote, {})
    except NotFound:
        return _not_found()
    except (Conflict, PermissionDenied, ValidationError) as exc:
        flash(exc.detail, "warning")
        return redirect(url_for("ui.portal_kb_article", article_id=article_id))
    flash("Thank you for your feedback.", "success")
    return redirect(url_for("ui.portal_kb_article", article_id=article_id))
