"""The plugin's ``email`` channel: the engine's e-mail, tracked, then sent over SMTP.

The message is built by the engine (:func:`engine.automation.delivery.build_email`: the
pack's templates, rendered from the outbox row). When the plugin's pack is installed each
sent message is kept as an ``email_message`` record on the timeline of the record it
concerns, and, when ``TESSERA_PUBLIC_URL`` says where recipients reach the CRM, it gets
tracking: an invisible image recording opens, links sent through a signed redirect
recording clicks, and an unsubscribe link (and ``List-Unsubscribe`` header) that sets the
recipient record's consent field to no. The SMTP server is the engine's
(``TESSERA_SMTP_URL``); without one the message is written to the log, as the engine does.

A row is sent at least once: a retried row reuses its ``email_message`` (found by the
outbox row id), so a recipient's clicks land on one record.
"""

from __future__ import annotations

import html
import re
import secrets
from email.message import EmailMessage
from typing import Any

import jinja2

from engine.automation.channels import Delivery
from engine.automation.delivery import build_email, transmit_email
from plugins.email import tokens
from plugins.email.settings import ACTOR, EmailSettings, find_one, installed, now, settings

_HREF = re.compile(r"""(href\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)
PIXEL = '<img src="{url}" width="1" height="1" alt="" style="display:none">'


def send_tracked_email(ws: Any, row: dict[str, Any]) -> Delivery:
    """The ``email`` channel (replaces the engine's): payload ``{to, subject, template,
    entity, record_id, consent_required}``."""
    payload = row["payload"]
    if not payload.get("to"):
        return Delivery(False, error="the e-mail has no recipient", retry=False)
    try:
        message = build_email(ws, row)
    except jinja2.TemplateError as exc:
        return Delivery(False, error=f"template {payload.get('template')!r}: {exc}", retry=False)
    if installed(ws):
        options = settings(ws)
        target = recipient_record(ws, payload, options)
        if payload.get("consent_required") and target is not None and target[2] is False:
            return Delivery(False, error="the recipient has unsubscribed (consent is no)", retry=False)
        track(ws, row, message, options, target)
    return transmit_email(ws, row, message)


def recipient_record(ws: Any, payload: dict[str, Any], options: EmailSettings) -> tuple[str, str, Any] | None:
    """(entity, id, consent value or None) of the record the e-mail concerns, if it names one."""
    entity_name, record_id = payload.get("entity"), payload.get("record_id")
    entity = ws.snapshot().catalog.entities.get(str(entity_name)) if entity_name else None
    if entity is None or not record_id:
        return None
    consent = None
    field = options.consent_field
    if field and field in entity.fields and entity.fields[field].type == "bool":
        found = find_one(ws, entity.name, id=str(record_id))
        consent = found.get(field) if found else None
    return entity.name, str(record_id), consent


#: where a message wants its unsubscribe link (a marketing template's variable)
PLACEHOLDER = "{{ unsubscribe_url }}"


def consent_field_of(ws: Any, entity_name: str, options: EmailSettings) -> str | None:
    """The consent field when ``entity_name`` has it as a yes/no field."""
    entity = ws.snapshot().catalog.entities.get(entity_name)
    field = options.consent_field
    if entity is None or not field or field not in entity.fields or entity.fields[field].type != "bool":
        return None
    return field


def track(
    ws: Any, row: dict[str, Any], message: EmailMessage, options: EmailSettings, target: tuple[str, str, Any] | None
) -> str:
    """Keep the message as an ``email_message`` and add its tracking; returns the record id."""
    html_part = message.get_body(("html",))
    html_text = str(html_part.get_content()) if html_part is not None else None
    existing = find_one(ws, "email_message", outbox_id=str(row["id"]))
    if existing is not None:
        record_id, links = str(existing["id"]), list(existing.get("links") or [])
    else:
        links = _links(html_text) if html_text and options.track_clicks else []
        record_id = str(ws.records.create(ACTOR, "email_message", _record(row, message, target, links))["id"])
    base = tokens.base_url(ws)
    if base is None:
        return record_id
    unsubscribe = None
    if target is not None and consent_field_of(ws, target[0], options):
        unsubscribe = tokens.unsubscribe_url(ws, base, record_id)
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    plain = message.get_body(("plain",))
    if plain is not None and PLACEHOLDER in str(plain.get_content()):
        plain.set_content(str(plain.get_content()).replace(PLACEHOLDER, unsubscribe or ""))
    elif plain is not None and unsubscribe:
        text = str(plain.get_content()).rstrip()
        plain.set_content(f"{text}\n\n--\nUnsubscribe: {unsubscribe}\n")
    if html_part is not None and html_text is not None:
        html_part.set_content(
            _tracked_html(ws, base, record_id, html_text, links, options, unsubscribe), subtype="html"
        )
    return record_id


def _record(
    row: dict[str, Any], message: EmailMessage, target: tuple[str, str, Any] | None, links: list[str]
) -> dict[str, Any]:
    plain = message.get_body(("plain",))
    values: dict[str, Any] = {
        "direction": "outbound",
        "subject": str(message["Subject"] or "")[:500],
        "from_address": str(message["From"] or "")[:320],
        "to_address": str(message["To"] or "")[:1000],
        "sent_at": now().isoformat(),
        "body": str(plain.get_content()) if plain is not None else None,
        "message_id": str(message["Message-ID"] or ""),
        "outbox_id": str(row["id"]),
        "thread_ref": secrets.token_hex(5),
        "links": links,
    }
    if target is not None:
        values.update(related_entity=target[0], related_id=target[1])
    return values


def _links(html_text: str) -> list[str]:
    """The distinct http(s) addresses the HTML links to, in order (as the browser reads them)."""
    seen: list[str] = []
    for match in _HREF.finditer(html_text):
        url = html.unescape(match.group(3))
        if url not in seen:
            seen.append(url)
    return seen


def _tracked_html(
    ws: Any,
    base: str,
    record_id: str,
    html_text: str,
    links: list[str],
    options: EmailSettings,
    unsubscribe: str | None,
) -> str:
    def redirect(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3))
        if url not in links:
            return match.group(0)
        tracked = tokens.click_url(ws, base, record_id, links.index(url))
        return f'{match.group(1)}"{html.escape(tracked)}"'

    text = _HREF.sub(redirect, html_text) if options.track_clicks else html_text
    extra = ""
    if PLACEHOLDER in text:  # the mail places its own unsubscribe link ({{ unsubscribe_url }})
        text = text.replace(PLACEHOLDER, html.escape(unsubscribe or ""))
    elif unsubscribe:
        extra += f'<p style="font-size:small"><a href="{html.escape(unsubscribe)}">Unsubscribe</a></p>'
    if options.track_opens:
        extra += PIXEL.format(url=html.escape(tokens.open_url(ws, base, record_id)))
    if not extra:
        return text
    closing = text.lower().rfind("</body>")
    return text[:closing] + extra + text[closing:] if closing >= 0 else text + extra
