"""The SMS gateway plugin: text messages through any HTTP SMS gateway, with a delivery log.

- the ``sms`` pack (``packs/sms``): ``sms_gateway`` records (URL, method, authentication
  header, request template, success detection, status callback) and the ``sms_message``
  delivery log; creating a ``sms_message`` record sends it;
- the ``sms`` outbox channel (:mod:`plugins.sms.channel`): numbers normalised to E.164,
  texts from the message templates (``NAME.sms.txt``), each attempt logged;
- the delivery status callback ``/public/plugins/sms/status/GATEWAY``
  (:mod:`plugins.sms.callbacks`);
- the DSL function ``e164(phone, region?)`` (:mod:`plugins.sms.phone`);
- the command ``tessera sms send``.

User documentation: ``docs/sms.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.hookspecs import hookimpl

PACKS = Path(__file__).resolve().parent / "packs"


@hookimpl
def tessera_pack_roots() -> list[Path]:
    return [PACKS]


@hookimpl
def tessera_channels() -> dict[str, Any]:
    from plugins.sms.channel import deliver_sms

    return {"sms": deliver_sms}


@hookimpl
def tessera_dsl_functions() -> list[Any]:
    from plugins.sms.phone import E164

    return [E164]


@hookimpl
def tessera_blueprints() -> list[Any]:
    from plugins.sms.callbacks import bp

    return [bp]


@hookimpl
def tessera_cli_commands() -> list[Any]:
    from plugins.sms.cli import sms

    return [sms]
