"""Who the e-mail plugin acts as, its settings record, and reading its own records.

The plugin reads and writes through the data-access layer as the engine (no user, the
``admin`` role, a source naming the plugin, which the audit trail shows). Its settings live in the ``email_setting``
record of its pack; without that pack installed, e-mail is sent untracked.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from engine.actor import Actor
from engine.errors import NotFound

SOURCE = "plugin:email"
#: the role the mailbox's ``secret`` fields are revealed to (``reveal_to``): the plugin reads
#: its sign-in secrets, administrators see them masked like any secret
ROLE = "email_plugin"
ACTOR = Actor(None, frozenset({"admin", ROLE}), SOURCE)
PUBLIC_PREFIX = "/public/plugins/email"


@dataclass(frozen=True)
class EmailSettings:
    track_opens: bool = True
    track_clicks: bool = True
    consent_field: str | None = "consent_marketing"


def installed(ws: Any, entity: str = "email_message") -> bool:
    """Is the plugin's pack (its ``entity``) installed in this workspace?"""
    return entity in ws.snapshot().catalog.entities


def settings(ws: Any) -> EmailSettings:
    """The ``email_setting`` record's values, or the defaults when there is none."""
    if not installed(ws, "email_setting"):
        return EmailSettings()
    page = ws.records.list(ACTOR, "email_setting", {"limit": "1"})
    if not page.data:
        return EmailSettings()
    row = page.data[0]
    return EmailSettings(
        track_opens=bool(row.get("track_opens", True)),
        track_clicks=bool(row.get("track_clicks", True)),
        consent_field=(row.get("consent_field") or "").strip() or None,
    )


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def find_one(ws: Any, entity: str, **equals: Any) -> dict[str, Any] | None:
    """The oldest live record of ``entity`` whose fields equal ``equals`` (``id=...`` reads
    one record), read through the data-access layer as the plugin."""
    if set(equals) == {"id"}:
        try:
            return dict(ws.records.get(ACTOR, entity, str(equals["id"])))
        except NotFound:
            return None
    params = {**{name: str(value) for name, value in equals.items()}, "limit": "1", "sort": "created_at"}
    page = ws.records.list(ACTOR, entity, params)
    return dict(page.data[0]) if page.data else None
