"""The ``tessera`` command line. Exit codes: 0 ok, 1 user error (one line), 2 usage error."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from engine import __version__
from engine.config import Config, load_config
from engine.errors import MetadataError, TesseraError
from engine.logging_setup import configure_logging


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _run(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except MetadataError as exc:
        for error in exc.errors:
            click.echo(error.message, err=True)
        _fail(f"{exc.detail} ({len(exc.errors)} problem(s))")
    except TesseraError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(str(exc))


def _workspace_name() -> str | None:
    """The workspace chosen with ``tessera --workspace NAME`` (or ``TESSERA_WORKSPACE``)."""
    ctx = click.get_current_context(silent=True)
    return ctx.find_root().params.get("workspace") if ctx is not None else None


def _config(packs: str | None = None) -> Config:
    from engine.workspaces import config_for

    try:
        config = config_for(load_config(), _workspace_name())
    except TesseraError as exc:
        _fail(str(exc))
    if packs:
        names = tuple(p.strip() for p in packs.split(",") if p.strip())
        config = config.with_overrides(packs=None if names == ("all",) else names)
    configure_logging(config.log_format)  # TESSERA_LOG_FORMAT=json: worker, tick, ... log JSON lines
    return config


def _workspace(config: Config | None = None, install: bool = False):  # -> Workspace
    from engine.storage.database import friendly_db_errors
    from engine.workspace import Workspace

    with friendly_db_errors():
        ws = Workspace(config or _config(), name=_workspace_name() or "default")
        if install:
            ws.install()
        elif not ws.is_installed():
            _fail(f"the database {ws.db.url.render_as_string()} is not initialised; run 'tessera init' first")
    return ws


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tessera")
@click.option(
    "--workspace",
    envvar="TESSERA_WORKSPACE",
    help="Run the command on this registered workspace (see 'tessera workspace list').",
)
@click.pass_context
def main(ctx: click.Context, workspace: str | None) -> None:
    """Tessera: a metadata-driven CRM engine."""
    from engine import plugin_cli

    if plugin_cli.failure and ctx.invoked_subcommand != "plugins":
        _fail(plugin_cli.failure)  # a plugin that cannot load: one line naming it


@main.command()
@click.option("--packs", help="Comma list of packs to install, or 'all'.")
@click.option("--admin-email", help="E-mail of the first administrator.")
@click.option("--admin-password", help="Password of the first administrator.")
def init(packs: str | None, admin_email: str | None, admin_password: str | None) -> None:
    """Create or upgrade the database, install packs and create the first admin."""

    def run() -> None:
        from engine.security.users import create_user, ensure_roles, find_user

        ws = _workspace(_config(packs), install=True)
        ensure_roles(ws)
        email, password = admin_email, admin_password
        if email is None and sys.stdin.isatty():
            email = click.prompt("Administrator e-mail", default="", show_default=False) or None
        if email and password is None:
            if not sys.stdin.isatty():
                _fail("give --admin-password with --admin-email (no terminal to ask)")
            password = click.prompt("Administrator password", hide_input=True, confirmation_prompt=True)
        if email and find_user(ws, email) is None:
            create_user(ws, email, email.split("@")[0], password, ["admin"])
            click.echo(f"created administrator {email}")
        click.echo(f"database ready: {ws.db.url.render_as_string()} ({len(ws.snapshot().catalog.entities)} entities)")

    _run(run)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option(
    "--no-jobs",
    is_flag=True,
    help="Run no timers, scheduled rules or deliveries here (a restore drill, a copy of production).",
)
def serve(host: str, port: int, workers: int, threads: int, no_jobs: bool) -> None:
    """Serve the UI and API with a production WSGI server (gunicorn)."""
    _run(lambda: _workspace(install=True).close())
    _run(_install_registered)
    _config().resolved_secret_key()  # made once here, before the workers fork
    from engine.server import run_server

    run_server(host, port, workers, threads, jobs=not no_jobs)


@main.command()
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--reset", is_flag=True, help="Delete the demo database first.")
@click.option("--no-serve", is_flag=True, help="Prepare the demo database and exit.")
def demo(port: int, host: str, reset: bool, no_serve: bool) -> None:
    """Install all packs with realistic sample data and serve them."""
    from engine.demo import prepare_demo

    credentials = _run(lambda: prepare_demo(_config(), reset=reset))
    click.echo(f"Tessera demo on http://{host}:{port}/  (API: http://{host}:{port}/api/v1/openapi.json)")
    for email, password, roles in credentials:
        click.echo(f"  {email:<34} {password}  ({roles})")
    if not no_serve:
        from engine.server import run_server

        run_server(host, port, 1, 8)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def check(paths: tuple[Path, ...]) -> None:
    """Validate packs: schemas, references; errors as file:line:col: message."""
    from engine.checking import check_packs

    missing = [p for p in paths if not p.exists()]
    if missing:
        _fail(f"no such file or folder: {missing[0]}")
    problems, count = check_packs(_config(), list(paths))
    for problem in problems.items:
        click.echo(str(problem))
    if problems:
        _fail(f"{len(problems.items)} problem(s) in {count} pack(s)")
    click.echo(f"ok: {count} pack(s) checked, no problems")


@main.command()
@click.option("--plan", "plan_only", is_flag=True, help="Show the changes without applying them.")
@click.option("--allow-destructive", is_flag=True, help="Also drop orphans and narrow types.")
def migrate(plan_only: bool, allow_destructive: bool) -> None:
    """Bring the database schema to the metadata."""

    def run() -> None:
        from engine.storage.database import friendly_db_errors
        from engine.workspace import Workspace

        with friendly_db_errors():
            ws = Workspace(_config())
            plan = ws.install(dry_run=True)
            for line in plan.describe():
                click.echo(line)
            if plan.orphans:
                click.echo(f"orphans (kept unless --allow-destructive): {', '.join(plan.orphans)}")
            if plan_only:
                return
            ws.install(destructive="apply" if allow_destructive else "refuse")
        click.echo("applied" if plan else "nothing to do")

    _run(run)


@main.command()
@click.option("--dry-run", is_flag=True, help="Only report which records the rules would touch.")
@click.option("--now", "now_text", help="Evaluate as of this ISO datetime (catch-up, tests).")
def retention(dry_run: bool, now_text: str | None) -> None:
    """Apply the retention rules of the metadata (delete or anonymise old records)."""
    import datetime as dt

    from engine.security.retention import run_retention

    def run() -> None:
        now = None
        if now_text:
            try:
                now = dt.datetime.fromisoformat(now_text.replace("Z", "+00:00"))
            except ValueError:
                _fail(f"--now must be an ISO datetime, not {now_text!r}")
            now = now if now and now.tzinfo else (now.replace(tzinfo=dt.UTC) if now else None)
        results = run_retention(_workspace(), now, dry_run)
        for result in results:
            verb = "would " + result.action if dry_run else result.action + "d"
            click.echo(f"{result.entity}.{result.rule}: {verb} {len(result.record_ids)} record(s)")
        if not results:
            click.echo("no retention rules")

    _run(run)


def _instant(text: str | None, option: str = "--now") -> Any:
    """An ISO datetime option (UTC when it names no zone); None when absent."""
    import datetime as dt

    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"{option} must be an ISO datetime like 2026-03-01T09:00:00Z, not {text!r}")
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@main.command()
@click.option("--now", "now_text", help="Run as of this ISO datetime (catch-up, demos, tests).")
def tick(now_text: str | None) -> None:
    """Run due timers, scheduled rules and outbox deliveries once; print what ran."""
    from engine.automation.jobs import InProcessRunner

    def run() -> None:
        now = _instant(now_text)
        click.echo(InProcessRunner(_workspace()).tick(now).describe())

    _run(run)


@main.command()
@click.argument("entity")
@click.argument("fields", nargs=-1)
@click.option("--now", "now_text", help="Evaluate today()/now() in filters as of this ISO datetime.")
def recompute(entity: str, fields: tuple[str, ...], now_text: str | None) -> None:
    """Recount the rollup fields of every record of ENTITY (all of them, or the FIELDS named)."""
    from engine.automation.rollups import recompute_all

    def run() -> None:
        done = recompute_all(_workspace(), entity, list(fields) or None, _instant(now_text))
        click.echo(f"recomputed {', '.join(fields) or 'every rollup'} of {done} {entity} record(s)")

    _run(run)


def _install_registered() -> None:
    """Bring every registered workspace's database to the metadata (before serving them)."""
    from engine.workspace import Workspace
    from engine.workspaces import read_registry, workspace_config

    base = _config()
    for entry in read_registry(base).values():
        ws = Workspace(workspace_config(base, entry), name=entry.name)
        try:
            ws.install()
        finally:
            ws.close()


