"""One SQLAlchemy engine per workspace database, with the same behaviour on every backend.

SQLite needs help to behave like PostgreSQL: real transactions around DDL (pysqlite's
legacy transaction handling would commit implicitly), ``BEGIN IMMEDIATE`` for writes (so
two writers queue instead of failing to upgrade a read lock), WAL, a busy timeout and
foreign keys switched on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

WRITE = "tessera_write"
NO_FK = "tessera_no_fk"
HELD = "tessera_held"


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    sa_url = sa.make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        memory = sa_url.database in (None, "", ":memory:")
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        if memory:
            kwargs.setdefault("poolclass", sa.pool.StaticPool)
        engine = sa.create_engine(sa_url, **kwargs)
        _sqlite_behaviour(engine, wal=not memory)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return sa.create_engine(sa_url, **kwargs)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _sqlite_behaviour(engine: Engine, wal: bool) -> None:
    @sa.event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        # Unicode-aware case folding, as PostgreSQL and Python have it (the DSL uses these)
        dbapi_connection.create_function("tessera_lower", 1, _lower, deterministic=True)
        dbapi_connection.create_function("tessera_upper", 1, _upper, deterministic=True)
        cursor = dbapi_connection.cursor()
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        if options.get(NO_FK):  # schema changes rebuild tables: foreign keys off until checkin
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.info["tessera_fk_off"] = True
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITE) else "BEGIN")

    @sa.event.listens_for(engine, "checkin")
    def on_checkin(dbapi_connection: Any, record: Any) -> None:
        if record.info.pop("tessera_fk_off", False):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()


# --- rows the transaction holds ------------------------------------------------------
# A record row this transaction has locked (written, or read ``FOR UPDATE``) cannot change
# under it, so its current columns can be kept instead of read again before the next write
# of the same row (an escalation writes one ticket three times). The data-access layer
# keeps them (``Records._apply_update``, the timer batch) and forgets a row it deletes; the
# whole map is dropped when the transaction ends and when a savepoint is rolled back, as
# the rows may then stand as before.


def held_row(conn: Connection, entity: str, record_id: str) -> dict[str, Any] | None:
    """A copy of the row's columns as this transaction left them (None: read it)."""
    row = conn.info.get(HELD, {}).get((entity, record_id))
    return None if row is None else dict(row)


def hold_row(conn: Connection, entity: str, record_id: str, row: dict[str, Any]) -> None:
    """Keep the columns of a row this transaction has locked, as they now stand."""
    conn.info.setdefault(HELD, {})[(entity, record_id)] = dict(row)


def release_rows(conn: Connection, entity: str, record_ids: list[str]) -> None:
    """Forget rows changed other than by :func:`hold_row`'s callers (deleted, blanked)."""
    held = conn.info.get(HELD) or {}
    for record_id in record_ids:
        held.pop((entity, record_id), None)


def live_info(conn: Connection) -> dict[Any, Any] | None:
    """``conn.info``, or None when the connection was cut (invalidated) or closed: its info
    went with it, and reading ``conn.info`` then would try to reconnect inside a transaction
    that is still to be rolled back (a ``PendingRollbackError`` instead of the real error)."""
    return None if conn.invalidated or conn.closed else conn.info


def _forget_held(conn: Connection, *_args: Any) -> None:
    info = live_info(conn)
    if info is not None:
        info.pop(HELD, None)


for _event in ("commit", "rollback", "rollback_savepoint"):
    sa.event.listen(Engine, _event, _forget_held)


@sa.event.listens_for(sa.pool.Pool, "checkin")
def _forget_held_on_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info.pop(HELD, None)


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def write_transaction(engine: Engine, *, foreign_keys: bool = True) -> Iterator[Connection]:
    """A transaction meant to write: serialised early on SQLite, committed on success."""
    options: dict[str, Any] = {WRITE: True}
    if not foreign_keys:
        options[NO_FK] = True
    with engine.connect().execution_options(**options) as conn:
        try:
            with conn.begin():
                yield conn
        except BaseException:
            conn.info.pop("after_commit", None)
            raise
        # callbacks registered during the transaction (automation wakes its dispatcher)
        for hooks in conn.info.pop("after_commit", []):
            for hook in hooks:
                hook()


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


def advisory_lock(conn: Connection, name: str) -> None:
    """Serialise schema changes across processes (PostgreSQL; SQLite's write lock suffices)."""
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


@contextmanager
def friendly_db_errors() -> Iterator[None]:
    """Turn database failures into one clear sentence for the CLI: a server that cannot be
    reached, a wrong password, a file at the SQLite path that is not a database."""
    from engine.errors import TesseraError

    try:
        yield
    except sa.exc.DatabaseError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        if reason == "unable to open database file":  # SQLite does not say which, nor why
            reason += " (does the folder of the SQLite file in TESSERA_DATABASE_URL exist, and may this user write it?)"
        raise TesseraError(f"cannot use the database: {reason}") from None
    except sa.exc.ArgumentError as exc:
        raise TesseraError(f"TESSERA_DATABASE_URL is not a valid database URL: {exc}") from None
