"""The engine's Alembic revisions create exactly the tables ``system_tables.py`` declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine.storage.database import create_db_engine, write_transaction
from engine.storage.migrate import upgrade_system_tables
from engine.storage.system_tables import system_metadata


def test_alembic_head_matches_the_declared_system_tables(database_url):
    engine = create_db_engine(database_url)
    with write_transaction(engine) as conn:
        upgrade_system_tables(conn)
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _: kind != "table" or name in system_metadata.tables,
            },
        )
        assert compare_metadata(context, system_metadata) == []
    engine.dispose()