@main.command()
@click.option(
    "--queues", "--queue", "queue", help="RQ queue name.  [default: tessera, or tessera-NAME with --workspace]"
)
@click.option("--burst", is_flag=True, help="Do one pass and the queued jobs, then exit.")
@click.option("--now", "now_text", help="With --burst: make the pass as of this ISO datetime (catch-up, tests).")
def worker(queue: str | None, burst: bool, now_text: str | None) -> None:
    """Run jobs: an RQ worker and its scheduler with TESSERA_REDIS_URL, else the in-process loop."""
    from engine.automation.jobs import run_worker
    from engine.workspaces import queue_name

    queue = queue or queue_name(_workspace_name())
    if now_text and not burst:
        raise click.UsageError("--now applies to a --burst pass only")

    def run() -> None:
        now = _instant(now_text)
        ws = _workspace()
        url = ws.config.redis_url
        if url:
            import redis
            import sqlalchemy as sa

            shown = sa.make_url(url).render_as_string(hide_password=True)
            try:
                with redis.Redis.from_url(url) as connection:
                    connection.ping()
            except (redis.RedisError, ValueError) as exc:
                _fail(f"cannot reach Redis at {shown}: {exc}")
            click.echo(f"jobs: RQ worker on queue {queue!r} ({shown}); Ctrl+C stops")
        else:
            click.echo("jobs: in-process loop (TESSERA_REDIS_URL is unset); Ctrl+C stops")
        if not burst:
            from engine.settling import settle

            settle([ws])
        result = run_worker(ws, queue, burst=burst, now=now)
        if result is not None:
            click.echo(result.describe())

    _run(run)


