"""The ``email``, ``sms`` and ``webhook`` channels: outbox rows leaving the building.

Each channel takes one outbox row (``engine.automation.channels``) and reports a
:class:`Delivery`; the dispatcher (:mod:`engine.automation.outbox`) logs the attempt and
retries with backoff. A failure retrying cannot fix (a refused address, ``410 Gone``, most
``4xx`` answers) is reported with ``retry=False`` and goes to the failed list at once.

Without a configured gateway (``TESSERA_SMTP_URL`` / ``TESSERA_SMS_URL`` unset, or ``log:``)
e-mail and SMS are written to the application log (logger ``tessera.messages``) instead of
being sent, and the attempt counts as delivered with a note saying so: the embedded demo shows
its invitation and notification e-mails in the terminal, and nothing piles up in the failed list.

E-mail and SMS texts are rendered here, when they are sent, from the row's payload
(:mod:`engine.automation.templates`). Webhooks are signed: ``X-Tessera-Signature:
sha256=HEX`` is the HMAC-SHA256 of ``TIMESTAMP.BODY`` under the subscription's secret,
with the timestamp in ``X-Tessera-Timestamp`` (receivers refuse old ones) and the outbox
row id in ``X-Tessera-Delivery`` (the same for every retry: receivers deduplicate by it).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
from dataclasses import replace
from email.message import EmailMessage
from typing import Any

import jinja2
import requests
import sqlalchemy as sa

from engine.actor import SYSTEM
from engine.automation.channels import Delivery, register_channel, retryable
from engine.automation.notify import first_line
from engine.automation.templates import templates_for
from engine.storage.database import read_transaction, write_transaction

log = logging.getLogger("tessera.jobs")
#: e-mail and SMS written out instead of sent (no gateway configured); a warning, so it shows
#: even where logging is not configured
message_log = logging.getLogger("tessera.messages")

USER_AGENT = "Tessera-Webhooks/1"


# --- rendering ----------------------------------------------------------------------


def render_message(ws: Any, payload: dict[str, Any], parts: tuple[str, ...]) -> dict[str, str | None]:
    """The named parts of the row's template, rendered from the payload (None: no such file)."""
    templates = templates_for(ws.snapshot())
    context = dict(payload)
    if payload.get("entity") and payload.get("record_id"):
        from engine.capture.record_links import link  # capture sits above automation

        # {{ record_link("FORM") }}: a signed single-use link to answer FORM on this record
        context["record_link"] = lambda form: link(ws, form, payload["entity"], payload["record_id"])
    return {part: templates.render(payload.get("template"), part, context) for part in parts}


def _fallback_text(payload: dict[str, Any]) -> str:
    return str(payload.get("body") or payload.get("title") or payload.get("subject") or "")


# --- e-mail -------------------------------------------------------------------------


def build_email(ws: Any, row: dict[str, Any]) -> EmailMessage:
    """The e-mail of an outbox row: subject, plain text and (when the template has one) HTML."""
    payload = row["payload"]
    texts = render_message(ws, payload, ("subject.txt", "email.txt", "email.html"))
    message = EmailMessage()
    message["From"] = ws.config.smtp_from
    message["To"] = payload["to"]
    message["Subject"] = first_line(texts["subject.txt"]) or first_line(payload.get("subject") or payload.get("title"))
    # the row id: a resent message is recognisably the same message
    message["Message-ID"] = f"<{row['id']}@tessera>"
    message["X-Tessera-Delivery"] = str(row["id"])
    message.set_content(texts["email.txt"] or _fallback_text(payload))
    html = texts["email.html"] or payload.get("html")  # the template's, else the action's ``html:``
    if html:
        message.add_alternative(html, subtype="html")
    for attached in payload.get("attachments") or ():  # {filename, content_type, data (base64)}: reports
        maintype, _, subtype = str(attached["content_type"]).split(";")[0].partition("/")
        data = base64.b64decode(attached["data"])
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=attached["filename"])
    return message


