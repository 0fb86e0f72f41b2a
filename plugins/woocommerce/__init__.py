"""The WooCommerce plugin: shop products and orders in the CRM.

- the ``woocommerce`` pack (``packs/woocommerce``): ``woo_store`` records (shop URL, REST
  API keys, webhook secret, sync state);
- the webhook receiver ``/public/plugins/woocommerce/webhook/SHOP`` with the signature
  check (:mod:`plugins.woocommerce.webhooks`);
- the pull sync over the REST API (:mod:`plugins.woocommerce.sync`): the job
  ``woocommerce_sync`` and the command ``tessera woo sync``;
- the mapping to ``product``, ``order`` and ``payment`` records, leads for unknown
  customers (:mod:`plugins.woocommerce.mapping`).

User documentation: ``docs/woocommerce.md``.
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
def tessera_blueprints() -> list[Any]:
    from plugins.woocommerce.webhooks import bp

    return [bp]


@hookimpl
def tessera_jobs() -> dict[str, Any]:
    from plugins.woocommerce.sync import sync_job

    return {"woocommerce_sync": sync_job}


@hookimpl
def tessera_cli_commands() -> list[Any]:
    from plugins.woocommerce.cli import woo

    return [woo]
