"""The chat capture plugin: an embeddable chat-to-lead widget.

A website embeds ``/public/plugins/chat/widget.js`` with ``data-widget=NAME``; visitors'
messages reach ``/public/plugins/chat/NAME/messages`` and become records through the
capture hook the ``chat_widget`` record names (:mod:`.routes`). The ``chat`` pack
(``packs/chat``) holds the ``chat_widget`` entity. User guide: docs/email.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.hookspecs import hookimpl


@hookimpl
def tessera_blueprints() -> list[Any]:
    from plugins.chat.routes import bp

    return [bp]


@hookimpl
def tessera_pack_roots() -> list[Path]:
    return [Path(__file__).resolve().parent / "packs"]
