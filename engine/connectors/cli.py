"""``tessera sync CONNECTOR``: run one connector's pull now and print the run's counts.

Exit code 0 when the run succeeded (or partly: the rejected rows are in the dead-letter
list), 1 when it failed (the peer could not be reached, the connector is switched off...).
"""

from __future__ import annotations

import click


@click.command("sync")
@click.argument("name")
@click.option("--full", is_flag=True, help="Ignore the stored cursor: fetch every row again (replays are harmless).")
def sync_command(name: str, full: bool) -> None:
    """Pull the rows of connector NAME now (as its scheduled run would)."""
    from engine.cli import _fail, _run, _workspace
    from engine.connectors.sync import run_sync

    summary = _run(lambda: run_sync(_workspace(), name, "manual", full=full))
    counts = (
        f"{summary['created']} created, {summary['updated']} updated, "
        f"{summary['unchanged']} unchanged, {summary['failed']} failed"
    )
    if summary["status"] == "failed":
        _fail(f"sync {summary['name']} failed: {summary['error'] or counts}")
    click.echo(f"sync {summary['name']}: {summary['status']}: {counts}")
