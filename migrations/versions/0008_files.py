"""Uploaded files: one row per upload into a record's file field (engine.files).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 01:30:00.000000
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tessera_file',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('field', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('content_type', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('tessera_file', schema=None) as batch_op:
        batch_op.create_index('ix_tessera_file_record', ['entity', 'record_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tessera_file', schema=None) as batch_op:
        batch_op.drop_index('ix_tessera_file_record')

    op.drop_table('tessera_file')
