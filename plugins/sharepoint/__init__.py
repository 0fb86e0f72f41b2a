"""The first-party SharePoint plugin: the ``sharepoint`` connector kind (:mod:`.graph`) and the
``sharepoint`` pack (``packs/sharepoint``: ``document.sharepoint_id`` and ``sharepoint_url``).

A connector of kind ``sharepoint`` on the ``document`` entity uploads the document's file to
a SharePoint library through Microsoft Graph on every push and stores the item's id and link
on the document. User guide: docs/integrations.md (SharePoint documents).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.hookspecs import ConnectorKind, hookimpl


@hookimpl
def tessera_connectors() -> list[Any]:
    from plugins.sharepoint.graph import graph_factory

    return [ConnectorKind("sharepoint", graph_factory, "Files uploaded to SharePoint (Microsoft Graph)")]


@hookimpl
def tessera_pack_roots() -> list[Path]:
    return [Path(__file__).resolve().parent / "packs"]
