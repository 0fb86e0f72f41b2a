"""Duplicate rules' match keys and the signing secrets of inbound capture hooks.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tessera_match_key',
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('value', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('entity', 'field', 'kind', 'record_id')
    )
    with op.batch_alter_table('tessera_match_key', schema=None) as batch_op:
        batch_op.create_index('ix_tessera_match_key_value', ['kind', 'value'], unique=False)

    op.create_table('tessera_match_key_state',
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('built_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('entity', 'field', 'kind')
    )
    op.create_table('tessera_hook_secret',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('secret', sa.Text(), nullable=False),
    sa.Column('set_at', sa.DateTime(), nullable=False),
    sa.Column('set_by', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('tessera_hook_secret')
    op.drop_table('tessera_match_key_state')
    with op.batch_alter_table('tessera_match_key', schema=None) as batch_op:
        batch_op.drop_index('ix_tessera_match_key_value')

    op.drop_table('tessera_match_key')