def send_email(ws: Any, row: dict[str, Any]) -> Delivery:
    """The ``email`` channel: payload ``{to, subject, template, ...}`` sent over SMTP, or
    written to the log when no SMTP server is configured."""
    if not row["payload"].get("to"):
        return Delivery(False, error="the e-mail has no recipient", retry=False)
    try:
        message = build_email(ws, row)
    except jinja2.TemplateError as exc:
        return Delivery(False, error=f"template {row['payload'].get('template')!r}: {exc}", retry=False)
    return transmit_email(ws, row, message)


def transmit_email(ws: Any, row: dict[str, Any], message: EmailMessage) -> Delivery:
    """Send a built message over the SMTP server (``TESSERA_SMTP_URL``), or write it to the
    log when none is configured; plugins replacing the ``email`` channel reuse it."""
    config = ws.config
    if not config.smtp_host:
        plain = message.get_body(("plain",))
        content = str(plain.get_content()).rstrip() if plain is not None else ""
        headline = f"To: {message['To']}\nSubject: {message['Subject']}"
        return write_to_log("e-mail", "SMTP server", "TESSERA_SMTP_URL", row, f"{headline}\n\n{content}")
    try:
        smtp_class = smtplib.SMTP_SSL if config.smtp_ssl else smtplib.SMTP
        with smtp_class(config.smtp_host, config.smtp_port, timeout=config.http_timeout) as smtp:
            if config.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.smtp_user:
                smtp.login(config.smtp_user, config.smtp_password or "")
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        return Delivery(False, error=f"the server refused the recipient: {exc.recipients}", retry=False)
    except smtplib.SMTPResponseException as exc:
        # 5xx: permanent (bad address, refused sender); 4xx: try again later
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return Delivery(False, exc.smtp_code, f"SMTP {exc.smtp_code}: {text}", retry=exc.smtp_code < 500)
    except (OSError, smtplib.SMTPException) as exc:
        return Delivery(False, error=f"could not send e-mail: {type(exc).__name__}: {exc}")
    return Delivery(True)


# --- SMS ----------------------------------------------------------------------------


def send_sms(ws: Any, row: dict[str, Any]) -> Delivery:
    """The ``sms`` channel: ``{"to", "text"}`` POSTed as JSON to the configured gateway."""
    config = ws.config
    payload = row["payload"]
    try:
        text = render_message(ws, payload, ("sms.txt",))["sms.txt"]
    except jinja2.TemplateError as exc:
        return Delivery(False, error=f"template {payload.get('template')!r}: {exc}", retry=False)
    body = {"to": payload.get("to"), "text": (text or _fallback_text(payload)).strip()}
    if not config.sms_url:
        return write_to_log("SMS", "SMS gateway", "TESSERA_SMS_URL", row, f"To: {body['to']}\n\n{body['text']}")
    headers = {"X-Tessera-Delivery": str(row["id"])}
    if config.sms_token:
        headers["Authorization"] = f"Bearer {config.sms_token}"
    return _post(config.sms_url, json.dumps(body).encode(), headers, config.http_timeout)


# --- no gateway: the log ----------------------------------------------------------------------


def write_to_log(kind: str, gateway: str, setting: str, row: dict[str, Any], text: str) -> Delivery:
    """Write a message to the ``tessera.messages`` log instead of sending it; a success whose
    note says so (the job list shows the row ``sent``, its attempt the note)."""
    note = f"written to the log, not sent: no {gateway} is configured ({setting})"
    message_log.warning("%s %s %s\n%s", kind, row["id"], note, text)
    return Delivery(True, note=note)


