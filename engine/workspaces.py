"""Several workspaces (tenants) in one deployment, each its own database, routed by host.

The deployment's own configuration is the *default* workspace. Further workspaces are
listed in ``workspaces.yaml`` in the instance folder, written by ``tessera workspace
create NAME --host HOST``::

    acme:
      hosts: [acme.crm.example.com]
      database_url: postgresql+psycopg://crm@db/tessera_acme
      packs: [sales, service]        # optional; default: the deployment's packs

Each gets its own database, its own instance folder (``workspaces/NAME/``: uploaded files,
connector state) and its own job queue, and shares the deployment's secret key, plugins
and Redis. Nothing is keyed by tenant inside a database: a workspace's records, users,
tokens and metadata overlays live only in its own database, so nothing can cross.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from engine.config import Config
from engine.errors import TesseraError
from engine.storage.database import create_db_engine

REGISTRY = "workspaces.yaml"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


@dataclass(frozen=True)
class WorkspaceEntry:
    name: str
    hosts: tuple[str, ...]
    database_url: str
    packs: tuple[str, ...] | None = None

    def as_yaml(self) -> dict[str, Any]:
        data: dict[str, Any] = {"hosts": list(self.hosts), "database_url": self.database_url}
        if self.packs is not None:
            data["packs"] = list(self.packs)
        return data


def registry_path(config: Config) -> Path:
    return config.instance_path / REGISTRY


def read_registry(config: Config) -> dict[str, WorkspaceEntry]:
    """The registered workspaces; a damaged file is a clear error, never silently ignored."""
    path = registry_path(config)
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise TesseraError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TesseraError(f"{path} must map workspace names to their settings")
    entries: dict[str, WorkspaceEntry] = {}
    for name, item in data.items():
        if not isinstance(item, dict) or not isinstance(item.get("database_url"), str):
            raise TesseraError(f"{path}: workspace {name!r} needs a database_url")
        packs = item.get("packs")
        entries[str(name)] = WorkspaceEntry(
            str(name),
            tuple(str(h).lower() for h in item.get("hosts") or ()),
            item["database_url"],
            None if packs is None else tuple(str(p) for p in packs),
        )
    return entries


def workspace_config(config: Config, entry: WorkspaceEntry) -> Config:
    """The deployment's configuration narrowed to one registered workspace."""
    instance = config.instance_path / "workspaces" / entry.name
    return config.with_overrides(
        database_url=entry.database_url,
        packs=entry.packs if entry.packs is not None else config.packs,
        secret_key=config.resolved_secret_key(),  # one deployment, one key
        instance_path=instance,
        files_path=instance / "files",
    )


def config_for(config: Config, name: str | None) -> Config:
    """``--workspace NAME`` (or ``TESSERA_WORKSPACE``): that workspace's configuration."""
    if not name or name == "default":
        return config
    entry = read_registry(config).get(name)
    if entry is None:
        raise TesseraError(f"no workspace {name!r}; 'tessera workspace list' shows the registered ones")
    return workspace_config(config, entry)


def queue_name(workspace_name: str | None) -> str:
    """Each workspace's jobs run on their own RQ queue."""
    return "tessera" if not workspace_name or workspace_name == "default" else f"tessera-{workspace_name}"


def _default_database(config: Config, name: str) -> tuple[str, str | None]:
    """A database URL next to the default one, and the PostgreSQL database to create."""
    url = sa.make_url(config.database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    if url.get_backend_name() == "sqlite":
        path = (config.instance_path / "workspaces" / name / "tessera.db").resolve()
        return f"sqlite:///{path}", None
    if url.get_backend_name() == "postgresql" and url.database:
        database = f"{url.database}_{name}"
        url = url.difference_update_query(["options"]).set(database=database)  # options: a search_path
        return url.render_as_string(hide_password=False), database
    raise TesseraError("give the new workspace's database with --database-url")


def _create_postgres_database(config: Config, database: str) -> bool:
    """Create ``database`` on the default database's server; False when it already exists."""
    engine = create_db_engine(config.database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}).scalar()
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
            return not exists
    finally:
        engine.dispose()


def _drop_postgres_database(config: Config, database: str) -> None:
    engine = create_db_engine(config.database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    finally:
        engine.dispose()


def _write_registry(config: Config, entries: dict[str, WorkspaceEntry]) -> None:
    path = registry_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".yaml.partial")
    partial.write_text(yaml.safe_dump({n: e.as_yaml() for n, e in entries.items()}, sort_keys=True), encoding="utf-8")
    os.replace(partial, path)  # readers see the old file or the new one, never half of it


def validate_new(config: Config, name: str, hosts: tuple[str, ...], database_url: str | None) -> tuple[str, ...]:
    """Checked, normalised host names for a new workspace ``name``; raises a one-line error."""
    if not NAME.match(name) or name == "default":
        raise TesseraError(f"workspace name {name!r}: use lower-case letters, digits and _ (not 'default')")
    if not hosts:
        raise TesseraError("give the host name the workspace is served at with --host")
    normalised = tuple(h.strip().lower().rstrip(".") for h in hosts)
    for host in normalised:
        if not HOST.match(host):
            raise TesseraError(f"{host!r} is not a host name")
    entries = read_registry(config)
    if name in entries:
        raise TesseraError(f"workspace {name!r} exists already")
    taken = {h: e.name for e in entries.values() for h in e.hosts}
    for host in normalised:
        if host in taken:
            raise TesseraError(f"host {host!r} already serves workspace {taken[host]!r}")
    used = {config.database_url, *(e.database_url for e in entries.values())}
    if database_url is not None and database_url in used:
        raise TesseraError("that database already holds a workspace; each workspace needs its own")
    return normalised


def create_workspace(
    config: Config,
    name: str,
    hosts: tuple[str, ...],
    database_url: str | None = None,
    packs: tuple[str, ...] | None = None,
    admin: tuple[str, str] | None = None,
) -> tuple[WorkspaceEntry, Any]:
    """Register a new workspace: its database created and installed (with ``admin``, an
    (e-mail, password) administrator), then the registry written.

    Returns the entry and the installed ``Workspace`` (the caller closes it). A failure
    leaves the registry as it was and removes a database this call created."""
    from engine.security.users import create_user, ensure_roles
    from engine.workspace import Workspace

    hosts = validate_new(config, name, hosts, database_url)
    created_pg: str | None = None
    if database_url is None:
        database_url, database = _default_database(config, name)
        if database is not None and _create_postgres_database(config, database):
            created_pg = database
    entry = WorkspaceEntry(name, hosts, database_url, packs)
    ws_config = workspace_config(config, entry)
    sqlite_file = _sqlite_file(database_url)
    fresh_file = sqlite_file is not None and not sqlite_file.exists()
    try:
        if sqlite_file is not None:
            sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        ws = Workspace(ws_config)
        try:
            ws.install()
            ensure_roles(ws)
            if admin is not None:
                create_user(ws, admin[0], admin[0].split("@")[0], admin[1], ["admin"])
        except BaseException:
            ws.close()
            raise
        entries = read_registry(config)
        entries[name] = entry
        _write_registry(config, entries)
    except BaseException:
        if created_pg:
            _drop_postgres_database(config, created_pg)
        if fresh_file and sqlite_file is not None:
            sqlite_file.unlink(missing_ok=True)
        raise
    return entry, ws


def _sqlite_file(database_url: str) -> Path | None:
    url = sa.make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)
