"""The ``notify`` and ``webhook`` actions: telling people, and telling other systems.

``notify`` reaches users (a user field, ``role:``) and literal addresses through three
channels. ``in_app`` creates one record per user in the entity ``notification`` (the
engine's contract: fields ``user title body level related_entity related_id``) in the
rule's transaction. ``email`` and ``sms`` write one outbox row per recipient, delivered
after the commit by :mod:`engine.automation.delivery`; each row's key names the rule, the
record version, the step and the recipient, so a rule that runs again for the same change
queues nothing twice.

``webhook`` sends the record to a webhook subscription (a ``webhook`` record: url and
signing secret are data an admin manages) when a rule decides to.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jinja2
import sqlalchemy as sa

from engine.automation.actions import Step, Target, register
from engine.automation.templates import MessageTemplates, templates_for
from engine.automation.values import Compiler, Value
from engine.meta.model import SYSTEM_FIELDS, EntityDef
from engine.meta.source import format_path
from engine.storage.codec import to_json
from engine.storage.ids import is_id

log = logging.getLogger("tessera.automation")

CHANNELS = ("in_app", "email", "sms")
LEVELS = ("info", "success", "warning", "alert")
#: the fields the ``notification`` entity must have for in-app notifications
NOTIFICATION_FIELDS = {"user": ("user",), "title": ("string", "text")}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,38}$")
MAX_KEY = 255


def snapshot(entity: EntityDef, record: dict[str, Any] | None) -> dict[str, Any] | None:
    """The record's values as JSON (secrets left out): what a message or webhook shows; the
    virtual computed values the caller added (``Run.computed``) included."""
    if record is None:
        return None
    out = {name: to_json(record.get(name)) for name in SYSTEM_FIELDS if name in record}
    for fd in entity.fields.values():
        if fd.type != "secret" and fd.name in record:
            out[fd.name] = to_json(record[fd.name])
    return out


def json_value(value: Any) -> Any:
    """A DSL value as JSON (lists and mappings included)."""
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    if isinstance(value, dt.timedelta):
        return int(value.total_seconds())
    if isinstance(value, Decimal):
        return str(value)
    return to_json(value)


def outbox_key(*parts: Any) -> str:
    """An outbox key of ``parts``; a long one keeps its start and ends with a digest."""
    key = ":".join(str(p) for p in parts)
    if len(key) <= MAX_KEY:
        return key
    return key[: MAX_KEY - 65] + ":" + hashlib.sha256(key.encode()).hexdigest()


def event_part(target: Target) -> str:
    """The event in a message's outbox key: a timer's every firing, and a scheduled rule's
    every period (90d@2030-12-31, 60d@...), is its own message on an unchanged record."""
    event = target.event
    part = f"{event.kind}:{event.name}" if event.name else event.kind
    occurrence = event.occurrence or (event.payload or {}).get("period")
    return f"{part}:{occurrence}" if occurrence else part


# --- recipients ---------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    #: the user's id or the address: recipients are deduplicated by it and keyed by it
    key: str
    user_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    #: the user turned e-mail notifications off (their ``notify_email`` field, when the
    #: user entity has one): in-app and SMS still reach them
    no_email: bool = False


def phone_field(user: EntityDef) -> str | None:
    """The user entity's first ``phone`` field (packs add one with ``extends: user``)."""
    return next((f.name for f in user.column_fields() if f.type == "phone"), None)


#: a bool field of the user entity (packs add it): False means "no notification e-mails"
EMAIL_PREFERENCE = "notify_email"


def email_preference(user: EntityDef) -> str | None:
    fd = user.fields.get(EMAIL_PREFERENCE)
    return fd.name if fd is not None and fd.type == "bool" and fd.has_column else None


