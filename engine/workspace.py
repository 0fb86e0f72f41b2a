"""A workspace: one database, the packs installed in it and its run-time overlays.

Nothing here is process-global: the app factory builds one ``Workspace`` per database, and
two workspaces with different metadata can live side by side (tests rely on it).

Every request works on a ``Snapshot``: the metadata, tables and input schemas in force
when it started. Overlays bump a version row; each process compares it (at most every
``meta_check_interval`` seconds) and rebuilds its snapshot when it changed, so overlays
take effect everywhere without a restart.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from marshmallow import Schema

from engine.automation.model import Automation
from engine.config import Config
from engine.dashboard_cache import close_for as close_dashboards
from engine.dsl import Expression, compile_expression, default_functions
from engine.dsl.functions import FunctionRegistry
from engine.errors import NotFound
from engine.meta.catalog import Catalog, Overlay
from engine.meta.model import EntityDef
from engine.meta.packs import Pack, builtin_pack_roots, discover, resolve
from engine.meta.problems import Problems
from engine.metadata_cache import compile_metadata
from engine.plugins import install as install_plugins
from engine.security.auth import Authenticator
from engine.security.permissions import PermissionPolicy
from engine.settling import thaw
from engine.storage import system_tables as st
from engine.storage.database import create_db_engine, read_transaction, write_transaction
from engine.storage.expressions import EntityExpressions, compile_entity
from engine.storage.migrate import Plan, migrate, upgrade_system_tables
from engine.storage.tables import Tables
from engine.storage.validation import build_schema


@dataclass
class Snapshot:
    """The metadata in force for one request."""

    version: int
    catalog: Catalog
    tables: Tables
    functions: FunctionRegistry = field(default_factory=default_functions)
    automation: Automation = field(default_factory=Automation)

    _schemas: dict[str, Schema] = field(default_factory=dict, repr=False)
    _expressions: dict[str, EntityExpressions] = field(default_factory=dict, repr=False)
    _filters: dict[tuple[str, str, int], tuple[Catalog, Expression]] = field(default_factory=dict, repr=False)
    #: derived documents (OpenAPI) cached for the life of this metadata version
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def expressions(self, entity: str) -> EntityExpressions:
        compiled = self._expressions.get(entity)
        if compiled is None:
            compiled = self._expressions[entity] = compile_entity(
                self.catalog.entities[entity], self.catalog, self.functions
            )
        return compiled

    def filter_expression(
        self, entity: EntityDef, source: str, where: str = "filter", access: Any = None
    ) -> Expression:
        """A condition over ``entity`` that must compile to SQL (list filters); cached. With
        ``access`` (an actor's, :class:`engine.security.permissions.Access`) it compiles over
        what the actor may read, so a hidden field is unknown, in messages too."""
        catalog = self.catalog if access is None else access.visible_catalog()
        key = (entity.name, source, id(catalog))
        cached = self._filters.get(key)
        if cached is None or cached[0] is not catalog:  # the id of a catalog since freed
            expr = compile_expression(
                source,
                catalog.entities.get(entity.name, entity),
                catalog,
                functions=self.functions,
                where=where,
                sql=True,
                expect="bool",
            )
            if len(self._filters) > 2000:
                self._filters.clear()
            cached = self._filters[key] = (catalog, expr)
        return cached[1]

    def input_schema(self, entity: str, system: bool = False) -> Schema:
        """Client input (``system``: automation, which may set read-only fields)."""
        key = f"{entity}:system" if system else entity
        schema = self._schemas.get(key)
        if schema is None:
            schema = self._schemas[key] = build_schema(self.catalog.entities[entity], self.catalog, system=system)
        return schema

    def api_entity(self, name: str) -> EntityDef:
        entity = self.catalog.entities.get(name)
        if entity is None or entity.child:
            raise NotFound(f"There is no entity {name!r}")
        return entity


def load_packs(config: Config, problems: Problems) -> list[Pack]:
    roots = [*builtin_pack_roots(), *config.extra_pack_paths]
    return resolve(discover(roots, problems), config.packs, problems)


class Workspace:
    def __init__(
        self,
        config: Config,
        name: str = "default",
        meta_check_interval: float = 1.0,
        functions: FunctionRegistry | None = None,
    ):
        self.config = config
        self.name = name
        install_plugins()  # once per process: plugins' actions, channels and jobs
        #: DSL functions: the standard library plus what plugins registered
        self.functions = functions or default_functions()
        self.db = create_db_engine(config.database_url)
        self.meta_check_interval = meta_check_interval
        problems = Problems()
        self.packs = load_packs(config, problems)
        problems.raise_if_any("The installed packs are invalid")
        # start-up refuses invalid packs with the same messages as 'tessera check'
        compile_metadata(self.packs, (), self.functions, "The installed packs are invalid")
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self.auth = Authenticator(self, config.token_ttl)
        self.permissions = PermissionPolicy()
        #: the job runner doing this workspace's due work in this process, if one runs here
        #: (``engine.automation.jobs``); None in tests and one-off commands
        self.jobs_runner: Any = None

    # --- metadata ---------------------------------------------------------------
    def build_snapshot(self, version: int, overlays: tuple[Overlay, ...]) -> Snapshot:
        compiled = compile_metadata(self.packs, overlays, self.functions, "The metadata with overlays is invalid")
        return Snapshot(version, compiled.catalog, compiled.tables, self.functions, compiled.automation)

    def _read_state(self, conn: sa.Connection) -> int:
        return conn.execute(sa.select(st.meta_state.c.version).where(st.meta_state.c.id == 1)).scalar() or 0

    def _read_overlays(self, conn: sa.Connection) -> tuple[Overlay, ...]:
        rows = conn.execute(
            sa.select(st.overlay)
            .where(st.overlay.c.disabled.is_(False))
            .order_by(st.overlay.c.created_at, st.overlay.c.id)
        )
        return tuple(Overlay(r.id, r.kind, r.target, r.document) for r in rows)

    def snapshot(self) -> Snapshot:
        """The current metadata; re-read when another process changed it."""
        now = time.monotonic()
        current = self._snapshot
        if current is not None and now - self._checked_at < self.meta_check_interval:
            return current
        with self._lock:
            with read_transaction(self.db) as conn:
                version = self._read_state(conn)
                if self._snapshot is None or self._snapshot.version != version:
                    if self._snapshot is not None:
                        thaw()  # the old snapshot may have been frozen with the process: free it
                    self._snapshot = self.build_snapshot(version, self._read_overlays(conn))
            self._checked_at = time.monotonic()
            return self._snapshot

    def reload(self) -> Snapshot:
        self._checked_at = float("-inf")  # re-read now, whatever the check interval
        return self.snapshot()

    def bump_version(self, conn: sa.Connection) -> int:
        version = self._read_state(conn) + 1
        now = dt.datetime.now(dt.UTC)
        updated = conn.execute(
            st.meta_state.update().where(st.meta_state.c.id == 1).values(version=version, changed_at=now)
        )
        if updated.rowcount == 0:
            conn.execute(st.meta_state.insert().values(id=1, version=version, changed_at=now))
        return version

    # --- installation -----------------------------------------------------------
    def install(self, destructive: str = "skip", dry_run: bool = False) -> Plan:
        """Create or upgrade the system tables and bring entity tables to the metadata."""
        with write_transaction(self.db, foreign_keys=False) as conn:
            upgrade_system_tables(conn)
            overlays = self._read_overlays(conn)
            snap = self.build_snapshot(self._read_state(conn), overlays)
            plan = migrate(conn, snap.tables, destructive=destructive, dry_run=dry_run)
            if self._read_state(conn) == 0 and not dry_run:
                self.bump_version(conn)
        if self._snapshot is not None:
            thaw()
        self._snapshot = None
        return plan

    def is_installed(self) -> bool:
        return sa.inspect(self.db).has_table(st.meta_state.name)

    @property
    def records(self):  # -> Records (import here keeps module load order simple)
        from engine.storage.records import Records

        if not hasattr(self, "_records"):
            self._records = Records(self)
        return self._records

    def wake_jobs(self) -> None:
        """New outbox rows or timers were committed: let this process's job runner look now."""
        runner = self.jobs_runner
        if runner is not None:
            runner.wake()

    def instance_file(self, name: str) -> Path:
        self.config.instance_path.mkdir(parents=True, exist_ok=True)
        return self.config.instance_path / name

    def close(self) -> None:
        """Stop this process's job runner and dashboard threads (they use the pool), then
        close the pool."""
        runner = self.jobs_runner
        if runner is not None:
            runner.stop()
        close_dashboards(self)
        self.db.dispose()
