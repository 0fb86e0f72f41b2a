"""``tessera export ENTITY``: records as CSV, XLSX or JSON Lines, to a file or stdout.

Without ``--as`` the export runs as the engine (every record and field); with ``--as
EMAIL`` it sees exactly what that user may read and export. A file is written next to
its destination and renamed into place when complete, so a failed export leaves nothing
half-written behind (a FIFO or device such as ``/dev/stdout`` is written straight to).
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import click

from engine.actor import SYSTEM, Actor
from engine.dataio.writers import XLSX_CELL_LIMIT
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


#: the format a file name's extension stands for (any other extension: CSV)
EXTENSION_FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".json": "jsonl", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def format_for(output: Path | None, fmt: str | None) -> str:
    """The format asked for, else the one the file's extension stands for, else CSV; a
    format that contradicts a known extension is a usage error naming both."""
    known = EXTENSION_FORMATS.get(output.suffix.lower()) if output is not None else None
    if fmt is not None and known is not None and fmt != known:
        raise click.UsageError(f"--format {fmt} does not match the file name {output} (which stands for {known})")
    return fmt or known or "csv"


def write_output(chunks: Iterable[bytes], target: Path) -> None:
    """Write the export to ``target`` as the user means it.

    A FIFO or device (``/dev/stdout``), or a symlink to one, is written straight to; a
    symlink to a file keeps being a symlink (the file it points to is replaced); an
    existing file keeps its mode. Any other file is written beside its destination and
    renamed into place, so a failed export leaves nothing half-written behind."""
    try:
        found = os.stat(target)  # follows symlinks
    except FileNotFoundError:
        found = None
    except OSError as exc:
        raise OSError(f"cannot write {target}: {exc.strerror}") from None
    try:
        if found is not None and not stat.S_ISREG(found.st_mode):
            with open(target, "wb") as out:
                _copy(chunks, out)
            return
        real = Path(os.path.realpath(target)) if target.is_symlink() else target
        _write_file(chunks, real, stat.S_IMODE(found.st_mode) if found is not None else _new_file_mode())
    except BrokenPipeError:
        raise
    except OSError as exc:  # the user's name for the file, never the temporary one's
        raise OSError(f"cannot write {target}: {exc.strerror or exc}") from None


def _copy(chunks: Iterable[bytes], out: BinaryIO) -> None:
    for chunk in chunks:
        out.write(chunk)
    out.flush()


def _write_file(chunks: Iterable[bytes], target: Path, mode: int) -> None:
    """All of the export at ``target`` (with ``mode``), or nothing there at all."""
    directory = target.parent if str(target.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    try:
        os.chmod(temporary, mode)  # mkstemp's file is private; an export is not
        with os.fdopen(handle, "wb") as out:
            _copy(chunks, out)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _new_file_mode() -> int:
    """The mode ``open`` gives a new file: 0o666 less the process's umask."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _reader_gone() -> NoReturn:
    """The reader closed the pipe (``| head``): stop quietly, as Unix tools do. Standard
    output then points at /dev/null, so Python's final flush cannot fail again (see
    "Note on SIGPIPE" in the documentation of the ``signal`` module)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (tests capture the output)
        pass
    sys.exit(141)  # 128 + SIGPIPE, what a shell reports for a tool the signal ended


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
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="File to write; - for stdout (default: stdout).",
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

    if output is not None and str(output) == "-":
        output = None  # ``-o -``: standard output
    fmt = format_for(output, fmt)
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
            try:
                if output is None:
                    _copy(export.chunks(), sys.stdout.buffer)
                else:
                    write_output(export.chunks(), output)
            except BrokenPipeError:
                _reader_gone()
            if export.cut_cells:
                click.echo(
                    f"warning: {export.cut_cells} cell(s) longer than {XLSX_CELL_LIMIT:,} characters"
                    " (Excel's limit) were cut; each ends with \u2026",
                    err=True,
                )
            if output is not None:
                click.echo(f"exported {export.count} {entity} record(s) to {output}", err=True)
        finally:
            ws.close()

    _run(run)
