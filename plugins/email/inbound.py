"""One received e-mail: parsed, then a new record or a reply on an existing thread.

A message joins a thread when its subject carries a ``[ref:TOKEN]`` tag naming an
``email_message``'s ``thread_ref``, or when its ``In-Reply-To``/``References`` name a
message the CRM sent or received; it is then kept as an ``email_message`` on the timeline
of that thread's record. Otherwise the mailbox creates a record of its ``creates`` entity
with values mapped from the message (``mapping``: field -> ``from.address``, ``from.name``,
``to``, ``subject``, ``text``, ``date``) and its fixed ``values``. Attachments go to the
engine's file store as ``email_attachment`` records.

Everything of one message is written in one transaction: a message that fails validation
leaves nothing behind. A message whose Message-ID is already known is skipped, so a poll
that is retried after a crash creates nothing twice.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import io
import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from engine.capture.intake import dig
from engine.files import blob_store
from engine.files.attach import media_type, safe_name
from engine.storage.files import insert_file
from plugins.email.settings import ACTOR, SOURCE, find_one, now

REF = re.compile(r"\[ref:([0-9a-z]{6,32})\]", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
#: larger attachments are left out (logged): mail servers rarely pass more anyway
MAX_ATTACHMENT = 25 * 1024 * 1024
log = logging.getLogger("tessera.plugins.email")


@dataclass
class Incoming:
    message_id: str
    subject: str
    from_name: str
    from_address: str
    to: str
    text: str
    date: str | None = None
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    #: (file name, media type, bytes)
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        """What a mailbox's ``mapping`` paths read."""
        return {
            "from": {"address": self.from_address, "name": self.from_name},
            "to": self.to,
            "subject": self.subject,
            "text": self.text,
            "date": self.date,
            "message_id": self.message_id,
        }


def parse(raw: bytes) -> Incoming:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    name, address = email.utils.parseaddr(str(msg.get("From") or ""))
    body = msg.get_body(("plain", "html"))
    text = ""
    if body is not None:
        text = str(body.get_content())
        if body.get_content_subtype() == "html":
            text = re.sub(r"\s+", " ", _TAG.sub(" ", text)).strip()
    attachments = []
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True)
        if isinstance(data, bytes) and len(data) > MAX_ATTACHMENT:
            log.warning(
                "attachment %r of %s left out: larger than %s bytes",
                part.get_filename(),
                msg.get("Message-ID"),
                MAX_ATTACHMENT,
            )
        elif isinstance(data, bytes) and data:
            filename = str(part.get_filename() or "attachment")
            attachments.append((filename, part.get_content_type(), data))
    message_id = str(msg.get("Message-ID") or "").strip() or f"<sha256.{hashlib.sha256(raw).hexdigest()}@tessera>"
    date = msg.get("Date")
    return Incoming(
        message_id=message_id[:500],
        subject=str(msg.get("Subject") or "").strip(),
        from_name=name.strip(),
        from_address=address.strip().lower(),
        to=str(msg.get("To") or "").strip(),
        text=text.strip(),
        date=str(date) if date else None,
        in_reply_to=str(msg.get("In-Reply-To") or "").strip() or None,
        references=_MESSAGE_ID.findall(str(msg.get("References") or "")),
        attachments=attachments,
    )


def find_thread(ws: Any, incoming: Incoming) -> dict[str, Any] | None:
    """The ``email_message`` the incoming one continues, if any."""
    tag = REF.search(incoming.subject)
    if tag:
        found = find_one(ws, "email_message", thread_ref=tag.group(1).lower())
        if found is not None:
            return found
    for reference in [incoming.in_reply_to, *reversed(incoming.references)]:
        if reference:
            found = find_one(ws, "email_message", message_id=reference)
            if found is not None:
                return found
    return None


def mapped_values(mailbox: dict[str, Any], incoming: Incoming) -> dict[str, Any]:
    """The new record's values: the mailbox's fixed ``values``, then its ``mapping``."""
    document = incoming.document()
    values = dict(mailbox.get("values") or {})
    for field_name, path in dict(mailbox.get("mapping") or {}).items():
        value = dig(document, str(path))
        if value not in (None, ""):
            values[str(field_name)] = value
    return values


def ingest(ws: Any, mailbox: dict[str, Any], raw: bytes) -> str:
    """Write one received message; returns ``created``, ``appended`` or ``duplicate``."""
    incoming = parse(raw)
    if find_one(ws, "email_message", message_id=incoming.message_id) is not None:
        return "duplicate"
    thread = find_thread(ws, incoming)
    store = blob_store(ws)
    blobs = []
    for filename, content_type, data in incoming.attachments:
        name = safe_name(filename)
        blobs.append((name, media_type(content_type, name), store.put(io.BytesIO(data))))
    when = now()
    with ws.records.acting(ACTOR, when) as run:
        if thread is not None:
            related = (thread.get("related_entity"), thread.get("related_id"))
            thread_ref = thread.get("thread_ref") or secrets.token_hex(5)
        else:
            entity = str(mailbox["creates"])
            related = (entity, run.create(entity, mapped_values(mailbox, incoming), SOURCE))
            thread_ref = secrets.token_hex(5)
        values: dict[str, Any] = {
            "direction": "inbound",
            "subject": incoming.subject[:500],
            "from_address": incoming.from_address[:320],
            "from_name": incoming.from_name[:255],
            "to_address": incoming.to[:1000],
            "sent_at": when,
            "body": incoming.text,
            "message_id": incoming.message_id,
            "in_reply_to": (incoming.in_reply_to or "")[:500] or None,
            "thread_ref": thread_ref,
            "mailbox": mailbox["id"],
        }
        if related[0] and related[1]:
            values.update(related_entity=related[0], related_id=related[1])
        message_id = run.create("email_message", {k: v for k, v in values.items() if v is not None}, SOURCE)
        for name, content_type, blob in blobs:
            attachment_id = run.create("email_attachment", {"message": message_id, "name": name}, SOURCE)
            ref = insert_file(
                run.conn,
                entity="email_attachment",
                record_id=attachment_id,
                field="file",
                name=name,
                size=blob.size,
                content_type=content_type,
                sha256=blob.sha256,
                now=when,
                user_id=None,
            )
            run.update("email_attachment", attachment_id, {"file": ref}, SOURCE)
    return "appended" if thread is not None else "created"
