"""Installed test databases, copied instead of installed again.

Installing every shipped pack creates some 70 tables and 500 indexes: over a second on
SQLite, several on a busy PostgreSQL. Most tests want exactly such a fresh database with
the demo roles' users, so each test worker installs one *template* per pack set and
configuration, and every test gets a copy: the SQLite file copied, a PostgreSQL database
made with ``CREATE DATABASE ... TEMPLATE`` (a tenth of a second). The template is built by
the same ``Workspace.install`` a test would run, so the install path stays tested.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

Build = Callable[[str], None]  # installs into the database at the URL


def _worker() -> str:
    """This worker, unique among the test runs sharing the server: two runs at once (CI and a
    developer's) each have a ``gw0``, and one would drop the other's templates."""
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


class Templates:
    """One worker's template databases (SQLite files under ``folder``, PostgreSQL databases
    named ``tpl_WORKER_PID_KEY`` on the server of ``pg_url``)."""

    def __init__(self, folder: Path, pg_url: str | None):
        self.folder, self.pg_url = folder, pg_url
        self.sqlite: dict[str, Path] = {}
        self.postgres: dict[str, str] = {}

    @staticmethod
    def key(*parts: object) -> str:
        return hashlib.blake2b(repr(parts).encode(), digest_size=6).hexdigest()

    # --- SQLite ---------------------------------------------------------------------
    def sqlite_copy(self, key: str, target: Path, build: Build) -> str:
        template = self.sqlite.get(key)
        if template is None:
            template = self.folder / f"template_{key}.db"
            build(f"sqlite:///{template}")
            engine = sa.create_engine(f"sqlite:///{template}")
            with engine.connect() as conn:  # everything in the main file, no WAL beside it
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            self.sqlite[key] = template
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"

    # --- PostgreSQL -----------------------------------------------------------------
    def _admin(self) -> sa.Engine:
        assert self.pg_url is not None
        return sa.create_engine(self.pg_url, isolation_level="AUTOCOMMIT")

    def _url(self, database: str) -> str:
        assert self.pg_url is not None
        return sa.make_url(self.pg_url).set(database=database).render_as_string(hide_password=False)

    @contextmanager
    def postgres_copy(self, key: str, build: Build) -> Iterator[str]:
        template = self.postgres.get(key)
        admin = self._admin()
        try:
            if template is None:
                template = f"tpl_{_worker()}_{key}"
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
                    conn.execute(sa.text(f'CREATE DATABASE "{template}"'))
                build(self._url(template))  # the builder disposes its engine: no session stays
                self.postgres[key] = template
            copy = f"t_{uuid.uuid4().hex[:16]}"
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{copy}" TEMPLATE "{template}"'))
            yield self._url(copy)
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'))
        finally:
            admin.dispose()

    def drop_all(self) -> None:
        if not self.postgres:
            return
        admin = self._admin()
        with admin.connect() as conn:
            for template in self.postgres.values():
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)'))
        admin.dispose()
