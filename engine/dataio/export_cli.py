"""``tessera export ENTITY``: records as CSV, XLSX or JSON Lines, to a file or stdout.

Without ``--as`` the export runs as the engine (every record and field); with ``--as
EMAIL`` it sees exactly what that user may read and export. A file is written next to
its destination and renamed into place when complete, so a failed export leaves nothing
half-written behind.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from engine.actor import SYSTEM, Actor
from engine.errors import BadRequest, DslError, NotFound


def actor_by_email(ws: Any, email: str) -> Actor:
    """The ``Actor`` of the active user with this e-mail address (for ``--as``)."""
    from engine.security.identity import load_actor
    from engine.security.users import find_user
    from engine.storage.database import read_transaction

    user = find_user(ws, email)
    found = None
    if user is not None:
        with read_transaction(ws.db) as conn:
            found = load_actor(conn, ws.snapshot(), user["id"], "cli")
    if found is None:
        raise NotFound(f"no active user with e-mail {email}")
    return found


def _write_file(chunks: Iterable[bytes], target: Path) -> None:
    """All of the export at ``target``, or nothing there at all."""
    directory = target.parent if str(target.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    try:
        os.chmod(temporary, _new_file_mode())  # mkstemp's file is private; an export is not
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _new_file_mode() -> int:
    """The mode ``open`` gives a new file: 0o666 less the process's umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


@click.command("export")
@click.argument("entity")
@click.option("--filter", "filter_", metavar="EXPR", help="DSL condition the records must meet.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx", "jsonl"]),
    help="File format (default: from the -o file name, else csv).",
)
@click.option("--fields", metavar="a,b", help="Fields to export, in this order (default: all readable).")
@click.option("--sort", metavar="a,-b", help="Order of the records (default: by id).")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout)."
)
@click.option("--as", "as_email", metavar="EMAIL", help="Export what this user may read and export.")
def export_command(
    entity: str,
    filter_: str | None,
    fmt: str | None,
    fields: str | None,
    sort: str | None,
    output: Path | None,
    as_email: str | None,
) -> None:
    """Export records of ENTITY as CSV, XLSX or JSON Lines."""
    from engine.cli import _run, _workspace
    from engine.dataio.exporting import open_export

    if fmt is None:
        suffix = output.suffix.lower().lstrip(".") if output is not None else ""
        fmt = suffix if suffix in ("csv", "xlsx", "jsonl") else "csv"
    if output is None and fmt == "xlsx":
        raise click.UsageError("an XLSX export needs a file: add -o FILE.xlsx")

    def run() -> None:
        ws = _workspace()
        try:
            who = actor_by_email(ws, as_email) if as_email else SYSTEM
            try:
                export = open_export(ws.records, who, entity, format=fmt, filter=filter_, fields=fields, sort=sort)
            except DslError as exc:  # one line, not the excerpt with a caret the API shows
                reason = exc.errors[0].message if exc.errors else exc.detail.splitlines()[0]
                raise BadRequest(f"--filter: {reason}") from None
            if output is None:
                stream = sys.stdout.buffer
                for chunk in export.chunks():
                    stream.write(chunk)
                stream.flush()
                return
            _write_file(export.chunks(), output)
            click.echo(f"exported {export.count} {entity} record(s) to {output}", err=True)
        finally:
            ws.close()

    _run(run)