@main.group()
def packs() -> None:
    """Installed packs."""


@packs.command("list")
def packs_list() -> None:
    from engine.checking import load_catalog

    catalog = _run(lambda: load_catalog(_config()))
    for pack in catalog.packs:
        entities = [e.name for e in catalog.entities.values() if e.pack == pack.name]
        click.echo(
            f"{pack.name:<16} {pack.version:<8} {len(entities):>3} entities  depends: {', '.join(pack.depends) or '-'}"
        )


@packs.command("show")
@click.argument("name")
def packs_show(name: str) -> None:
    from engine.checking import load_catalog

    catalog = _run(lambda: load_catalog(_config()))
    pack = catalog.pack(name)
    if pack is None:
        _fail(f"no pack {name!r}; installed: {', '.join(p.name for p in catalog.packs)}")
        return
    click.echo(f"{pack.name} {pack.version}  ({pack.root})")
    click.echo(f"depends: {', '.join(pack.depends) or '-'}")
    for entity in catalog.entities.values():
        if entity.pack == pack.name or any(f.pack == pack.name for f in entity.fields.values()):
            own = [f.name for f in entity.fields.values() if f.pack == pack.name]
            click.echo(f"  entity {entity.name}: {', '.join(own)}")
    for folder, docs in sorted(catalog.documents.items()):
        mine = [d.path.name for p, d in docs if p.name == pack.name]
        if mine:
            click.echo(f"  {folder}: {', '.join(mine)}")


