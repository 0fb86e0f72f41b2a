"""``tessera workspace create NAME --host HOST`` and ``tessera workspace list``."""

from __future__ import annotations

import click
import sqlalchemy as sa


@click.group("workspace")
def workspace_group() -> None:
    """Workspaces (tenants): each its own database, served by host name."""


@workspace_group.command("create")
@click.argument("name")
@click.option("--host", "hosts", multiple=True, help="Host name it is served at (repeatable).")
@click.option("--database-url", help="Its database (default: next to the deployment's own database).")
@click.option("--packs", help="Comma list of packs (default: the deployment's packs).")
@click.option("--admin-email", help="E-mail of the workspace's first administrator.")
@click.option("--admin-password", help="Password of that administrator.")
def create(
    name: str,
    hosts: tuple[str, ...],
    database_url: str | None,
    packs: str | None,
    admin_email: str | None,
    admin_password: str | None,
) -> None:
    """Create a workspace: its database installed, then registered for its host names."""
    from engine.cli import _config, _fail, _run
    from engine.workspaces import create_workspace

    if admin_email and not admin_password:
        _fail("give --admin-password with --admin-email")
    names = tuple(p.strip() for p in packs.split(",") if p.strip()) if packs else None

    def run() -> None:
        admin = (admin_email, admin_password) if admin_email and admin_password else None
        entry, ws = create_workspace(_config(), name, hosts, database_url, names, admin)
        try:
            entities = len(ws.snapshot().catalog.entities)
        finally:
            ws.close()
        served = ", ".join(entry.hosts)
        click.echo(f"workspace {entry.name} ready on {served}: {_shown(entry.database_url)} ({entities} entities)")

    _run(run)


@workspace_group.command("list")
def list_workspaces() -> None:
    """The registered workspaces, their host names and databases (passwords hidden)."""
    from engine.cli import _config, _run
    from engine.workspaces import read_registry

    def run() -> None:
        config = _config()
        click.echo(f"default  (any other host)  {_shown(config.database_url)}")
        for entry in read_registry(config).values():
            packs = ",".join(entry.packs) if entry.packs is not None else "deployment packs"
            click.echo(f"{entry.name}  {','.join(entry.hosts)}  {_shown(entry.database_url)}  [{packs}]")

    _run(run)


def _shown(url: str) -> str:
    return sa.make_url(url.replace("postgresql://", "postgresql+psycopg://", 1)).render_as_string(hide_password=True)
