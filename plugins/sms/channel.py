"""The ``sms`` channel of the SMS plugin: normalise, send through the gateway, log.

It replaces the engine's plain channel (:func:`engine.automation.delivery.send_sms`) and
falls back to it while the ``sms`` pack is not installed. With the pack, every outbox row
of the channel has one ``sms_message`` record, the delivery log: the record the row was
queued for (rule ``send_queued_sms``) or one made at the first attempt, pointing at the
record the message is about. The record is found again by the row id, so a retried row
updates its record and a row already sent is not sent twice.

Without an active ``sms_gateway`` the message goes the engine's way (``TESSERA_SMS_URL``
or the log), still normalised and logged.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import jinja2

from engine.actor import SYSTEM
from engine.automation.channels import Delivery
from engine.automation.delivery import render_message, send_sms
from engine.errors import TesseraError
from plugins.sms.gateway import Answer, gateways
from plugins.sms.phone import BadNumber, to_e164

LOG_ENTITY = "sms_message"
DONE = ("sent", "delivered")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def deliver_sms(ws: Any, row: dict[str, Any]) -> Delivery:
    """The channel: ``row`` is an outbox row whose payload has ``to`` and a text (``body``,
    ``title`` or a template with ``NAME.sms.txt``)."""
    if LOG_ENTITY not in ws.snapshot().catalog.entities:
        return send_sms(ws, row)
    payload = row["payload"]
    try:
        entry = log_entry(ws, row)
    except TesseraError as exc:  # a recipient the log refuses (no number at all)
        return Delivery(False, error=f"the SMS cannot be logged: {exc}", retry=False)
    if entry["status"] in DONE:
        return Delivery(True, note=f"already {entry['status']} (SMS {entry['id']})")
    chosen = gateways(ws)
    gateway = chosen[0] if chosen else None
    try:
        region = gateway.default_region if gateway else default_region(ws)
        to = to_e164(str(payload.get("to") or entry.get("to") or ""), region)
        text = message_text(ws, payload, entry)
    except (BadNumber, jinja2.TemplateError, ValueError) as exc:
        _record(ws, entry["id"], {"status": "failed", "error": str(exc)})
        return Delivery(False, error=str(exc), retry=False)
    if gateway is None:
        # the engine's gateway (TESSERA_SMS_URL) or the log, with the normalised number and text
        plain = {**payload, "to": to, "body": text, "template": None, "title": None}
        result = send_sms(ws, {**row, "payload": plain})
        answer = Answer(result.ok, result.status_code, result.note or "", error=result.error, retry=result.retry)
    else:
        answer = gateway.send(to, text, str(row["id"]), ws.config.http_timeout)
    values: dict[str, Any] = {"to": to, "text": text, "gateway_response": answer.text or None}
    if gateway is not None:
        values["gateway"] = gateway.id
    if answer.ok:
        values.update(status="sent", sent_at=_now().isoformat(), error=None, gateway_message_id=answer.message_id)
    else:
        values.update(error=answer.error, status="queued" if answer.retry else "failed")
    _record(ws, entry["id"], values)
    if answer.ok:
        return Delivery(True, answer.status_code, note=f"SMS {entry['id']}: {result_note(answer)}")
    return Delivery(False, answer.status_code, answer.error, retry=answer.retry)


def default_region(ws: Any) -> str | None:
    """The workspace's phone region (``crm_setting.default_phone_region`` of the core pack)."""
    if "crm_setting" not in ws.snapshot().catalog.entities:
        return None
    settings = ws.records.list(SYSTEM, "crm_setting", {"limit": "1"}).data
    return settings[0].get("default_phone_region") if settings else None


def result_note(answer: Answer) -> str:
    return f"gateway id {answer.message_id}" if answer.message_id else (answer.text[:200] or "accepted")


def message_text(ws: Any, payload: dict[str, Any], entry: dict[str, Any]) -> str:
    """The text: the row's template (``NAME.sms.txt``), else its body or title, else the
    log record's own text or template."""
    context = dict(payload)
    if not context.get("template") and entry.get("template"):
        context["template"] = entry["template"]
    rendered = render_message(ws, context, ("sms.txt",))["sms.txt"]
    text = (rendered or payload.get("body") or payload.get("title") or entry.get("text") or "").strip()
    if not text:
        raise ValueError("the SMS has no text (no body, title or template with NAME.sms.txt)")
    return str(text)


def log_entry(ws: Any, row: dict[str, Any]) -> dict[str, Any]:
    """The ``sms_message`` record of an outbox row, made at its first attempt if needed."""
    payload = row["payload"]
    outbox_id = str(row["id"])
    if payload.get("entity") == LOG_ENTITY and payload.get("record_id"):
        found = ws.records.list(SYSTEM, LOG_ENTITY, {"id": payload["record_id"]}).data
        if found:
            if found[0].get("outbox_id") != outbox_id and found[0]["status"] not in DONE:
                _record(ws, found[0]["id"], {"outbox_id": outbox_id})
            return dict(found[0])
    found = ws.records.list(SYSTEM, LOG_ENTITY, {"outbox_id": outbox_id}).data
    if found:
        return dict(found[0])
    values = {
        "to": str(payload.get("to") or "")[:40] or None,
        "status": "queued",
        "outbox_id": outbox_id,
        "related_entity": payload.get("entity"),
        "related_id": payload.get("record_id"),
    }
    return ws.records.create(SYSTEM, LOG_ENTITY, {k: v for k, v in values.items() if v is not None})


def _record(ws: Any, record_id: str, values: dict[str, Any]) -> None:
    ws.records.update(SYSTEM, LOG_ENTITY, record_id, values)