def _flatten(values: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        if isinstance(value, list | tuple | set | frozenset):
            out += _flatten(value)
        elif value is not None and str(value).strip():
            out.append(str(value).strip())
    return out


def resolve_recipients(run: Any, values: Iterable[Any], roles: Iterable[str]) -> list[Recipient]:
    """Active users named by id, address or role, and addresses no user has; sorted by key."""
    snap = run.snap
    users = snap.tables.main("user")
    phone = phone_field(snap.catalog.entities["user"])
    preference = email_preference(snap.catalog.entities["user"])
    columns = [
        users.c.id,
        users.c.full_name,
        users.c.email,
        *([users.c[phone]] if phone else []),
        *([users.c[preference]] if preference else []),
    ]
    ids, emails, phones = set(), set(), set()
    for value in _flatten(values):
        if is_id(value):
            ids.add(value)
        elif "@" in value:
            emails.add(value)
        else:
            phones.add(value)
    found: dict[str, Recipient] = {}
    conditions = []
    if ids:
        conditions.append(users.c.id.in_(sorted(ids)))
    if emails:
        conditions.append(sa.func.lower(users.c.email).in_(sorted(e.lower() for e in emails)))
    roles = sorted(set(roles))
    if roles:
        role_table, joined = snap.tables.main("role"), snap.tables.entities["user"].joins["roles"]
        with_role = (
            sa.select(joined.c.source_id)
            .join(role_table, role_table.c.id == joined.c.target_id)
            .where(role_table.c.name.in_(roles), role_table.c.deleted_at.is_(None))
        )
        conditions.append(users.c.id.in_(with_role))
    if conditions:
        rows = run.conn.execute(
            sa.select(*columns).where(sa.or_(*conditions), users.c.deleted_at.is_(None), users.c.active.is_not(False))
        ).all()
        for row in rows:
            wants = row._mapping[preference] if preference else None
            no_email = wants is not None and not wants
            found[row.id] = Recipient(row.id, row.id, row.full_name, row.email, row._mapping.get(phone), no_email)
    known = {(r.email or "").lower() for r in found.values()}
    for email in sorted(emails):
        if email.lower() not in known:
            found[email.lower()] = Recipient(email.lower(), email=email)
    for number in sorted(phones):
        found[number] = Recipient(number, phone=number)
    return [found[k] for k in sorted(found)]


# --- the notify action ----------------------------------------------------------------


@dataclass
class NotifySpec:
    to: list[Value]
    roles: list[str]
    channels: tuple[str, ...]
    template: str | None
    title: Value | None
    body: Value | None
    level: str
    step: str
    #: the HTML alternative of an e-mail (``html:``), when no template file gives one
    html: Value | None = None


class NotifyAction:
    """``notify: {to, role, channel, template, title, body, html, level}``: see docs/automation.md."""

    KEYS = {"to", "role", "channel", "template", "title", "body", "html", "level"}

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if not isinstance(spec, dict) or not spec:
            c.fail("notify takes a mapping: to or role, channel, template, title, body, level", *path)
            return None
        before = len(c.problems.items)
        unknown = sorted(set(spec) - self.KEYS)
        if unknown:
            c.fail(f"unknown key {unknown[0]!r}; notify takes {', '.join(sorted(self.KEYS))}", *path, unknown[0])
            return None
        if "to" not in spec and "role" not in spec:
            c.fail("notify needs 'to' (users or addresses) or 'role' (every active user with that role)", *path)
            return None
        channels = _names(c, spec.get("channel", "in_app"), CHANNELS, (*path, "channel"), "channel")
        roles = _names(c, spec.get("role", []), None, (*path, "role"), "role")
        to = self._recipients(c, spec.get("to", []), entity, (*path, "to"))
        template = self._template(c, spec.get("template"), (*path, "template"))
        title = c.value(spec["title"], entity, *path, "title") if "title" in spec else None
        body = c.value(spec["body"], entity, *path, "body") if "body" in spec else None
        html = c.value(spec["html"], entity, *path, "html") if "html" in spec else None
        if channels is None or roles is None or to is None:
            return None
        levels: tuple[str, ...] = LEVELS
        if "in_app" in channels:
            if not self._notification_entity(c, (*path, "channel")):
                return None
            level_field = c.catalog.entities["notification"].fields.get("level")
            if level_field is not None and level_field.type == "enum":
                levels = tuple(o.value for o in level_field.enum_options)
        level = spec.get("level", "info")
        if level not in levels:
            c.fail(f"level must be one of {', '.join(levels)}", *path, "level")
        templates = _templates(c)
        if title is None and ("in_app" in channels or "email" in channels):
            if template is None or templates.file(template, "subject.txt") is None:
                c.fail(f"notify needs a title (or a template with {template or 'NAME'}.subject.txt)", *path)
        if "sms" in channels and title is None and body is None:
            if template is None or templates.file(template, "sms.txt") is None:
                c.fail(f"an SMS needs a body or title (or a template with {template or 'NAME'}.sms.txt)", *path)
        if len(c.problems.items) > before:
            return None
        notify = NotifySpec(to, roles, channels, template, title, body, level, format_path([*path]), html)
        return lambda run, target: run_notify(run, target, notify)

    def _recipients(self, c: Compiler, raw: Any, entity: EntityDef, path: tuple[Any, ...]) -> list[Value] | None:
        items = raw if isinstance(raw, list) else [raw]
        out: list[Value] = []
        for i, item in enumerate(items):
            where = (*path, i) if isinstance(raw, list) else path
            if not isinstance(item, str) or not item.strip():
                c.fail("a recipient is '=expression' (a user field) or an e-mail address or phone number", *where)
                return None
            if item.startswith("="):
                expr = c.expression(item[1:], entity, *where)
                if expr is None:
                    return None
                kind = expr.type.item if expr.type.kind == "list" and expr.type.item else expr.type
                if not (kind.kind in ("string", "null", "any") or (kind.kind == "id" and kind.entity == "user")):
                    c.fail(f"a recipient must be a user, an e-mail address or a phone number, not {expr.type}", *where)
                    return None
                out.append(expr.evaluate)
            elif _EMAIL.match(item.strip()) or _PHONE.match(item.strip()):
                out.append(_constant(item.strip()))
            else:
                c.fail(f"{item!r} is neither an e-mail address nor a phone number; a user field is '=FIELD'", *where)
                return None
        return out

    def _template(self, c: Compiler, name: Any, path: tuple[Any, ...]) -> str | None:
        if name is None:
            return None
        templates = _templates(c)
        if not isinstance(name, str) or not templates.exists(name):
            c.fail(
                f"no template {name!r} in any pack's templates/ folder "
                f"(files {name}.subject.txt, {name}.email.txt, {name}.email.html, {name}.sms.txt)",
                *path,
            )
            return None
        templates.check(name, c.problems)
        return name

    def _notification_entity(self, c: Compiler, path: tuple[Any, ...]) -> bool:
        entity = c.catalog.entities.get("notification")
        contract = "fields user (a user), title, body, level, related_entity, related_id"
        if entity is None or entity.child:
            c.fail(
                f"in-app notifications are records of the entity 'notification' ({contract}); "
                "no installed pack defines it: install the core pack or use channel email or sms",
                *path,
            )
            return False
        for name, types in NOTIFICATION_FIELDS.items():
            fd = entity.fields.get(name)
            if fd is None or fd.type not in types:
                c.fail(f"the entity 'notification' needs a field {name!r} for in-app notifications ({contract})", *path)
                return False
        return True


def _constant(value: str) -> Value:
    return lambda env: value


def _templates(c: Compiler) -> MessageTemplates:
    return MessageTemplates(c.catalog)


def _names(c: Compiler, raw: Any, allowed: tuple[str, ...] | None, path: tuple[Any, ...], what: str) -> Any:
    items = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(i, str) and i for i in items):
        c.fail(f"{what} is a name or a list of names", *path)
        return None
    if allowed is not None:
        for item in items:
            if item not in allowed:
                c.fail(f"unknown {what} {item!r}; use {', '.join(allowed)}", *path)
                return None
    return tuple(dict.fromkeys(items)) if allowed is not None else list(items)


