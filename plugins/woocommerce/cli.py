"""``tessera woo sync [SHOP]``: pull products and orders from the WooCommerce shops."""

from __future__ import annotations

import click

from engine.errors import TesseraError


@click.group()
def woo() -> None:
    """WooCommerce shops (the woocommerce plugin)."""


@woo.command("sync")
@click.argument("shop", required=False)
def sync_command(shop: str | None) -> None:
    """Pull what changed since the last sync from SHOP (default: every active shop)."""
    from engine.cli import _fail, _workspace
    from plugins.woocommerce.sync import sync

    ws = _workspace()
    try:
        results = sync(ws, shop)
    except TesseraError as exc:
        _fail(str(exc))
    finally:
        ws.close()
    if not results:
        click.echo("no active WooCommerce shop")
    for result in results:
        click.echo(f"{result.store}: {result.summary()}")
    if any(r.failure for r in results):
        _fail("the sync stopped: " + "; ".join(str(r.failure) for r in results if r.failure))
