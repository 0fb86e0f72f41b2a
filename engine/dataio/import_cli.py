"""``tessera import ENTITY FILE``: placeholder, built by the import work."""

from __future__ import annotations

import click


@click.command("import")
def import_command() -> None:
    """Import records from a CSV or XLSX file."""
    raise click.ClickException("not built yet")
