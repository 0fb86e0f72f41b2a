"""Signed tracking links: a recipient can only reach what the sent message pointed at.

A link names an ``email_message`` id, what it does (``open``, ``click`` with the link's
index, ``unsubscribe``) and an HMAC of both under the workspace's secret key, so ids cannot
be guessed or links forged. A click redirects only to an address stored with the message
(``links``): the token never carries a URL, so there is no open redirect.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from plugins.email.settings import PUBLIC_PREFIX


def signature(ws: Any, purpose: str, message_id: str, extra: str = "") -> str:
    key = ws.config.resolved_secret_key().encode()
    digest = hmac.new(key, f"email:{purpose}:{message_id}:{extra}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def valid(ws: Any, sig: str, purpose: str, message_id: str, extra: str = "") -> bool:
    return hmac.compare_digest(signature(ws, purpose, message_id, extra), sig)


def base_url(ws: Any) -> str | None:
    """Where recipients reach this CRM (``TESSERA_PUBLIC_URL``); None: no tracking links."""
    url = ws.config.public_url
    return str(url).rstrip("/") if url else None


def open_url(ws: Any, base: str, message_id: str) -> str:
    return f"{base}{PUBLIC_PREFIX}/open/{message_id}/{signature(ws, 'open', message_id)}.gif"


def click_url(ws: Any, base: str, message_id: str, index: int) -> str:
    return f"{base}{PUBLIC_PREFIX}/click/{message_id}/{index}/{signature(ws, 'click', message_id, str(index))}"


def unsubscribe_url(ws: Any, base: str, message_id: str) -> str:
    return f"{base}{PUBLIC_PREFIX}/unsubscribe/{message_id}/{signature(ws, 'unsubscribe', message_id)}"
