"""The e-mail plugin: tracked outbound e-mail and inbound e-mail from IMAP mailboxes.

- ``email`` channel (replaces the engine's): the engine's templated e-mail, kept as an
  ``email_message`` with open, click and unsubscribe tracking (:mod:`.outbound`,
  :mod:`.tracking`), sent over the engine's SMTP server;
- ``email_poll`` job and ``tessera email poll``: new messages of ``mailbox`` records create
  records or join their thread, attachments in the file store (:mod:`.imap_poll`,
  :mod:`.inbound`), with password or OAuth2 (XOAUTH2) sign-in (:mod:`.oauth`);
- the ``email`` pack (``packs/email``): mailbox, email_message, email_event,
  email_attachment, email_setting and the polling rule.

User guide: docs/email.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.hookspecs import hookimpl


@hookimpl
def tessera_channels() -> dict[str, Any]:
    from plugins.email.outbound import send_tracked_email

    return {"email": send_tracked_email}


@hookimpl
def tessera_jobs() -> dict[str, Any]:
    from plugins.email.imap_poll import poll_job

    return {"email_poll": poll_job}


@hookimpl
def tessera_blueprints() -> list[Any]:
    from plugins.email.tracking import bp

    return [bp]


@hookimpl
def tessera_pack_roots() -> list[Path]:
    return [Path(__file__).resolve().parent / "packs"]


@hookimpl
def tessera_cli_commands() -> list[Any]:
    from plugins.email.cli import email_group

    return [email_group]