def _text(value: Any) -> str | None:
    return None if value is None else str(to_json(value))


def run_notify(run: Any, target: Target, spec: NotifySpec) -> None:
    env = target.env(run)
    record = {**target.record(run), **run.computed(target.entity, env)}
    recipients = resolve_recipients(run, [value(env) for value in spec.to], spec.roles)
    if not recipients:
        return
    title, body = _text(spec.title(env)) if spec.title else None, _text(spec.body(env)) if spec.body else None
    message = {
        "subject": title,
        "title": title,
        "body": body,
        "html": _text(spec.html(env)) if spec.html else None,
        "template": spec.template,
        "level": spec.level,
        "entity": target.entity.name,
        "record_id": target.record_id,
        "record": snapshot(target.entity, record),
    }
    if "in_app" in spec.channels:
        _in_app(run, target, recipients, message)
    version = record.get("version", "")
    for channel in ("email", "sms"):
        if channel not in spec.channels:
            continue
        for recipient in recipients:
            address = recipient.email if channel == "email" else recipient.phone
            if channel == "email" and recipient.no_email:
                continue
            if not address:
                continue
            key = outbox_key(
                target.source,
                target.entity.name,
                target.record_id,
                version,
                event_part(target),
                spec.step,
                channel,
                recipient.key,
            )
            payload = {**message, "to": address, "name": recipient.name}
            run.outbox(channel, payload, key=key, entity=target.entity.name, record_id=target.record_id)