@packs.command("export-overlays")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--name", default="overlays", show_default=True, help="Name of the written pack.")
def packs_export(directory: Path, name: str) -> None:
    """Write the run-time overlays of the database as a pack."""
    from engine.overlays import export_overlays

    written = _run(lambda: export_overlays(_workspace(), directory, name))
    click.echo(f"wrote {len(written)} file(s) to {directory}")


@main.group()
def user() -> None:
    """User administration."""


@user.command("add")
@click.argument("email")
@click.option("--name", "full_name", help="Full name (default: the part before @).")
@click.option("--role", "roles", default="", help="Comma list of role names.")
@click.option("--password", help="Password (prompted when absent and a terminal is attached).")
def user_add(email: str, full_name: str | None, roles: str, password: str | None) -> None:
    from engine.security.users import create_user

    if password is None and sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    role_list = [r.strip() for r in roles.split(",") if r.strip()]
    _run(lambda: create_user(_workspace(), email, full_name or email.split("@")[0], password, role_list))
    click.echo(f"created {email}")


def _for_user(email: str, change: Any) -> None:
    """``change(ws, user_id)`` for the user with ``email``; an unknown address is one error line."""
    from engine.security.users import find_user

    ws = _workspace()
    found = find_user(ws, email)
    if found is None:
        _fail(f"no user with email {email}")
        return
    change(ws, found["id"])


@user.command("passwd")
@click.argument("email")
@click.option("--password", help="New password (prompted when absent and a terminal is attached).")
def user_passwd(email: str, password: str | None) -> None:
    from engine.security.users import set_password

    if password is None:
        if not sys.stdin.isatty():
            _fail("give --password or run in a terminal")
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    _run(lambda: _for_user(email, lambda ws, user_id: set_password(ws, user_id, password or "")))
    click.echo(f"password of {email} changed")


@user.command("role")
@click.argument("email")
@click.argument("roles")
def user_role(email: str, roles: str) -> None:
    """Set the roles of a user (comma list)."""
    from engine.security.users import set_roles

    _run(lambda: set_roles(_workspace(), email, [r.strip() for r in roles.split(",") if r.strip()]))
    click.echo(f"roles of {email}: {roles}")


@user.command("reset-totp")
@click.argument("email")
def user_reset_totp(email: str) -> None:
    """Switch a user's second factor off (a lost authenticator; audited as the system)."""
    from engine.actor import SYSTEM
    from engine.security.totp import reset

    _run(lambda: _for_user(email, lambda ws, user_id: reset(ws, SYSTEM, user_id)))
    click.echo(f"second factor of {email} is off; they sign in with their password and may set it up again")


def _add_data_commands() -> None:
    """``import``, ``export``, ``backup``, ``restore`` live in ``engine.dataio``."""
    from engine.dataio.backup_cli import backup_command, restore_command
    from engine.dataio.export_cli import export_command
    from engine.dataio.import_cli import import_command

    for command in (import_command, export_command, backup_command, restore_command):
        main.add_command(command)
    from engine.connectors.cli import sync_command  # tessera sync CONNECTOR

    main.add_command(sync_command)
    from engine.uat_cli import uat_command  # tessera uat: the user acceptance tests

    main.add_command(uat_command)
    from engine.workspace_cli import workspace_group  # tessera workspace create/list

    main.add_command(workspace_group)


_add_data_commands()


def _add_plugin_commands() -> None:
    """``tessera plugins list`` and the plugins' own commands (``tessera_cli_commands``)."""
    from engine.plugin_cli import add_plugin_commands

    add_plugin_commands(main)


_add_plugin_commands()


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