# --- webhooks -----------------------------------------------------------------------


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=HEX``: HMAC-SHA256 of ``TIMESTAMP.BODY`` under the subscription's secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def webhook_body(payload: dict[str, Any], delivery_id: str) -> bytes:
    """The JSON document a receiver gets: the payload without the routing fields."""
    body = {"id": delivery_id, **{k: v for k, v in payload.items() if k not in ("url", "subscription")}}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def send_webhook(ws: Any, row: dict[str, Any]) -> Delivery:
    """The ``webhook`` channel: a signed POST to the subscription's current url.

    The subscription is read at each attempt: an admin who fixes its url sees the retries
    go there, and a switched-off subscription stops its pending deliveries."""
    payload = row["payload"]
    subscription = _subscription(ws, str(payload.get("subscription")))
    if subscription is None:
        return Delivery(False, error="the webhook subscription was deleted", retry=False)
    if not subscription["active"]:
        reason = subscription["disabled_reason"] or "switched off"
        return Delivery(False, error=f"the webhook subscription is not active ({reason})", retry=False)
    try:
        secret = ws.records.cipher.open(subscription["secret"]) if subscription["secret"] else ""
    except ValueError as exc:  # sealed under another TESSERA_SECRET_KEY: no retry can open it
        error = (
            f"the subscription's signing secret cannot be opened: {exc}; set the key it was sealed under"
            " in TESSERA_SECRET_KEY_PREVIOUS, or give the subscription a new secret"
        )
        return Delivery(False, error=error, retry=False)
    body = webhook_body(payload, str(row["id"]))
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Tessera-Event": str(payload.get("event")),
        "X-Tessera-Delivery": str(row["id"]),
        "X-Tessera-Timestamp": timestamp,
        "X-Tessera-Signature": sign(secret, timestamp, body),
    }
    result = _post(subscription["url"], body, headers, ws.config.http_timeout)
    if track_health(ws, subscription, result):
        return replace(result, error=f"{result.error}; the subscription is now switched off", retry=False)
    return result


def _subscription(ws: Any, subscription_id: str) -> dict[str, Any] | None:
    snap = ws.snapshot()
    if "webhook" not in snap.catalog.entities:
        return None
    table = snap.tables.main("webhook")
    with read_transaction(ws.db) as conn:
        row = conn.execute(sa.select(table).where(table.c.id == subscription_id, table.c.deleted_at.is_(None))).first()
    if row is None:
        return None
    return dict(row._mapping)  # the secret still sealed: send_webhook opens it


def track_health(ws: Any, subscription: dict[str, Any], result: Delivery) -> bool:
    """Count consecutive failures; switch the subscription off after too many, or at once
    when the receiver answers 410 Gone (True: it was switched off). A success resets the count."""
    failures = int(subscription.get("failures") or 0)
    if result.ok:
        if failures:
            _update_subscription(ws, subscription["id"], {"failures": 0})
        return False
    failures += 1
    values: dict[str, Any] = {"failures": failures}
    limit = ws.config.webhook_disable_after
    if result.status_code == 410:
        values.update(active=False, disabled_reason="the receiver answered 410 Gone")
    elif failures >= limit:
        values.update(
            active=False, disabled_reason=f"{failures} deliveries in a row failed; last: {result.error}"[:500]
        )
    _update_subscription(ws, subscription["id"], values)
    if values.get("active") is False:
        log.warning("webhook %s switched off: %s", subscription.get("name"), values["disabled_reason"])
        return True
    return False


def _update_subscription(ws: Any, subscription_id: str, values: dict[str, Any]) -> None:
    """Through the data-access layer (audit trail, events), as the engine itself."""
    now = dt.datetime.now(dt.UTC)
    with write_transaction(ws.db) as conn:
        run = ws.records._run(conn, ws.snapshot(), SYSTEM, now)
        if run.fetch("webhook", subscription_id) is not None:
            run.update("webhook", subscription_id, values, "webhook delivery")


# --- HTTP ---------------------------------------------------------------------------


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Delivery:
    """POST ``body``; 2xx is success; 408, 429 and 5xx are retried, other answers are not."""
    try:
        response = requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        return Delivery(False, error=f"no answer within {timeout:g} s")
    except requests.RequestException as exc:
        return Delivery(False, error=f"could not connect: {type(exc).__name__}: {exc}")
    status = response.status_code
    if 200 <= status < 300:
        return Delivery(True, status)
    retry = retryable(status)
    detail = response.text[:300].strip()
    return Delivery(False, status, f"HTTP {status}" + (f": {detail}" if detail else ""), retry=retry)


register_channel("email", send_email)
register_channel("sms", send_sms)
register_channel("webhook", send_webhook)