def _in_app(run: Any, target: Target, recipients: list[Recipient], message: dict[str, Any]) -> None:
    entity = run.snap.catalog.entities["notification"]
    limit = entity.fields["title"].max_length or 200
    base = {"level": message["level"], "related_entity": target.entity.name, "related_id": target.record_id}
    for recipient in recipients:
        if recipient.user_id is None:
            continue
        title, body = _in_app_texts(run, {**message, "to": recipient.email, "name": recipient.name})
        values = {**base, "user": recipient.user_id, "title": title[:limit], "body": body}
        values = {k: v for k, v in values.items() if k in entity.fields and v is not None}
        # the recipient owns it (not the user whose change triggered the rule)
        run.create(entity, {**values, "owner": recipient.user_id}, target.source)


def _in_app_texts(run: Any, message: dict[str, Any]) -> tuple[str, str | None]:
    """Title and body: the action's, else the template's subject and e-mail text."""
    title, body, name = message["title"], message["body"], message["template"]
    if name and (title is None or body is None):
        templates = templates_for(run.snap)
        try:
            if title is None:
                title = templates.render(name, "subject.txt", message)
            if body is None:
                body = templates.render(name, "email.txt", message)
        except jinja2.TemplateError as exc:  # a broken message must not undo the user's change
            log.warning("template %s failed for an in-app notification: %s", name, exc)
    return first_line(title) or first_line(name) or "Notification", body


def first_line(text: str | None) -> str:
    """The first non-blank line of ``text`` ("" for none): subjects and titles are one line."""
    return next((line.strip() for line in (text or "").splitlines() if line.strip()), "")


# --- the webhook action ------------------------------------------------------------------


class WebhookAction:
    """``webhook: {subscription: NAME, event: LABEL, data: {name: value or '=expr'}}``.

    Queues a signed POST of the record (and ``data``) to the url of the ``webhook`` record
    named ``subscription``. ``event`` (default ``ENTITY.RULE``) is sent as
    ``X-Tessera-Event``. A switched-off subscription sends nothing; a missing one is noted
    in the record's history (``webhook_skipped``)."""

    KEYS = {"subscription", "event", "data"}

    def compile(self, c: Compiler, spec: Any, entity: EntityDef, path: tuple[Any, ...]) -> Step | None:
        if isinstance(spec, str):
            spec = {"subscription": spec}
        if not isinstance(spec, dict) or set(spec) - self.KEYS or not isinstance(spec.get("subscription"), str):
            c.fail("webhook takes subscription (a webhook's name), an optional event and data (a mapping)", *path)
            return None
        if "webhook" not in c.catalog.entities:
            c.fail("webhook subscriptions are records of the system entity 'webhook', which is missing", *path)
            return None
        event = spec.get("event")
        if event is not None and (not isinstance(event, str) or not event):
            c.fail("event is a name such as deal.won", *path, "event")
            return None
        data = spec.get("data") or {}
        if not isinstance(data, dict):
            c.fail("data is a mapping of names to values", *path, "data")
            return None
        values = {str(k): c.value(v, entity, *path, "data", k) for k, v in data.items()}
        name, step = spec["subscription"], format_path([*path])

        def run_webhook(run: Any, target: Target) -> None:
            table = run.snap.tables.main("webhook")
            sub = run.conn.execute(
                sa.select(table.c.id, table.c.url, table.c.active).where(
                    table.c.name == name, table.c.deleted_at.is_(None)
                )
            ).first()
            if sub is None:
                log.warning("%s: there is no webhook subscription %r", target.source, name)
                run.audit(
                    target.entity.name,
                    target.record_id,
                    "webhook_skipped",
                    {"subscription": [None, name], "reason": [None, "no such webhook subscription"]},
                )
                return
            if not sub.active:
                return
            env = target.env(run)
            record = {**target.record(run), **run.computed(target.entity, env)}
            label = event or f"{target.entity.name}.{target.source.split(':', 1)[-1]}"
            payload = {
                "subscription": sub.id,
                "url": sub.url,
                "event": label,
                "entity": target.entity.name,
                "record_id": target.record_id,
                "occurred_at": to_json(run.now),
                "record": snapshot(target.entity, record),
            }
            if values:
                payload["data"] = {k: json_value(v(env)) for k, v in values.items()}
            key = outbox_key(
                "webhook",
                sub.id,
                target.entity.name,
                target.record_id,
                record.get("version", ""),
                event_part(target),
                target.source,
                step,
            )
            run.outbox("webhook", payload, key=key, entity=target.entity.name, record_id=target.record_id)

        return run_webhook


register("notify", NotifyAction())
register("webhook", WebhookAction())
