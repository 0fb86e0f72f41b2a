"""``tessera sms send TO TEXT``: queue a text message from the command line."""

from __future__ import annotations

import click

from engine.actor import SYSTEM
from engine.errors import TesseraError


@click.group()
def sms() -> None:
    """Text messages through the SMS gateway (the sms plugin)."""


@sms.command("send")
@click.argument("to")
@click.argument("text")
def send(to: str, text: str) -> None:
    """Queue TEXT to the phone number TO; the job runner sends it and logs the outcome."""
    from engine.cli import _fail, _workspace

    ws = _workspace()
    try:
        if "sms_message" not in ws.snapshot().catalog.entities:
            _fail("the sms pack is not installed (TESSERA_PACKS)")
        record = ws.records.create(SYSTEM, "sms_message", {"to": to, "text": text})
    except TesseraError as exc:
        _fail(str(exc))
    finally:
        ws.close()
    click.echo(f"queued SMS {record['id']} to {record['to']}")
