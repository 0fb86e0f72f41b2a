"""``tessera email ...``: poll mailboxes now (what the ``poll_mailboxes`` rule queues)."""

from __future__ import annotations

from functools import partial
from typing import Any

import click


@click.group("email")
def email_group() -> None:
    """The e-mail plugin: mailboxes and tracked e-mail."""


@email_group.command("poll")
@click.argument("name", required=False)
def poll_command(name: str | None) -> None:
    """Read new messages of every active mailbox (or of mailbox NAME) now."""
    from engine.cli import _fail, _run, _workspace
    from plugins.email.imap_poll import MailboxError, poll
    from plugins.email.settings import ACTOR, installed

    ws: Any = _workspace()
    try:
        if not installed(ws, "mailbox"):
            _fail("the email pack is not installed (add it to the workspace's packs)")
        params = {"limit": "500", "filter": "active == true"}
        mailboxes = _run(lambda: ws.records.list(ACTOR, "mailbox", params)).data
        if name is not None:
            mailboxes = [m for m in mailboxes if m["name"] == name]
            if not mailboxes:
                _fail(f"there is no active mailbox {name!r}")
        failed = False
        for mailbox in mailboxes:
            try:
                counts = _run(partial(poll, ws, str(mailbox["id"])))
            except MailboxError as exc:
                click.echo(f"error: {exc}", err=True)
                failed = True
                continue
            summary = ", ".join(f"{counts[k]} {k}" for k in ("created", "appended", "duplicate", "failed"))
            click.echo(f"{mailbox['name']}: {summary}")
        if failed:
            raise SystemExit(1)
    finally:
        ws.close()
