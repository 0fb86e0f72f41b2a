"""Polling a ``mailbox`` over IMAP (``imaplib``): the ``email_poll`` job.

Each poll signs in (password, or OAuth2 ``XOAUTH2``), selects the folder read-only, and
reads the messages after the mailbox's ``last_uid`` in order, handing each to
:func:`plugins.email.inbound.ingest` and moving ``last_uid`` on after it. A message the
mailbox's mapping cannot turn into a valid record is skipped with the reason in
``last_error`` (it does not block the messages after it); a connection or sign-in failure
is recorded in ``last_error`` and raised, so the job is retried with backoff.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import ssl
from collections import Counter
from typing import Any

from engine.errors import NotFound, TesseraError
from plugins.email import oauth
from plugins.email.inbound import ingest
from plugins.email.settings import ACTOR, find_one, now

log = logging.getLogger("tessera.plugins.email")


class MailboxError(Exception):
    """The mailbox could not be read (the message says why, without credentials)."""


def sign_in(ws: Any, mailbox: dict[str, Any]) -> imaplib.IMAP4:
    """An IMAP connection signed in to the mailbox (secrets opened)."""
    timeout = ws.config.http_timeout
    host, port = str(mailbox["host"]), int(mailbox.get("port") or 993)
    if mailbox.get("ssl", True):
        conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(host, port, ssl_context=ssl.create_default_context(), timeout=timeout)
    else:
        conn = imaplib.IMAP4(host, port, timeout=timeout)
    username = str(mailbox["username"])
    if mailbox.get("auth") == "xoauth2":
        token = oauth.refresh(mailbox, timeout)
        if token.refresh_token and token.refresh_token != mailbox.get("oauth_refresh_token"):
            ws.records.update(ACTOR, "mailbox", str(mailbox["id"]), {"oauth_refresh_token": token.refresh_token})
        auth_string = oauth.xoauth2_string(username, token.access_token)
        conn.authenticate("XOAUTH2", lambda _challenge: auth_string)
    else:
        conn.login(username, str(mailbox.get("password") or ""))
    return conn


def poll(ws: Any, mailbox_id: str) -> Counter[str]:
    """Read the mailbox's new messages; counts of created, appended, duplicate, failed."""
    mailbox = find_one(ws, "mailbox", id=mailbox_id)  # its secrets revealed to the plugin's role
    if mailbox is None:
        raise NotFound(f"No mailbox with id {mailbox_id!r}")
    counts: Counter[str] = Counter()
    last_uid = int(mailbox.get("last_uid") or 0)
    problems: list[str] = []
    try:
        conn = sign_in(ws, mailbox)
        try:
            status, _ = conn.select(_quoted(str(mailbox.get("folder") or "INBOX")), readonly=True)
            if status != "OK":
                raise MailboxError(f"the folder {mailbox.get('folder')!r} cannot be opened")
            status, data = conn.uid("SEARCH", "UID", f"{last_uid + 1}:*")
            uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) > last_uid)
            for uid in uids:
                status, data = conn.uid("FETCH", str(uid), "(RFC822)")
                raw = next((part[1] for part in data if isinstance(part, tuple)), None)
                if status == "OK" and raw is not None:
                    try:
                        counts[ingest(ws, mailbox, raw)] += 1
                    except TesseraError as exc:
                        counts["failed"] += 1
                        problems.append(f"message {uid}: {exc}")
                        log.warning("mailbox %s: message %s skipped: %s", mailbox["name"], uid, exc)
                ws.records.update(ACTOR, "mailbox", mailbox_id, {"last_uid": uid})
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                conn.logout()
    except (imaplib.IMAP4.error, OSError, oauth.OAuthError, MailboxError) as exc:
        reason = f"{type(exc).__name__}: {exc}"[:1000]
        ws.records.update(ACTOR, "mailbox", mailbox_id, {"last_error": reason, "last_polled_at": now().isoformat()})
        raise MailboxError(f"mailbox {mailbox['name']!r}: {reason}") from None
    ws.records.update(
        ACTOR,
        "mailbox",
        mailbox_id,
        {"last_error": "; ".join(problems)[:4000] or None, "last_polled_at": now().isoformat()},
    )
    return counts


def _quoted(folder: str) -> str:
    return folder if folder.isalnum() else '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def poll_job(ws: Any, args: dict[str, Any]) -> None:
    """The ``email_poll`` job: ``{"mailbox": ID}`` (queued by the ``poll_mailboxes`` rule)."""
    counts = poll(ws, str(args.get("mailbox")))
    log.info("mailbox %s polled: %s", args.get("mailbox"), dict(counts))
