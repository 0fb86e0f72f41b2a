"""``tessera import ENTITY FILE``: a CSV or XLSX file into an entity, with a progress bar.

The row-level report goes to ``FILE.errors.csv`` next to the input whenever a row failed
or was flagged as a possible duplicate (a stale one from an earlier run is removed). The
exit status is 1 when the file could not be read or any row failed, so a script notices.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click


def _split_map(text: str | None) -> dict[str, str | None]:
    from engine.dataio.mapping import parse_map

    return parse_map(text)


@click.command("import")
@click.argument("entity")
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--map", "map_text", metavar="COL=FIELD,...", help="Column to field; 'account.code' matches a link by code."
)
@click.option("--template", type=click.Path(path_type=Path), help="A saved mapping (YAML; see examples/imports).")
@click.option("--key", help="Upsert: update the record whose FIELD equals the row's, else create.")
@click.option("--dedupe", type=click.Choice(["skip", "update", "flag"]), help="Rows the duplicate rules match.")
@click.option("--dry-run", is_flag=True, help="Check every row and report; write nothing.")
@click.option("--partial", is_flag=True, help="Commit batch by batch; batches with errors are rolled back.")
@click.option("--no-rules", is_flag=True, help="Do not run automation rules, assignment rules or webhooks.")
@click.option("--source-detail", help="Source category set on every created record.")
@click.option("--delimiter", help="CSV delimiter (default: detected); 'tab' for tabs.")
@click.option("--encoding", help="File encoding (default: BOM, else UTF-8, else Windows-1252).")
@click.option("--sheet", help="XLSX sheet name (default: the first).")
@click.option("--date-order", type=click.Choice(["dmy", "mdy"]), help="Ambiguous slash dates (default dmy).")
@click.option("--decimal", type=click.Choice(["auto", ".", ","]), help="Decimal separator (default auto).")
@click.option("--timezone", help="Time zone of datetimes without an offset (default UTC).")
@click.option(
    "--batch-size", type=click.IntRange(1, 10_000), help="Rows per batch (default 2500; 1000 with --partial)."
)
@click.option("--as", "as_email", metavar="EMAIL", help="Import as this user (their permissions); default: system.")
@click.option("--one-process", is_flag=True, help="Convert and check the rows in this process, not in a second one.")
def import_command(
    entity: str,
    file: Path,
    map_text: str | None,
    template: Path | None,
    key: str | None,
    dedupe: str | None,
    dry_run: bool,
    partial: bool,
    no_rules: bool,
    source_detail: str | None,
    delimiter: str | None,
    encoding: str | None,
    sheet: str | None,
    date_order: str | None,
    decimal: str | None,
    timezone: str | None,
    batch_size: int | None,
    as_email: str | None,
    one_process: bool,
) -> None:
    """Import records from a CSV or XLSX file into ENTITY."""
    from engine.cli import _fail, _run, _workspace

    if not file.is_file():
        _fail(f"no such file: {file}")
    given: dict[str, Any] = {
        "key": key,
        "dedupe": dedupe,
        "source_detail": source_detail,
        "date_order": date_order,
        "decimal": decimal,
        "timezone": timezone,
        "batch_size": batch_size,
        "delimiter": delimiter,
        "encoding": encoding,
        "sheet": sheet,
        "parallel": False if one_process else None,
    }

    def run() -> int:
        from engine.dataio.importing import ImportOptions, import_table, write_error_report
        from engine.dataio.mapping import MappingError, load_template, override_mapping, require_columns
        from engine.dataio.sources import read_table
        from engine.settling import settled
        from engine.storage.database import friendly_db_errors

        # an earlier run's report must not pass for this run's, even when this one stops early
        errors_path = file.with_name(file.name + ".errors.csv")
        errors_path.unlink(missing_ok=True)
        settings: dict[str, Any] = load_template(template) if template else {}
        wanted = settings.pop("entity", None)
        if wanted is not None and wanted != entity:
            raise MappingError(f"the template {template} is for {wanted}, not {entity}")
        settings.update({k: v for k, v in given.items() if v is not None})
        mapped = _split_map(map_text)
        if mapped:
            # --map entries replace the template's for their columns; the template's `auto:`
            # still decides whether the columns neither names are matched automatically
            settings["mapping"] = override_mapping(settings.get("mapping") or {}, mapped)
            settings.setdefault("auto", True)
        read = {k: settings.pop(k, None) for k in ("delimiter", "encoding", "sheet")}
        options = ImportOptions(**settings, dry_run=dry_run, partial=partial, rules=not no_rules)
        with friendly_db_errors():
            ws = _workspace()
            try:
                actor = _actor(ws, as_email)
                table = read_table(file, filename=file.name, **read)
                # a template's columns may be missing (it serves several layouts), --map's not
                require_columns(table.headers, list(mapped))
                with settled([ws]):  # a long run: keep the metadata out of the collector's way
                    report = _with_progress(lambda progress: import_table(ws, actor, entity, table, options, progress))
            finally:
                ws.close()
        if report.errors or report.flags:
            write_error_report(report, errors_path)
        _summary(report, errors_path)
        if report.total == 0:
            _fail(f"{file.name} has no data rows")
        return 1 if report.failed else 0

    status = _run(run)
    sys.exit(status or 0)


def _actor(ws: Any, email: str | None) -> Any:
    from engine.actor import SYSTEM, Actor
    from engine.errors import NotFound
    from engine.security.identity import load_actor
    from engine.security.users import find_user
    from engine.storage.database import read_transaction

    if email is None:
        return Actor(None, SYSTEM.roles, "cli")
    user = find_user(ws, email)
    actor = None
    if user is not None:
        with read_transaction(ws.db) as conn:
            actor = load_actor(conn, ws.snapshot(), user["id"], "cli")
    if actor is None:
        raise NotFound(f"no active user {email}")
    return actor


def _with_progress(work: Any) -> Any:
    """Run ``work(progress)`` under a rich progress line (rows and rows/s) on stderr."""
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class RowsPerSecond(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} rows/s")

    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} rows"),
        RowsPerSecond(),
        TimeElapsedColumn(),
        console=console,
        transient=not console.is_terminal,
        auto_refresh=False,  # no refresh thread: the import forks only a process without other threads
    ) as bar:
        task = bar.add_task("importing", total=None)
        bar.refresh()
        return work(lambda done: bar.update(task, completed=done, refresh=True))


def _summary(report: Any, errors_path: Path) -> None:
    counts = (
        f"{report.total} rows: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.skipped} skipped, {report.flagged} flagged, {report.failed} failed"
    )
    click.echo(f"{report.entity}: {counts}")
    if report.ignored_columns:
        click.echo(f"ignored columns: {', '.join(report.ignored_columns)}")
    if report.dry_run:
        click.echo("dry run: nothing was written")
    if report.partial:
        landed = [b for b in report.batches if b.written]
        rolled = [b for b in report.batches if not b.written]
        would = "would be " if report.dry_run else ""
        click.echo(f"{len(landed)} of {len(report.batches)} batches {would}written")
        for b in rolled:
            click.echo(f"  {would}rolled back: rows {b.first_row}-{b.last_row} ({b.failed} failed)")
    elif not report.written and report.total and not report.dry_run:
        click.echo(f"nothing was written: {report.failed} row(s) failed")
    if report.errors or report.flags:
        click.echo(f"row report: {errors_path}")
