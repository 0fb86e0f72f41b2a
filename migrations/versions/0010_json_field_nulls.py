"""Null values of json and multi_enum fields become SQL NULL (``engine.storage.migrate``).

Before this revision such a field sent as null was stored as the JSON text ``null``, which
``field == null`` does not find; field columns now store SQL NULL, and this turns the
values stored before into it. It reads every JSON column of the entity tables once.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 18:00:00.000000
"""

from alembic import op

from engine.storage.migrate import clear_json_nulls

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    clear_json_nulls(op.get_bind())


def downgrade() -> None:
    pass  # SQL NULL is what a null field holds in every revision; nothing to undo
