"""Alembic environment for the engine's own ``tessera_*`` tables.

Entity tables are not managed here: they follow the metadata (``engine.storage.migrate``).
The engine runs these migrations itself (``tessera init``/``migrate``), handing over an
open connection through ``config.attributes["connection"]``.
"""

from alembic import context

from engine.storage.system_tables import system_metadata

config = context.config


def include_name(name, type_, parent_names):
    if type_ == "table":
        return name in system_metadata.tables
    return True


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        from engine.config import load_config
        from engine.storage.database import create_db_engine

        engine = create_db_engine(load_config().database_url)
        with engine.begin() as conn:
            _run(conn)
        return
    _run(connection)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=system_metadata,
        include_name=include_name,
        render_as_batch=True,
        version_table="tessera_alembic_version",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
