"""``tessera backup FILE`` and ``tessera restore FILE``: placeholders, built by the backup work."""

from __future__ import annotations

import click


@click.command("backup")
def backup_command() -> None:
    """Write a portable backup archive."""
    raise click.ClickException("not built yet")


@click.command("restore")
def restore_command() -> None:
    """Restore a backup archive into an empty database."""
    raise click.ClickException("not built yet")
