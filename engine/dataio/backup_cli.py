"""``tessera backup`` and ``tessera restore`` (docs/backup.md).

``tessera backup FILE`` writes one archive; ``tessera backup --dir DIR`` names it by time
and applies retention, which is what a cron job or systemd timer runs. Encryption keys come
from a key file or ``TESSERA_BACKUP_KEY``; they are never taken on the command line, where
they would show in the process list and shell history.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

KEY_ENV = "TESSERA_BACKUP_KEY"


def _key(key_file: Path | None) -> bytes | None:
    from engine.dataio.archive import BackupError, key_from_file, read_key

    if key_file is not None:
        return key_from_file(key_file)
    text = os.environ.get(KEY_ENV)
    if text is not None and not text.strip():
        # e.g. TESSERA_BACKUP_KEY="$(cat /missing/key)" in cron: never fall back to plain text
        raise BackupError(f"{KEY_ENV} is set but empty; give the key, or unset it for an unencrypted backup")
    return read_key(text)


def _summary(manifest: dict[str, Any]) -> str:
    tables = manifest.get("tables") or {}
    rows = sum(entry["rows"] for entry in tables.values())
    count = (manifest.get("files") or {}).get("count", 0)
    return f"{rows} row(s) in {len(tables)} table(s), {count} file(s)"


@click.command("backup")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write a timestamped archive into this folder.",
)
@click.option(
    "--keep-daily",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="With --dir: days to keep one archive of.",
)
@click.option(
    "--keep-weekly",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="With --dir: weeks to keep one archive of.",
)
@click.option(
    "--encrypt-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Encrypt with the key in this file (default: ${KEY_ENV} when set).",
)
@click.option("--verify", is_flag=True, help="Restore the new archive into a temporary database and compare.")
def backup_command(
    file: Path | None,
    folder: Path | None,
    keep_daily: int,
    keep_weekly: int,
    encrypt_key_file: Path | None,
    verify: bool,
) -> None:
    """Write a portable backup archive of the whole database and its files.

    FILE (or --dir DIR) receives a zip with every table, the metadata overlays and the
    uploaded files. It includes password hashes and encrypted secrets: keep it safe.
    """
    from engine.cli import _run, _workspace

    if (file is None) == (folder is None):
        raise click.UsageError("give either FILE or --dir DIR")
    if file is not None and (keep_daily or keep_weekly):
        raise click.UsageError("--keep-daily and --keep-weekly apply to --dir backups")

    def run() -> None:
        from engine.dataio.backup_schedule import backup_to_folder, write_backup
        from engine.storage.database import friendly_db_errors

        key = _key(encrypt_key_file)
        with friendly_db_errors():
            ws = _workspace()
            try:
                if folder is not None:
                    target, manifest, removed = backup_to_folder(ws, folder, key, keep_daily, keep_weekly, verify)
                else:
                    assert file is not None  # nosec B101 - checked above
                    target, removed = file, []
                    manifest = write_backup(ws, file, key, verify)
            finally:
                ws.close()
        sealed = ", encrypted" if key else ""
        checked = ", verified" if verify else ""
        click.echo(f"wrote {target}: {_summary(manifest)}{sealed}{checked}")
        for path in removed:
            click.echo(f"removed {path} (retention)")
        if key and not target.name.endswith(".enc"):
            click.echo(f"warning: {target} is encrypted; name it .enc so it is not taken for a zip archive", err=True)
        missing = (manifest.get("files") or {}).get("missing") or []
        if missing:
            click.echo(
                f"warning: {len(missing)} file(s) are missing or damaged in the file store and not in the backup",
                err=True,
            )
        orphans = manifest.get("orphan_tables") or []
        if orphans:
            click.echo(
                f"warning: left out {len(orphans)} table(s) that no pack or overlay here defines: {', '.join(orphans)}",
                err=True,
            )

    _run(run)


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Key of an encrypted backup (default: ${KEY_ENV}).",
)
def restore_command(file: Path, key_file: Path | None) -> None:
    """Restore a backup archive into an empty database (TESSERA_DATABASE_URL).

    Refuses a database that has any table, and archives from a newer Tessera. All or
    nothing: after an error the database is as empty as before.
    """
    from engine.cli import _config, _run

    def run() -> None:
        from engine.dataio.restore import restore_backup
        from engine.storage.database import friendly_db_errors

        with friendly_db_errors():
            result = restore_backup(_config(), file, _key(key_file))
        for warning in result.warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(result.describe())

    _run(run)
