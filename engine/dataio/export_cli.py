"""``tessera export ENTITY``: placeholder, built by the export work."""

from __future__ import annotations

import click


@click.command("export")
def export_command() -> None:
    """Export records as CSV, XLSX or JSON Lines."""
    raise click.ClickException("not built yet")
